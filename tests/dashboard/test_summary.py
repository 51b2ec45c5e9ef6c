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
    # March and April bars carry 880 yuan each; the data table says so too.
    assert body.count('<td class="num">880.00</td>') == 2


def test_summary_for_a_relative_has_no_deduction_section(alice, bob, client_for):
    link(alice, bob, records=True)
    body = client_for(bob).get(f"/dashboard/summary/?person={alice.pk}").content.decode()
    assert 'data-testid="deduction"' not in body
