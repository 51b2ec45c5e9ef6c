"""verify_ledger: clean on the demo data, failing (naming every offender) on a
corrupted copy."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import JournalTransaction, LedgerAccount
from portal import demo


def test_verify_ledger_is_clean_on_the_demo_data(db):
    demo.seed()
    out = io.StringIO()

    call_command("verify_ledger", stdout=out)

    assert out.getvalue().strip() == "ledger consistent"
    assert JournalTransaction.objects.filter(kind="contribution.credit").count() > 200
    assert JournalTransaction.objects.filter(kind="rollover").count() >= 4


def test_verify_ledger_fails_on_a_corrupted_copy_listing_every_offender(db):
    demo.seed()
    account = LedgerAccount.objects.filter(code__endswith=":current").order_by("id").first()
    other = LedgerAccount.objects.filter(code="pooled_fund").get()
    # Corrupt inside this test's transaction, with the ledger's triggers off.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE accounts_ledgeraccount SET balance_fen = balance_fen + 1 WHERE id = %s",
            [account.pk],
        )
        cursor.execute(
            "INSERT INTO accounts_journaltransaction (idempotency_key, kind, body_hash, memo, "
            "created_at, value_date) VALUES ('corrupt:1', 'x', '-', '', now(), current_date), "
            "('corrupt:empty', 'x', '-', '', now(), current_date) RETURNING id"
        )
        unbalanced_id, empty_id = sorted(r[0] for r in cursor.fetchall())
        cursor.execute(
            "INSERT INTO accounts_posting (transaction_id, account_id, amount_fen) "
            "VALUES (%s, %s, 300)",
            [unbalanced_id, other.pk],
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    err = io.StringIO()

    with pytest.raises(CommandError, match=r"2 account\(s\), 2 transaction\(s\) wrong"):
        call_command("verify_ledger", stderr=err)

    account_lines = sorted(
        [
            (
                other.pk,
                f"account {other.pk} pooled_fund: cached balance {_yuan(other.balance_fen)} "
                f"!= sum of postings {_yuan(other.balance_fen + 300)}",
            ),
            (
                account.pk,
                f"account {account.pk} {account.code}: cached balance "
                f"{_yuan(account.balance_fen + 1)} != sum of postings {_yuan(account.balance_fen)}",
            ),
        ]
    )
    assert err.getvalue().splitlines() == [line for _pk, line in account_lines] + [
        f"transaction {unbalanced_id} corrupt:1: postings sum to 3.00 over 1 posting(s)",
        f"transaction {empty_id} corrupt:empty: postings sum to 0.00 over 0 posting(s)",
    ]


def _yuan(fen):
    from portal.money import format_yuan

    return format_yuan(fen)
