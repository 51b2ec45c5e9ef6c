"""Shared accounts keep no cached balance that every posting updates (issue 16,
docs/adr/0001): their balance is a snapshot plus pending deltas, so postings
to the pooled fund or a payable never wait for each other; member pockets
keep their cached balance and the CHECK that refuses one below zero.

Real concurrent PostgreSQL connections; no mocks."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Sum

from accounts.models import AccountKind, BalanceDelta, LedgerAccount, Posting
from accounts.selectors import account_balance_fen, ledger_offenders, pocket_balances
from accounts.services import (
    InsufficientFunds,
    institution_payable,
    ledger_fold_deltas,
    ledger_post,
    member_pockets,
    system_account,
)
from tests.concurrency import run_concurrently


def _credit(person, fen, key=None):
    current, _prior = member_pockets(person)
    return ledger_post(
        idempotency_key=key or f"credit:{uuid.uuid4()}",
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (current, fen)],
    )


def _postings_sum(account) -> int:
    return Posting.objects.filter(account=account).aggregate(s=Sum("amount_fen"))["s"] or 0


def test_a_shared_account_gets_a_delta_and_a_pocket_its_cached_balance(alice):
    fund = system_account(AccountKind.POOLED_FUND)

    _credit(alice, 700)
    _credit(alice, 300)

    fund.refresh_from_db()
    assert fund.balance_fen == 0  # the row is not touched by postings
    assert list(BalanceDelta.objects.filter(account=fund).values_list("amount_fen", flat=True)) == [
        -700,
        -300,
    ]
    assert account_balance_fen(fund) == -1000 == _postings_sum(fund)
    current, _prior = member_pockets(alice)
    current.refresh_from_db()
    assert current.balance_fen == 1000  # a pocket keeps its balance on the row
    assert not BalanceDelta.objects.filter(account=current).exists()

    assert ledger_fold_deltas() == 2

    fund.refresh_from_db()
    assert fund.balance_fen == -1000
    assert not BalanceDelta.objects.exists()
    assert account_balance_fen(fund) == -1000
    assert ledger_offenders().clean


def test_a_pocket_still_never_goes_below_zero(alice):
    _credit(alice, 100)
    current, _prior = member_pockets(alice)
    payable = institution_payable(5)

    with pytest.raises(InsufficientFunds):
        ledger_post(idempotency_key="over", kind="t", postings=[(current, -101), (payable, 101)])
    with connection.cursor() as cursor, pytest.raises(IntegrityError), transaction.atomic():
        # the database itself, past the service's check
        cursor.execute(
            "INSERT INTO accounts_journaltransaction (idempotency_key, kind, body_hash, memo, "
            "created_at, value_date) VALUES ('raw', 't', '-', '', now(), current_date) "
            "RETURNING id"
        )
        tid = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO accounts_posting (transaction_id, account_id, amount_fen) "
            "VALUES (%s, %s, -101), (%s, %s, 101)",
            [tid, current.pk, tid, payable.pk],
        )
    assert pocket_balances(alice).current_fen == 100
    assert account_balance_fen(payable) == 0


def test_deltas_cannot_be_written_or_changed_by_hand(alice):
    _credit(alice, 500)
    fund = system_account(AccountKind.POOLED_FUND)
    delta = BalanceDelta.objects.get()

    with pytest.raises(DatabaseError, match="balances move only by postings"), transaction.atomic():
        BalanceDelta.objects.create(account=fund, amount_fen=10**9)
    with pytest.raises(DatabaseError, match="balances move only by postings"), transaction.atomic():
        BalanceDelta.objects.filter(pk=delta.pk).update(amount_fen=1)
    with pytest.raises(DatabaseError, match="balances move only by postings"), transaction.atomic():
        LedgerAccount.objects.filter(pk=fund.pk).update(balance_fen=10**9)

    # deleting one by hand is a fold: the balance does not move
    BalanceDelta.objects.filter(pk=delta.pk).delete()
    assert account_balance_fen(fund) == -500 == _postings_sum(fund)
    assert ledger_offenders().clean


def test_verify_ledger_sees_a_tampered_delta(alice, capsys):
    _credit(alice, 500)
    fund = system_account(AccountKind.POOLED_FUND)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE accounts_balancedelta SET amount_fen = amount_fen - 1")
        cursor.execute("SET LOCAL session_replication_role = origin")

    offenders = ledger_offenders()

    assert [(aid, cached, summed) for aid, _c, cached, summed in offenders.accounts] == [
        (fund.pk, -501, -500)
    ]
    with pytest.raises(Exception, match="ledger NOT consistent"):
        call_command("verify_ledger")


@pytest.mark.django_db(transaction=True)
def test_postings_to_the_pooled_fund_do_not_wait_for_each_other(alice, bob):
    """One transaction credits alice from the pooled fund and stays open; a
    credit to bob from the same fund completes meanwhile. Before issue 16 it
    queued on the fund's row lock (here: a lock timeout)."""
    for p in (alice, bob):
        member_pockets(p)
    system_account(AccountKind.POOLED_FUND)
    posted, done = threading.Event(), threading.Event()

    def work(i):
        if i == 0:
            with transaction.atomic():
                _credit(alice, 1000, key="held")
                posted.set()
                return done.wait(timeout=20)
        assert posted.wait(timeout=20)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        try:
            _credit(bob, 2000, key="free")
            return True
        finally:
            done.set()

    held, free = run_concurrently(2, work)

    assert free is True, free
    assert held is True  # bob's credit finished while alice's was still open
    fund = system_account(AccountKind.POOLED_FUND)
    assert account_balance_fen(fund) == -3000 == _postings_sum(fund)
    assert (pocket_balances(alice).current_fen, pocket_balances(bob).current_fen) == (1000, 2000)
    assert ledger_offenders().clean


@pytest.mark.django_db(transaction=True)
def test_folds_racing_postings_and_each_other_keep_every_balance_exact(alice, bob):
    """Eight writers post to the pooled fund and a payable while two folders
    fold again and again: every balance read in between is one a set of
    committed postings gives, nothing is folded twice, and at the end the
    snapshots equal the postings."""
    for p in (alice, bob):
        member_pockets(p)
    fund = system_account(AccountKind.POOLED_FUND)
    payable = institution_payable(9)
    stop = threading.Event()
    seen: list[int] = []

    def work(i):
        if i < 8:
            person = alice if i % 2 else bob
            current, _prior = member_pockets(person)
            for n in range(15):
                _credit(person, 100, key=f"c:{i}:{n}")
                ledger_post(
                    idempotency_key=f"s:{i}:{n}",
                    kind="test.spend",
                    postings=[(current, -40), (payable, 40)],
                )
            return None
        folded = 0
        while not stop.is_set():
            folded += ledger_fold_deltas(limit=7)
            seen.append(account_balance_fen(fund))
        return folded

    finished: list[int] = []

    def runner(i):
        try:
            return work(i)
        finally:
            if i < 8:
                finished.append(i)
                if len(finished) == 8:
                    stop.set()

    results = run_concurrently(10, runner)

    assert [r for r in results if isinstance(r, Exception)] == []
    ledger_fold_deltas()
    fund.refresh_from_db()
    payable.refresh_from_db()
    assert fund.balance_fen == -120 * 100 == _postings_sum(fund)
    assert payable.balance_fen == 120 * 40 == _postings_sum(payable)
    # every balance seen was a multiple of one credit, never a half-folded figure
    assert all(b % 100 == 0 and -12000 <= b <= 0 for b in seen)
    assert not BalanceDelta.objects.exists()
    assert pocket_balances(alice).current_fen + pocket_balances(bob).current_fen == 120 * 60
    assert ledger_offenders().clean
