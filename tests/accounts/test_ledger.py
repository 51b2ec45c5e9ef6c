"""The ledger's core rules, on PostgreSQL."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models.signals import post_save

from accounts.models import AccountKind, JournalTransaction, LedgerAccount, Posting
from accounts.selectors import account_balance_fen, pocket_balances
from accounts.services import (
    InsufficientFunds,
    body_hash,
    institution_payable,
    ledger_post,
    ledger_post_held,
    ledger_reverse,
    member_pockets,
    system_account,
)
from portal.errors import ApplicationError, Conflict
from tests.concurrency import run_concurrently


def _fund(person, fen, key="fund"):
    current, _prior = member_pockets(person)
    return ledger_post(
        idempotency_key=key,
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (current, fen)],
    )


def test_a_posted_transaction_moves_balances_and_balances(alice):
    current, _prior = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)

    txn = ledger_post(
        idempotency_key="k1", kind="test.credit", postings=[(fund, -12345), (current, 12345)]
    )

    assert pocket_balances(alice).current_fen == 12345
    assert pocket_balances(alice).prior_fen == 0
    assert account_balance_fen(fund) == -12345
    assert sorted(txn.postings.values_list("amount_fen", flat=True)) == [-12345, 12345]


def test_same_key_same_body_returns_the_first_transaction(alice):
    first = _fund(alice, 500)

    again = _fund(alice, 500)

    assert again.pk == first.pk
    assert pocket_balances(alice).current_fen == 500
    assert JournalTransaction.objects.count() == 1


def test_same_key_other_body_is_a_conflict_and_changes_nothing(alice):
    _fund(alice, 500)

    with pytest.raises(Conflict):
        _fund(alice, 600)

    assert pocket_balances(alice).current_fen == 500
    assert Posting.objects.count() == 2


def test_unbalanced_postings_are_refused_by_the_service(alice):
    current, _ = member_pockets(alice)
    fund = system_account(AccountKind.POOLED_FUND)

    with pytest.raises(ApplicationError) as excinfo:
        ledger_post(idempotency_key="u", kind="x", postings=[(fund, -100), (current, 99)])

    assert excinfo.value.code == "unbalanced"
    assert JournalTransaction.objects.count() == 0


def test_the_database_refuses_an_unbalanced_transaction_written_around_the_orm(alice):
    current, _ = member_pockets(alice)
    txn = JournalTransaction.objects.create(idempotency_key="raw", kind="x", body_hash="-")

    with (
        pytest.raises(DatabaseError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO accounts_posting (transaction_id, account_id, amount_fen) "
            "VALUES (%s, %s, 100)",
            [txn.pk, current.pk],
        )

    current.refresh_from_db()
    assert current.balance_fen == 0


def test_postings_and_transactions_are_append_only_in_the_database(alice):
    txn = _fund(alice, 500)
    posting = txn.postings.first()

    for statement, params in [
        ("UPDATE accounts_posting SET amount_fen = 1 WHERE id = %s", [posting.pk]),
        ("DELETE FROM accounts_posting WHERE id = %s", [posting.pk]),
        ("UPDATE accounts_journaltransaction SET memo = 'x' WHERE id = %s", [txn.pk]),
        ("DELETE FROM accounts_journaltransaction WHERE id = %s", [txn.pk]),
    ]:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params)

    assert pocket_balances(alice).current_fen == 500


def test_a_pocket_never_goes_below_zero(alice):
    _fund(alice, 100)
    current, _ = member_pockets(alice)
    payable = institution_payable(1)

    with pytest.raises(InsufficientFunds) as excinfo:
        ledger_post(idempotency_key="spend", kind="x", postings=[(current, -101), (payable, 101)])

    assert excinfo.value.code == "insufficient_funds"
    assert pocket_balances(alice).current_fen == 100
    assert not JournalTransaction.objects.filter(idempotency_key="spend").exists()


def test_check_constraint_refuses_a_negative_pocket_even_around_the_service(alice):
    current, _ = member_pockets(alice)

    # Even with the triggers off (which refuse any direct UPDATE of a balance,
    # see test_guards.py), the CHECK constraint holds.
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
        LedgerAccount.objects.filter(pk=current.pk).update(balance_fen=-1)


def test_reversal_restores_balances_once_and_keeps_history(alice):
    _fund(alice, 1000)
    current, _ = member_pockets(alice)
    payable = institution_payable(7)
    spend = ledger_post(
        idempotency_key="spend", kind="expense", postings=[(current, -300), (payable, 300)]
    )

    reversal = ledger_reverse(original=spend, idempotency_key="spend.rev")
    again = ledger_reverse(original=spend, idempotency_key="spend.rev")

    assert again.pk == reversal.pk
    assert pocket_balances(alice).current_fen == 1000
    assert account_balance_fen(payable) == 0
    assert Posting.objects.filter(transaction=spend).count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger_reverse(original=spend, idempotency_key="spend.rev2")


@pytest.mark.django_db(transaction=True)
def test_concurrent_spends_never_overdraw_a_pocket(alice):
    """Balance 100, 20 concurrent spends of 80 on real connections: exactly one wins."""
    current, _ = member_pockets(alice)
    payable = institution_payable(1)
    _fund(alice, 100)
    for round_no in range(10):
        if round_no:
            _fund(alice, 80, key=f"top-up-{round_no}")  # back to 100
        assert pocket_balances(alice).current_fen == 100

        def spend(i, round_no=round_no):
            return ledger_post(
                idempotency_key=f"r{round_no}-spend-{i}",
                kind="expense",
                postings=[(current.pk, -80), (payable.pk, 80)],
            )

        results = run_concurrently(20, spend)

        assert sum(isinstance(r, JournalTransaction) for r in results) == 1
        assert sum(isinstance(r, InsufficientFunds) for r in results) == 19
        assert pocket_balances(alice).current_fen == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_key_create_one_transaction(alice):
    _fund(alice, 1000)
    current, _ = member_pockets(alice)
    payable = institution_payable(1)

    results = run_concurrently(
        10,
        lambda i: ledger_post(
            idempotency_key="same", kind="expense", postings=[(current.pk, -100), (payable.pk, 100)]
        ),
    )

    assert {type(r) for r in results} == {JournalTransaction}
    assert len({r.pk for r in results}) == 1
    assert pocket_balances(alice).current_fen == 900


def _held(person):
    """The pockets of ``person`` locked as a caller of ledger_post_held locks them."""
    current, _prior = member_pockets(person)
    return LedgerAccount.objects.select_for_update().get(pk=current.pk)


def test_a_post_under_held_locks_is_the_same_transaction_as_ledger_post(alice, bob):
    # given the same spend posted both ways (one per member)
    _fund(alice, 1000, key="fund-a")
    _fund(bob, 1000, key="fund-b")
    payable = institution_payable(1)
    saved = []

    def on_save(sender, instance, created, **kwargs):
        saved.append((instance, created))

    post_save.connect(on_save, sender=JournalTransaction, weak=False)
    by_post = ledger_post(
        idempotency_key="spend-a",
        kind="x",
        postings=[(member_pockets(alice)[0], -300), (payable, 300)],
    )

    # when
    with transaction.atomic():
        current = _held(bob)
        held = ledger_post_held(
            idempotency_key="spend-b",
            kind="x",
            postings=[(current, -100), (current, -200), (payable, 300)],
        )
    post_save.disconnect(on_save, sender=JournalTransaction)

    # then: post_save was sent as for a saved transaction (the outbox and the
    # metrics listen), the same rows, the same body hash for the same
    # movement, balances moved
    assert [(t.pk, created) for t, created in saved] == [(by_post.pk, True), (held.pk, True)]
    stored = JournalTransaction.objects.get(pk=held.pk)
    assert (stored.kind, stored.value_date, stored.body_hash, stored.memo) == (
        "x",
        by_post.value_date,
        body_hash("x", {current.pk: -300, payable.pk: 300}),
        "",
    )
    assert sorted(stored.postings.values_list("amount_fen", flat=True)) == [-300, 300]
    assert pocket_balances(bob).current_fen == 700
    assert account_balance_fen(payable) == 600
    assert (held.idempotency_key, held.value_date) == ("spend-b", by_post.value_date)


def test_a_post_under_held_locks_keeps_the_key_rules(alice):
    _fund(alice, 1000)
    payable = institution_payable(1)
    with transaction.atomic():
        first = ledger_post_held(
            idempotency_key="spend", kind="x", postings=[(_held(alice), -300), (payable, 300)]
        )
    # the same key and body: the first transaction; another body: a Conflict
    with transaction.atomic():
        again = ledger_post_held(
            idempotency_key="spend", kind="x", postings=[(_held(alice), -300), (payable, 300)]
        )
    assert again.pk == first.pk
    with pytest.raises(Conflict), transaction.atomic():
        ledger_post_held(
            idempotency_key="spend", kind="x", postings=[(_held(alice), -301), (payable, 301)]
        )
    # a debit above the balance read under the lock is refused, nothing written
    with pytest.raises(InsufficientFunds), transaction.atomic():
        ledger_post_held(
            idempotency_key="spend-2", kind="x", postings=[(_held(alice), -701), (payable, 701)]
        )
    assert pocket_balances(alice).current_fen == 700
    assert JournalTransaction.objects.filter(kind="x").count() == 1
