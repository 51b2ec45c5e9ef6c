"""Every ledger transaction carries a value date (docs/adr/0001-ledger.md)."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AccountKind, JournalTransaction
from accounts.services import (
    ledger_post,
    ledger_post_bulk,
    ledger_post_bulk_sql,
    ledger_reverse,
    member_pockets,
    system_account,
    valued_on,
)


def _value_dates():
    return dict(JournalTransaction.objects.values_list("idempotency_key", "value_date"))


def test_work_done_now_is_valued_today_and_a_loader_can_replay_a_day(alice):
    current, _prior = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)
    postings = [(fund, -100), (current, 100)]

    ledger_post(idempotency_key="now", kind="t", postings=postings)
    ledger_post(
        idempotency_key="named", kind="t", postings=postings, value_date=dt.date(2024, 2, 29)
    )
    with valued_on(dt.date(2023, 7, 1)):
        ledger_post(idempotency_key="replayed", kind="t", postings=postings)
        ledger_post(
            idempotency_key="named-in-replay",
            kind="t",
            postings=postings,
            value_date=dt.date(2023, 8, 1),
        )
    ledger_post(idempotency_key="after", kind="t", postings=postings)

    today = timezone.localdate()
    assert _value_dates() == {
        "now": today,
        "named": dt.date(2024, 2, 29),
        "replayed": dt.date(2023, 7, 1),
        "named-in-replay": dt.date(2023, 8, 1),
        "after": today,
    }


def test_a_retry_on_another_day_returns_the_first_transaction(alice):
    current, _prior = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)
    first = ledger_post(
        idempotency_key="k",
        kind="t",
        postings=[(fund, -5), (current, 5)],
        value_date=dt.date(2025, 1, 2),
    )

    again = ledger_post(
        idempotency_key="k",
        kind="t",
        postings=[(fund, -5), (current, 5)],
        value_date=dt.date(2025, 1, 3),
    )

    assert again.pk == first.pk
    assert again.value_date == dt.date(2025, 1, 2)


def test_a_reversal_is_valued_the_day_it_is_posted(alice):
    current, _prior = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)
    original = ledger_post(
        idempotency_key="o",
        kind="t",
        postings=[(fund, -5), (current, 5)],
        value_date=dt.date(2024, 5, 1),
    )

    reversal = ledger_reverse(original=original, idempotency_key="o.rev")

    assert reversal.value_date == timezone.localdate()


def test_a_datetime_is_not_a_value_date(alice):
    current, _prior = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)

    with pytest.raises(TypeError):
        ledger_post(
            idempotency_key="x",
            kind="t",
            postings=[(fund, -5), (current, 5)],
            value_date=timezone.now(),
        )

    assert not JournalTransaction.objects.exists()


def test_the_bulk_paths_take_a_value_date(alice, bob):
    a, _ = member_pockets(alice)
    b, _ = member_pockets(bob)
    fund = system_account(AccountKind.POOLED_FUND).pk

    ledger_post_bulk(
        kind="t",
        entries=[("bulk-a", [(fund, -1), (a.pk, 1)], ""), ("bulk-b", [(fund, -2), (b.pk, 2)], "")],
        value_date=dt.date(2025, 12, 31),
    )
    ledger_post_bulk(kind="t", entries=[("bulk-today", [(fund, -3), (a.pk, 3)], "")])
    ledger_post_bulk_sql(
        kind="t",
        postings_sql=(
            "SELECT 'sql-a', '', %(fund)s::bigint, -4::bigint UNION ALL "
            "SELECT 'sql-a', '', %(a)s::bigint, 4::bigint"
        ),
        params={"fund": fund, "a": a.pk},
        value_date=dt.date(2025, 6, 30),
    )

    assert _value_dates() == {
        "bulk-a": dt.date(2025, 12, 31),
        "bulk-b": dt.date(2025, 12, 31),
        "bulk-today": timezone.localdate(),
        "sql-a": dt.date(2025, 6, 30),
    }
