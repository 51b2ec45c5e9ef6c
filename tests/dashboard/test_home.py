"""The signed-in home: the balance first, the owner's identity number masked
behind a "show" control, place names instead of region codes; staff see every
staff tool."""

from __future__ import annotations


def test_a_member_home_leads_with_the_balance_and_masks_the_number(alice, client_for):
    body = client_for(alice).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert body.index('data-testid="balance"') < body.index('data-testid="insurance-card"')
    masked = f'<span data-testid="id-number">{alice.masked_id_number}</span>'
    assert masked in body
    # The full number is there for its owner, folded away until asked for.
    assert body.index("<summary>Show the full number</summary>") < body.index(alice.id_number)
    assert 'data-testid="insured-region">北京市朝阳区<' in body
    assert ">110105<" not in body


def test_staff_home_links_every_staff_tool(staff, client_for):
    body = client_for(staff).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for href in (
        "/family/review/",
        "/family/counter/",
        "/payments/import/",
        "/staff/settlement/",
        "/staff/settlement/totals/",
        "/admin/",
    ):
        assert f'href="{href}"' in body, href


def test_a_balance_only_relative_is_shown_no_tab_that_would_fail(alice, bob, client_for):
    from tests.dashboard.helpers import link

    link(alice, bob, balance=True, records=False)
    relative = client_for(bob)

    page = relative.get(f"/dashboard/{alice.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Overview" in page
    for tab in ("/dashboard/records/", "/dashboard/summary/", "/dashboard/certificate/"):
        assert f'href="{tab}?person={alice.pk}"' not in page
        # ... and the pages it would have led to are indeed refused
        assert relative.get(f"{tab}?person={alice.pk}").status_code == 404


def test_a_records_relative_is_shown_the_records_tabs(alice, bob, client_for):
    from tests.dashboard.helpers import link

    link(alice, bob, balance=False, records=True)
    relative = client_for(bob)

    page = relative.get(f"/dashboard/{alice.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for tab in ("/dashboard/records/", "/dashboard/summary/", "/dashboard/certificate/"):
        assert f'href="{tab}?person={alice.pk}"' in page
        assert relative.get(f"{tab}?person={alice.pk}").status_code == 200


def test_the_home_gives_cumulative_months_and_whether_contributions_are_up_to_date(
    alice, client_for
):
    import datetime as dt

    from tests.dashboard.helpers import contribution, contributions, months

    contributions(alice, months(14, last=dt.date(2025, 12, 1)))
    member = client_for(alice)

    page = member.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert (
        'data-testid="contribution-history">14 months (1 years 2 months), from 2024-11 to 2025-12<'
    ) in page
    assert "Up to date" in page

    contribution(alice, dt.date(2026, 1, 1), status="arrears")
    page = member.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Months in arrears: 1" in page
