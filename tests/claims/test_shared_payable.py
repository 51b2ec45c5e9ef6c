"""Expense submissions to one institution never wait for each other (issue 16,
docs/adr/0001): no posting locks or updates the institution payable's row.

Real threads on PostgreSQL, each with its own connection: one submission
posts and then holds its transaction open; another submission to the same
institution must complete meanwhile (with a lock timeout, so a regression
fails instead of hanging). Afterwards the payable's balance equals its
postings and the standing expenses' account parts.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from accounts.selectors import account_balance_fen, ledger_offenders
from accounts.services import institution_payable, ledger_fold_deltas
from claims.models import Expense
from claims.services import LineInput, expense_submit
from tests.concurrency import run_concurrently

from .conftest import fund

pytestmark = [pytest.mark.usefixtures("policies"), pytest.mark.django_db(transaction=True)]


def _submit(hospital, person, key, fen=50000):
    return expense_submit(
        institution=hospital,
        idempotency_key=key,
        patient_id_number=person.id_number,
        service_date=dt.date(2025, 6, 1),
        care_type="outpatient",
        lines=[LineInput("A", fen)],
    )


def _payable_postings(hospital) -> int:
    from accounts.models import Posting

    return (
        Posting.objects.filter(account=institution_payable(hospital.pk)).aggregate(
            s=Sum("amount_fen")
        )["s"]
        or 0
    )


def test_a_submission_completes_while_another_to_the_same_institution_holds_open(
    alice, bob, hospital
):
    fund(alice, current=100000)
    fund(bob, current=100000)
    institution_payable(hospital.pk)  # exists before either starts
    posted, b_done = threading.Event(), threading.Event()

    def request(i):
        if i == 0:  # posts to the payable, then keeps its transaction open
            with transaction.atomic():
                expense, _created = _submit(hospital, alice, "held")
                posted.set()
                # the other submission finishes while this one still holds its locks
                finished = b_done.wait(timeout=20)
                return expense.account_fen, finished
        assert posted.wait(timeout=20)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a regression fails, not hangs
        try:
            expense, _created = _submit(hospital, bob, "free")
            return expense.account_fen
        finally:
            b_done.set()

    held, free = run_concurrently(2, request)

    assert not isinstance(free, Exception), free
    assert not isinstance(held, Exception), held
    held_fen, finished_while_held = held
    assert finished_while_held  # the second completed before the first committed
    assert held_fen == free == 50000  # both paid from the current-year pocket
    payable = institution_payable(hospital.pk)
    assert account_balance_fen(payable) == _payable_postings(hospital) == 100000
    assert ledger_offenders().clean


def test_many_concurrent_submissions_to_one_institution_add_up(alice, bob, hospital):
    patients = [alice, bob]
    for p in patients:
        fund(p, current=90000)

    def request(i):
        return _submit(hospital, patients[i % 2], f"k{i}", 10000 + i)

    answers = run_concurrently(12, request)
    # and a fold racing nothing in particular changes no balance
    before = account_balance_fen(institution_payable(hospital.pk))
    ledger_fold_deltas()

    assert [a for a in answers if isinstance(a, Exception)] == []
    standing = Expense.objects.filter(institution=hospital).aggregate(s=Sum("account_fen"))["s"]
    payable = institution_payable(hospital.pk)
    assert account_balance_fen(payable) == before == _payable_postings(hospital) == standing
    payable.refresh_from_db()
    assert payable.balance_fen == standing  # folded into the snapshot
    assert ledger_offenders().clean
