"""The dashboard's plain-SQL reads show what the ORM selectors show."""

import datetime as dt

from dashboard.selectors import granted_members
from family.models import LinkStatus, Relationship
from payments.selectors import contributions_for, latest_contributions
from tests.conftest import make_member
from tests.dashboard.helpers import contribution, contributions, link, months


def test_latest_contributions_are_contributions_for_in_one_plain_query(
    alice, bob, django_assert_num_queries
):
    contributions(alice, months(8))
    contribution(alice, dt.date(2025, 12, 1), status="refunded")  # December refunded...
    contribution(alice, dt.date(2025, 12, 1))  # ...and paid again: two records that month
    contribution(alice, dt.date(2026, 1, 1), status="arrears")
    contribution(bob, dt.date(2026, 1, 1))  # someone else's: never shown

    with django_assert_num_queries(1):
        lines = latest_contributions(alice, limit=5)

    full = contributions_for(alice, limit=5)
    assert [c.id for c in lines] == [c.pk for c in full]
    for line, c in zip(lines, full, strict=True):
        assert (line.period, line.employer_fen, line.individual_fen, line.credited_fen) == (
            c.period,
            c.employer_fen,
            c.individual_fen,
            c.credited_fen,
        )
        assert (line.status, line.get_status_display()) == (c.status, c.get_status_display())


def test_granted_members_are_the_approved_links_by_name(alice, django_assert_num_queries):
    zoe = make_member("Zoe", birth=dt.date(1960, 1, 1), seq=41)
    ann = make_member("Ann", birth=dt.date(1961, 1, 1), seq=43)
    pending = make_member("Pat", birth=dt.date(1962, 1, 1), seq=45)
    # alice is Zoe's child (the flow checks the birth dates say so)
    link(zoe, alice, relationship="child", balance=True, records=False, pay=True)
    link(ann, alice, relationship="spouse", balance=False, records=True)
    link(pending, alice, status=LinkStatus.PENDING)
    link(alice, zoe)  # alice granting zoe: not a card on alice's dashboard

    # nobody granted pat anything: one probe, no cards
    with django_assert_num_queries(1):
        assert granted_members(pending) == []
    # the probe, then the links in effect with both persons
    with django_assert_num_queries(2):
        cards = granted_members(alice)

    assert [(c.member_id, c.member_name) for c in cards] == [(ann.pk, "Ann"), (zoe.pk, "Zoe")]
    assert [(c.scope_balance, c.scope_records, c.scope_pay) for c in cards] == [
        (False, True, False),
        (True, False, True),
    ]
    assert [c.relationship for c in cards] == ["spouse", "child"]
    assert cards[1].get_relationship_display() == str(Relationship.CHILD.label)


def test_record_rows_are_contributions_for_in_one_plain_query(
    alice, bob, django_assert_num_queries
):
    from payments.selectors import record_rows

    contributions(alice, months(30))
    contribution(alice, dt.date(2025, 12, 1), status="refunded")
    contribution(alice, dt.date(2025, 12, 1))  # two records that month
    contribution(alice, dt.date(2026, 1, 1), status="arrears")
    contribution(bob, dt.date(2026, 1, 1))  # someone else's: never shown

    with django_assert_num_queries(1):
        first = record_rows(alice, limit=7)
    after = (first[-1].period, first[-1].id)
    cases = [
        (first, contributions_for(alice, limit=7)),
        (record_rows(alice, after=after, limit=50), contributions_for(alice, after=after)),
        (record_rows(alice, year=2025), contributions_for(alice, year=2025)),
        (record_rows(alice, status="arrears"), contributions_for(alice, status="arrears")),
    ]
    for rows, full in cases:
        assert [r.pk for r in rows] == [c.pk for c in full]
        for r, c in zip(rows, full, strict=True):
            assert (r.period, r.base_fen, r.employer_fen, r.individual_fen, r.credited_fen) == (
                c.period,
                c.base_fen,
                c.employer_fen,
                c.individual_fen,
                c.credited_fen,
            )
            assert (r.payer, r.paid_on, r.status) == (c.payer, c.paid_on, c.status)
    assert len(first) + len(cases[1][0]) == len(contributions_for(alice, limit=1000))


def test_contribution_history_is_the_aggregate_in_one_plain_query(
    alice, bob, django_assert_num_queries
):
    from django.db.models import Count, Max, Min, Q

    from payments.models import Contribution
    from payments.selectors import contribution_history

    with django_assert_num_queries(1):
        empty = contribution_history(alice)
    assert (empty.months_paid, empty.first_paid, empty.last_paid, empty.months_in_arrears) == (
        0,
        None,
        None,
        0,
    )

    contributions(alice, months(14))
    contribution(alice, dt.date(2025, 12, 1), status="refunded")
    contribution(alice, dt.date(2026, 1, 1), status="arrears")
    contribution(alice, dt.date(2026, 2, 1), status="arrears")
    contribution(bob, dt.date(2026, 3, 1))  # someone else's

    with django_assert_num_queries(1):
        history = contribution_history(alice)

    want = Contribution.objects.filter(person=alice).aggregate(
        months_paid=Count("id", filter=Q(status="paid")),
        first_paid=Min("period", filter=Q(status="paid")),
        last_paid=Max("period", filter=Q(status="paid")),
        months_in_arrears=Count("id", filter=Q(status="arrears")),
    )
    got = {k: getattr(history, k) for k in want}
    assert got == want
    assert history.months_in_arrears == 2 and history.months_paid > 0
