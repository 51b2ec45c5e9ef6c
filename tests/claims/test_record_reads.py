"""The payment record page's plain-SQL expense rows show what ``expenses_for``
shows, and the page escapes what comes from the database."""

import pytest

from claims.selectors import expenses_for, keyset, record_expenses
from claims.services import LineInput, expense_reverse
from dashboard.record_html import expense_articles

from .conftest import fund
from .test_demo_and_reads import _expense


@pytest.mark.usefixtures("policies")
def test_record_expenses_are_expenses_for_with_parts_in_two_queries(
    alice, bob, hospital, pharmacy, django_assert_num_queries
):
    fund(alice, current=100000)
    days = ["2026-01-05", "2026-02-10", "2026-02-10", "2026-03-01", "2025-12-30", "2026-03-02"]
    made = [
        _expense(pharmacy, alice, f"k{i}", d, care="pharmacy")
        if i % 2
        else _expense(hospital, alice, f"k{i}", d, lines=[LineInput("B", 250000)])
        for i, d in enumerate(days)
    ]
    _expense(hospital, bob, "bob", "2026-03-05")  # someone else's: never shown
    expense_reverse(institution=pharmacy, expense_id=made[1].pk, reason="refund")

    with django_assert_num_queries(2):
        rows = record_expenses(alice, limit=4)
    after = (rows[-1].service_date, rows[-1].id)

    for got, want in (
        (rows, expenses_for(alice, limit=4)),
        (record_expenses(alice, after=after), expenses_for(alice, after=keyset(rows[-1]))),
        (record_expenses(alice, year=2025), expenses_for(alice, year=2025)),
    ):
        assert [r.id for r in got] == [e.pk for e in want]
        for r, e in zip(got, want, strict=True):
            assert (r.service_date, r.institution_name, r.care_type, r.status) == (
                e.service_date,
                e.institution.name,
                e.care_type,
                e.status,
            )
            assert (r.total_fen, r.fund_fen, r.account_fen, r.cash_fen) == (
                e.total_fen,
                e.fund_fen,
                e.account_fen,
                e.cash_fen,
            )
            assert (r.balance_current_after_fen, r.balance_prior_after_fen) == (
                e.balance_current_after_fen,
                e.balance_prior_after_fen,
            )
            parts = list(e.parts.all())
            assert [(p.get_payer_display(), p.amount_fen, p.reason) for p in r.parts] == [
                (p.get_payer_display(), p.amount_fen, p.reason) for p in parts
            ]
    assert any(r.parts for r in rows)


@pytest.mark.usefixtures("policies")
def test_the_record_rows_escape_names_from_the_database(alice, hospital):
    hospital.name = '<script>alert("x")</script> & Co'
    hospital.save()
    _expense(hospital, alice, "k", "2026-01-05")

    html = expense_articles(record_expenses(alice))

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html
    assert 'data-testid="expense"' in html
