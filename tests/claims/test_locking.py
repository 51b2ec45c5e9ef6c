"""Ledger writes never deadlock (docs/adr/0001, issue 19 finding 8).

Real threads on PostgreSQL, each with its own connection, through the
institution API: a refund races new expenses of the same patient at the same
institution (and of a relative paying from the patient's prior-years pocket).
Every request succeeds, and the ledger adds up afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections, transaction
from django.db.models import Sum
from django.utils import translation

from accounts.models import JournalTransaction
from accounts.selectors import account_balance_fen, ledger_offenders, pocket_balances
from accounts.services import institution_payable
from claims.models import Expense, ExpensePart, FundAccumulator
from portal.api import exception_handler
from portal.errors import Busy
from portal.transactions import retry_on_conflict
from tests.concurrency import run_concurrently
from tests.conftest import make_member

from .conftest import expense_body, fund

pytestmark = [pytest.mark.usefixtures("policies"), pytest.mark.django_db(transaction=True)]

ROUNDS = 30


def _api(institution_api, inst):
    api = institution_api(inst)
    # a 500 is an answer here, not an exception in the test thread
    api.client.raise_request_exception = False
    return api


def test_a_refund_racing_new_expenses_of_the_patient_never_fails(
    alice, hospital, institution_api, approved_link, caplog
):
    caplog.set_level(logging.INFO, logger="portal.transactions")
    # given: the institution payable is older than the pockets (lower id), so
    # a refund (payable debited) and a submission (pockets debited) touch the
    # same rows from opposite ends; a relative pays from alice's prior pocket
    payable = institution_payable(hospital.pk)
    kid = make_member(
        "Kid", birth=dt.date(2014, 6, 1), seq=42, insurance_type="resident", signs_in=False
    )
    fund(alice, current=100_000_00, prior=100_000_00)
    approved_link(alice, kid, relationship="child")
    assert payable.pk < min(a.pk for a in alice.ledger_accounts.all())
    api = _api(institution_api, hospital)
    inpatient = [{"catalog_class": "A", "amount": "500.00"}]
    outpatient = [{"catalog_class": "A", "amount": "100.00"}]
    failures = []

    for r in range(ROUNDS):
        # an inpatient stay (its own accumulator), refunded while new
        # outpatient expenses of alice and of her child come in
        stay = api.submit(expense_body(alice.id_number, "inpatient", inpatient), key=f"in-{r}")
        assert stay.status_code == 201, stay.json()
        stay_id = stay.json()["id"]

        def request(i, r=r, stay_id=stay_id):
            client = _api(institution_api, hospital)
            if i == 0:
                return client.reverse(stay_id, reason=f"round {r}")
            patient = kid if i == 3 else alice
            body = expense_body(patient.id_number, "outpatient", outpatient)
            return client.submit(body, key=f"out-{r}-{i}")

        answers = run_concurrently(4, request)
        for i, answer in enumerate(answers):
            if isinstance(answer, Exception):
                failures.append((r, i, repr(answer)))
            elif answer.status_code != (200 if i == 0 else 201):
                failures.append((r, i, answer.status_code, answer.content[:300]))

    # then: nothing failed, and not thanks to the retry: the lock order
    # alone kept them apart (no transaction was aborted)
    assert failures == []
    assert [r.getMessage() for r in caplog.records if r.name == "portal.transactions"] == []
    # every stay is reversed exactly once, every new expense stands
    stays = Expense.objects.filter(care_type="inpatient")
    assert stays.count() == ROUNDS
    assert set(stays.values_list("status", flat=True)) == {"reversed"}
    assert not stays.filter(reversal_txn__isnull=True).exists()
    assert JournalTransaction.objects.filter(kind="claims.expense.reversal").count() == ROUNDS
    assert (
        JournalTransaction.objects.filter(reverses__in=stays.values("ledger_txn")).count() == ROUNDS
    )
    visits = Expense.objects.filter(care_type="outpatient")
    assert visits.count() == 3 * ROUNDS
    assert set(visits.values_list("status", flat=True)) == {"accepted"}
    # the balances are the sums of what the standing expenses paid
    standing = ExpensePart.objects.filter(expense__status="accepted")

    def paid(**kw):
        return standing.filter(**kw).aggregate(s=Sum("amount_fen"))["s"] or 0

    balances = pocket_balances(alice)
    assert balances.current_fen == 100_000_00 - paid(payer="current")
    assert balances.prior_fen == 100_000_00 - paid(payer="prior") - paid(payer="relative_prior")
    # the child (resident scheme: deductible 100.00, then 45% co-payment)
    assert paid(payer="relative_prior") == 100_00 + (ROUNDS - 1) * 45_00
    assert account_balance_fen(payable) == visits.aggregate(s=Sum("account_fen"))["s"]
    # deductible room: the refunds gave back all of theirs, the visits used theirs
    used = {
        (a.person_id, a.pool): a.deductible_used_fen
        for a in FundAccumulator.objects.filter(year=2025)
    }
    assert used == {
        (alice.pk, "inpatient"): 0,
        (alice.pk, "outpatient"): visits.filter(patient=alice).aggregate(s=Sum("deductible_fen"))[
            "s"
        ],
        (kid.pk, "outpatient"): visits.filter(patient=kid).aggregate(s=Sum("deductible_fen"))["s"],
    }
    assert ledger_offenders().clean
    call_command("verify_ledger")


# --- The transparent retry (portal.transactions.retry_on_conflict) -------------------


def _make_table():
    with connection.cursor() as c:
        c.execute("CREATE TABLE IF NOT EXISTS _retry_probe (id int PRIMARY KEY, n int)")
        c.execute("TRUNCATE _retry_probe")
        c.execute("INSERT INTO _retry_probe VALUES (1, 0), (2, 0)")


def _drop_table():
    with connection.cursor() as c:
        c.execute("DROP TABLE IF EXISTS _retry_probe")


@pytest.fixture
def probe_table(transactional_db):
    _make_table()
    yield
    _drop_table()


def test_a_real_deadlock_is_retried_and_both_sides_succeed(probe_table):
    # given: two transactions that lock the same two rows in opposite orders,
    # each waiting for the other to hold its first row
    both_hold_one = threading.Barrier(2)
    attempts = [0, 0]

    @retry_on_conflict
    def bump(i: int) -> int:
        attempts[i] += 1
        first, second = (1, 2) if i == 0 else (2, 1)
        with transaction.atomic(), connection.cursor() as c:
            c.execute("UPDATE _retry_probe SET n = n + 1 WHERE id = %s", [first])
            if attempts[i] == 1:
                both_hold_one.wait(timeout=10)
            c.execute("UPDATE _retry_probe SET n = n + 1 WHERE id = %s", [second])
        return attempts[i]

    # when
    results = run_concurrently(2, bump)

    # then: PostgreSQL aborted one of them, which was run again
    assert sorted(results) == [1, 2]
    with connection.cursor() as c:
        c.execute("SELECT id, n FROM _retry_probe ORDER BY id")
        assert c.fetchall() == [(1, 2), (2, 2)]


def _serialization_failure(on_attempts: set[int], attempts: list[int], isolate=True) -> None:
    """A real 40001: a REPEATABLE READ transaction updates a row another
    connection changed after its snapshot."""
    attempts.append(len(attempts) + 1)
    with transaction.atomic(), connection.cursor() as c:
        if isolate:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        c.execute("SELECT n FROM _retry_probe WHERE id = 1")
        if len(attempts) in on_attempts:

            def other():
                with connections["default"].cursor() as o:
                    o.execute("UPDATE _retry_probe SET n = n + 10 WHERE id = 1")
                connections.close_all()

            t = threading.Thread(target=other)
            t.start()
            t.join()
        c.execute("UPDATE _retry_probe SET n = n + 1 WHERE id = 1")


def test_a_serialization_failure_is_retried(probe_table):
    attempts: list[int] = []

    retry_on_conflict(_serialization_failure)({1}, attempts)

    assert attempts == [1, 2]
    with connection.cursor() as c:
        c.execute("SELECT n FROM _retry_probe WHERE id = 1")
        assert c.fetchone() == (11,)


def test_when_retries_run_out_it_is_a_busy_error_not_a_crash(probe_table):
    attempts: list[int] = []

    with pytest.raises(Busy) as caught:
        retry_on_conflict(_serialization_failure)({1, 2, 3, 4, 5, 6}, attempts)

    assert caught.value.status_code == 503
    assert caught.value.code == "busy"
    assert len(attempts) == 4
    with connection.cursor() as c:
        c.execute("SELECT n FROM _retry_probe WHERE id = 1")
        assert c.fetchone() == (40,)


def test_inside_a_callers_transaction_it_is_not_retried(probe_table):
    attempts: list[int] = []

    with pytest.raises(OperationalError) as caught, transaction.atomic():
        with connection.cursor() as c:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        retry_on_conflict(_serialization_failure)({1}, attempts, isolate=False)

    assert attempts == [1]
    # should it reach the API unretried, it is the one error shape, not a 500
    with translation.override("en"):
        response = exception_handler(caught.value, {})
    assert response.status_code == 503
    assert response.data == {
        "error": {
            "code": "busy",
            "message": "The service is busy. Nothing was changed: please send the request again.",
            "fields": {},
        }
    }
