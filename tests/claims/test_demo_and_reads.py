"""The demo seed, and the member-facing reads other pages use."""

import datetime as dt

import pytest
from django.core.management import call_command

from accounts.selectors import ledger_offenders
from claims import demo
from claims.models import Expense, SettlementBatch
from claims.selectors import (
    expenses_for,
    keyset,
    latest_expenses,
    monthly_totals,
    totals_by_care_type,
    yearly_totals,
)
from claims.services import LineInput, expense_reverse, expense_submit
from members import demo as members_demo

from .conftest import fund


def test_the_demo_seed_is_idempotent_settled_and_the_ledger_is_clean(db):
    members_demo.seed()
    demo.seed()
    counts = (Expense.objects.count(), SettlementBatch.objects.count())

    demo.seed()

    assert (Expense.objects.count(), SettlementBatch.objects.count()) == counts
    assert counts == (len(demo.EXPENSES), 2)
    assert not Expense.objects.filter(settlement_entries__isnull=True, fund_fen__gt=0).exists()
    assert ledger_offenders().clean
    call_command("verify_ledger")


def _expense(inst, person, key, day, care="outpatient", lines=None):
    return expense_submit(
        institution=inst,
        idempotency_key=key,
        patient_id_number=person.id_number,
        service_date=dt.date.fromisoformat(day),
        care_type=care,
        lines=lines or [LineInput("A", 300000)],
    )[0]


@pytest.mark.usefixtures("policies")
def test_expenses_for_pages_newest_first_with_flat_queries(
    alice, hospital, django_assert_max_num_queries
):
    days = ["2026-01-05", "2026-02-10", "2026-02-10", "2026-03-01", "2025-12-30"]
    made = [_expense(hospital, alice, f"k{i}", d) for i, d in enumerate(days)]

    with django_assert_max_num_queries(3):
        first = expenses_for(alice, limit=2)
        _ = [(p.reason, p.grantor) for e in first for p in e.parts.all()]
    second = expenses_for(alice, after=keyset(first[-1]), limit=2)
    only_2025 = expenses_for(alice, year=2025)

    assert [e.pk for e in first] == [made[3].pk, made[2].pk]
    assert [e.pk for e in second] == [made[1].pk, made[0].pk]
    assert [e.pk for e in only_2025] == [made[4].pk]


@pytest.mark.usefixtures("policies")
def test_latest_expenses_are_expenses_for_in_one_plain_query(
    alice, bob, hospital, pharmacy, django_assert_num_queries
):
    fund(alice, current=100000)
    days = ["2026-01-05", "2026-02-10", "2026-02-10", "2026-03-01", "2025-12-30", "2026-03-02"]
    made = [
        _expense(pharmacy, alice, f"k{i}", d, care="pharmacy")
        if i % 2
        else _expense(hospital, alice, f"k{i}", d)
        for i, d in enumerate(days)
    ]
    _expense(hospital, bob, "bob", "2026-03-05")  # someone else's: never shown
    expense_reverse(institution=pharmacy, expense_id=made[1].pk, reason="refund")

    with django_assert_num_queries(1):
        lines = latest_expenses(alice, limit=5)

    full = expenses_for(alice, limit=5)
    assert [line.id for line in lines] == [e.pk for e in full]
    for line, e in zip(lines, full, strict=True):
        assert (line.service_date, line.institution_name, line.status) == (
            e.service_date,
            e.institution.name,
            e.status,
        )
        assert (line.total_fen, line.fund_fen, line.account_fen, line.cash_fen) == (
            e.total_fen,
            e.fund_fen,
            e.account_fen,
            e.cash_fen,
        )


@pytest.mark.usefixtures("policies")
def test_yearly_monthly_and_care_type_totals_skip_reversed_expenses(alice, hospital):
    fund(alice, current=100000)
    a = _expense(hospital, alice, "a", "2026-01-05")  # 3,000.00
    _expense(
        hospital, alice, "b", "2026-02-10", lines=[LineInput("A", 100000), LineInput("self", 5000)]
    )
    c = _expense(hospital, alice, "c", "2026-02-11", "inpatient", [LineInput("A", 200000)])
    expense_reverse(institution=hospital, expense_id=c.pk)

    totals = yearly_totals(alice, 2026)
    months = monthly_totals(alice, 2026)

    # a: deductible 1,800 + copay 360 self-borne, fund 840; b: copay 300, fund 700
    assert totals == {
        "count": 2,
        "total_fen": 405000,
        "fund_fen": 84000 + 70000,
        "account_fen": 100000,
        "cash_fen": 405000 - 154000 - 100000,
        "self_borne_fen": 216000 + 30000,
        "self_funded_fen": 5000,
    }
    assert a.account_fen == 100000
    assert [m["total_fen"] for m in months][:3] == [300000, 105000, 0]
    assert len(months) == 12
    assert totals_by_care_type(alice, 2026) == [
        {"care_type": "outpatient", "count": 2, "total_fen": 405000, "fund_fen": 154000}
    ]
