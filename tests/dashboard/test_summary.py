import datetime as dt

from dashboard.selectors import claimable_people
from tests.conftest import make_member
from tests.dashboard.helpers import contribution, link


def test_claimable_people_are_self_spouse_and_minor_children(alice, bob):
    minor = make_member("Kid", birth=dt.date(2010, 5, 1), seq=31, signs_in=False)
    adult = make_member("Grown", birth=dt.date(2000, 5, 1), seq=33, signs_in=False)
    turns_18 = make_member("Eighteen", birth=dt.date(2007, 12, 31), seq=35, signs_in=False)
    parent = make_member("Parent", birth=dt.date(1955, 5, 1), seq=37, signs_in=False)
    link(alice, bob, relationship="spouse")
    link(alice, minor, relationship="child")
    link(adult, alice, relationship="parent")  # alice is Grown's parent
    link(alice, turns_18, relationship="child")
    link(alice, parent, relationship="parent")

    people = claimable_people(alice, 2025)

    assert [(c.person.name, c.relation) for c in people] == [
        ("Alice", "self"),
        ("Bob", "spouse"),
        ("Kid", "child"),
    ]
    # In 2024 the one born on 31 Dec 2007 was still 17 on the last day.
    assert "Eighteen" in [c.person.name for c in claimable_people(alice, 2024)]


def test_summary_shows_deduction_rows_and_accessible_charts(alice, bob, client_for):
    link(alice, bob, relationship="spouse", records=False)
    contribution(alice, dt.date(2025, 3, 1))
    contribution(alice, dt.date(2025, 4, 1))

    body = client_for(alice).get("/dashboard/summary/?year=2025").content.decode()

    assert body.count('data-testid="deduction-row"') == 2
    assert "Bob" in body
    assert 'role="img"' in body
    assert '<title id="chart-contrib-title">' in body
    # March and April bars carry 880 yuan each, written at the bar's end; the
    # data table says so too.
    assert body.count('class="chart-value">¥880.00</text>') == 2
    assert body.count('<td class="num">¥880.00</td>') == 2
    # The year's contributions as numbers, own and employer's share apart.
    assert 'data-testid="contrib-months">2<' in body
    assert 'data-testid="contrib-own">¥320.00<' in body
    assert 'data-testid="contrib-employer">¥1,440.00<' in body
    assert 'data-testid="contrib-credited">¥320.00<' in body


def test_a_year_without_expenses_says_so_instead_of_drawing_an_empty_axis(alice, client_for):
    contribution(alice, dt.date(2025, 3, 1))

    body = (
        client_for(alice)
        .get("/dashboard/summary/?year=2025", HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )

    assert 'data-testid="chart-spend-empty">No medical expenses in 2025.<' in body
    assert '<title id="chart-spend-title">' not in body
    assert '<title id="chart-contrib-title">' in body


def test_a_year_without_contributions_says_so(alice, client_for):
    body = (
        client_for(alice)
        .get("/dashboard/summary/?year=2024", HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )

    assert 'data-testid="contrib-none">No contributions were paid in 2024.<' in body
    assert 'data-testid="chart-contrib-empty"' in body


def test_summary_for_a_relative_has_no_deduction_section(alice, bob, client_for):
    link(alice, bob, records=True)
    body = client_for(bob).get(f"/dashboard/summary/?person={alice.pk}").content.decode()
    assert 'data-testid="deduction"' not in body
