"""verify_ledger: clean on the demo data, failing (naming every offender) on a
corrupted copy."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import JournalTransaction, LedgerAccount, Rollover
from accounts.selectors import account_balance_fen, ledger_offenders, rule_offenders
from accounts.services import member_pockets
from claims.models import Expense
from members import demo as members_demo
from payments.models import Contribution
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
    other_fen = account_balance_fen(other)  # a shared account: snapshot + pending deltas
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

    with pytest.raises(CommandError, match=r"2 account\(s\), 2 transaction\(s\) wrong, 0 "):
        call_command("verify_ledger", stderr=err)

    account_lines = sorted(
        [
            (
                other.pk,
                f"account {other.pk} pooled_fund: cached balance {_yuan(other_fen)} "
                f"!= sum of postings {_yuan(other_fen + 300)}",
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


# --- Consistent tampering: the ledger balances, the business rules do not ---


def _tamper(*statements):
    """Run ``(sql, params)`` statements with the ledger's triggers off, inside
    this test's transaction (as a superuser could)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def _move_posting(posting, to_account):
    """Re-point a posting to another account and fix both cached balances."""
    return [
        ("UPDATE accounts_posting SET account_id = %s WHERE id = %s", [to_account.pk, posting.pk]),
        (
            "UPDATE accounts_ledgeraccount SET balance_fen = balance_fen - %s WHERE id = %s",
            [posting.amount_fen, posting.account_id],
        ),
        (
            "UPDATE accounts_ledgeraccount SET balance_fen = balance_fen + %s WHERE id = %s",
            [posting.amount_fen, to_account.pk],
        ),
    ]


def _change_posting(posting, delta):
    return [
        (
            "UPDATE accounts_posting SET amount_fen = amount_fen + %s WHERE id = %s",
            [delta, posting.pk],
        ),
        (
            "UPDATE accounts_ledgeraccount SET balance_fen = balance_fen + %s WHERE id = %s",
            [delta, posting.account_id],
        ),
    ]


def _verify_fails():
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"0 account\(s\), 0 transaction\(s\) wrong, "):
        call_command("verify_ledger", stderr=err)
    return err.getvalue().splitlines()


def _credit_of(key, year):
    contribution = Contribution.objects.get(
        person=members_demo.person(key), period=dt.date(year, 3, 1)
    )
    txn = JournalTransaction.objects.get(idempotency_key=f"contribution:{contribution.pk}:credit")
    return contribution, txn


def test_verify_ledger_catches_a_re_pointed_credit_with_both_balances_fixed(db):
    demo.seed()
    contribution, txn = _credit_of("zhangwei", 2026)
    posting = txn.postings.get(account__kind="member_current")
    lina_current = member_pockets(members_demo.person("lina"))[0]

    _tamper(*_move_posting(posting, lina_current))

    assert ledger_offenders().clean  # the books still balance
    assert _verify_fails() == [
        f"credit: transaction {txn.pk} {txn.idempotency_key}: credits 0 fen to the person's "
        f"current-year pocket in 1 member posting(s); contribution {contribution.pk} "
        f"credited {contribution.credited_fen} fen"
    ]


def test_verify_ledger_catches_a_changed_credit_amount(db):
    demo.seed()
    contribution, txn = _credit_of("wangfang", 2026)
    current = txn.postings.get(account__kind="member_current")
    pooled = txn.postings.get(account__kind="pooled_fund")

    _tamper(*_change_posting(current, 100), *_change_posting(pooled, -100))

    assert ledger_offenders().clean
    assert _verify_fails() == [
        f"credit: transaction {txn.pk} {txn.idempotency_key}: credits "
        f"{contribution.credited_fen + 100} fen to the person's current-year pocket in 1 "
        f"member posting(s); contribution {contribution.pk} credited "
        f"{contribution.credited_fen} fen"
    ]


def test_verify_ledger_catches_a_re_pointed_expense_part(db):
    demo.seed()
    expense = Expense.objects.get(
        patient=members_demo.person("zhangwei"), service_date=dt.date(2026, 9, 21)
    )
    posting = expense.ledger_txn.postings.get(account__kind="member_current")
    lina_current = member_pockets(members_demo.person("lina"))[0]

    _tamper(*_move_posting(posting, lina_current))

    assert ledger_offenders().clean
    lines = {
        posting.account_id: f"expense: expense {expense.pk}: account {posting.account_id}: "
        f"postings differ from its parts by {-posting.amount_fen} fen",
        lina_current.pk: f"expense: expense {expense.pk}: account {lina_current.pk}: "
        f"postings differ from its parts by {posting.amount_fen} fen",
    }
    assert _verify_fails() == [lines[k] for k in sorted(lines)]


def test_verify_ledger_catches_a_changed_rollover_amount(db):
    demo.seed()
    person = members_demo.person("zhangwei")
    record = Rollover.objects.get(person=person, year=2025)
    txn = record.transaction
    out_of_current = txn.postings.get(account__kind="member_current")
    into_prior = txn.postings.get(account__kind="member_prior")

    _tamper(*_change_posting(out_of_current, -50), *_change_posting(into_prior, 50))

    assert ledger_offenders().clean
    moved = record.amount_fen + 50
    assert _verify_fails() == [
        f"rollover: rollover 2025 of person {person.pk}: transaction {txn.pk} "
        f"{txn.idempotency_key} moves {moved} fen out of the current pocket and {moved} "
        f"into the prior pocket in 2 posting(s), not the {record.amount_fen} recorded "
        "(or is not a rollover valued 31 December)"
    ]


def test_verify_ledger_catches_a_rollover_record_that_breaks_the_rule(db):
    demo.seed()
    person = members_demo.person("lina")
    record = Rollover.objects.get(person=person, year=2024)

    _tamper(
        (
            "UPDATE accounts_rollover SET balance_as_of_fen = balance_as_of_fen + 1 WHERE id = %s",
            [record.pk],
        )
    )

    assert _verify_fails() == [
        f"rollover: rollover 2024 of person {person.pk}: balance as of 31 December is "
        f"{record.balance_as_of_fen} fen, recorded {record.balance_as_of_fen + 1}"
    ]


def test_the_demo_rollovers_move_each_years_balance_as_of_31_december(db):
    demo.seed()

    records = list(Rollover.objects.filter(amount_fen__gt=0).select_related("transaction"))

    assert len(records) >= 8
    for r in records:
        assert r.amount_fen == r.balance_as_of_fen == r.balance_at_run_fen
        assert r.transaction.value_date == dt.date(r.year, 12, 31)
    assert rule_offenders() == []
