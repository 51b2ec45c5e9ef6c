"""Settlement exactly once: in-process, and with real worker processes that
are killed with SIGKILL mid-batch and restarted, or run at once."""

import csv as csv_module
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.models import AccountKind, JournalTransaction
from accounts.selectors import account_balance_fen, ledger_offenders
from accounts.services import institution_payable, system_account
from audit.services import _request_seal
from claims.models import (
    Expense,
    SettlementBatch,
    SettlementChunk,
    SettlementEntry,
    SettlementWork,
)
from claims.services import LineInput, expense_reverse, expense_submit
from claims.settlement import settlement_run_batch, settlement_start
from claims.tasks import settle_batch

from .conftest import fund, wait_for


def _submit(inst, person, key, amount_fen=100000):
    return expense_submit(
        institution=inst,
        idempotency_key=key,
        patient_id_number=person.id_number,
        service_date=dt.date(2026, 3, 1),
        care_type="pharmacy" if inst.kind == "pharmacy" else "outpatient",
        lines=[LineInput("A", amount_fen)],
    )[0]


def _assert_settled_exactly_once(inst):
    expenses = Expense.objects.filter(institution=inst, status="accepted")
    assert not expenses.filter(settlement_entries__isnull=True).exists()
    assert not SettlementWork.objects.filter(institution=inst, kind="expense").exists()
    owed = expenses.aggregate(s=Sum("fund_fen"))["s"]
    batches = SettlementBatch.objects.filter(institution=inst)
    assert batches.aggregate(s=Sum("fund_fen"))["s"] == owed
    assert (
        SettlementChunk.objects.filter(batch__in=batches).aggregate(s=Sum("fund_fen"))["s"] == owed
    )
    settled = JournalTransaction.objects.filter(
        kind="claims.settlement", postings__account=institution_payable(inst.pk)
    ).aggregate(s=Sum("postings__amount_fen"))["s"]
    assert settled == owed
    assert ledger_offenders().clean
    call_command("verify_ledger")


def test_settlement_moves_the_fund_parts_to_the_payable_once(policies, alice, hospital, pharmacy):
    fund(alice, current=10000)
    # deductible met first, so later expenses have fund parts
    for i in range(5):
        _submit(hospital, alice, f"h{i}")
    for i in range(3):
        _submit(pharmacy, alice, f"p{i}", 2000)
    payable_before = account_balance_fen(institution_payable(hospital.pk))

    batches = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)
    for b in batches:
        settlement_run_batch(batch_id=b.pk, chunk_size=2)
        settlement_run_batch(batch_id=b.pk, chunk_size=2)  # the task comes again

    hb = SettlementBatch.objects.get(institution=hospital)
    owed = Expense.objects.filter(institution=hospital).aggregate(s=Sum("fund_fen"))["s"]
    assert owed == (5 * 100000 - 180000) * 7 // 10
    assert (hb.status, hb.expense_count, hb.chunks_done, hb.fund_fen) == ("done", 5, 3, owed)
    assert account_balance_fen(institution_payable(hospital.pk)) == payable_before + owed
    _assert_settled_exactly_once(hospital)
    _assert_settled_exactly_once(pharmacy)
    # a second run on the same day finds nothing new
    again = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)
    for b in again:
        settlement_run_batch(batch_id=b.pk)
    assert SettlementChunk.objects.count() == 3 + 2


def test_a_reversal_after_settlement_is_settled_by_a_later_batch(policies, alice, hospital):
    for i in range(3):
        _submit(hospital, alice, f"h{i}")
    first = settlement_start(period=dt.date(2026, 3, 2), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=first.pk)
    settled = Expense.objects.filter(fund_fen__gt=0).first()
    pooled_before = account_balance_fen(system_account(AccountKind.POOLED_FUND))

    expense_reverse(institution=hospital, expense_id=settled.pk)
    later = settlement_start(period=dt.date(2026, 3, 3), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=later.pk)

    later.refresh_from_db()
    first.refresh_from_db()
    settled.refresh_from_db()
    assert (later.reversal_count, later.reversed_fen, later.net_fen) == (
        1,
        settled.fund_fen,
        -settled.fund_fen,
    )
    entries = SettlementEntry.objects.filter(expense=settled).order_by("reversal")
    assert [(e.reversal, e.batch_id) for e in entries] == [(False, first.pk), (True, later.pk)]
    assert not SettlementWork.objects.exists()
    assert first.fund_fen == 3 * 70000 - 126000  # history of the first batch unchanged
    assert (
        account_balance_fen(system_account(AccountKind.POOLED_FUND))
        == pooled_before + settled.fund_fen
    )
    assert ledger_offenders().clean


def test_one_chunk_claiming_expenses_and_reversals_records_each_with_its_kind(
    policies, alice, hospital
):
    """The claim returns its entries as one list of ids per kind (the rest
    of each line as the separator): a chunk holding several of each writes
    every entry once, flagged by its kind, in its batch and chunk."""
    old = [_submit(hospital, alice, f"old{i}") for i in range(3)]
    first = settlement_start(period=dt.date(2026, 3, 2), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=first.pk)
    for e in old[:2]:
        expense_reverse(institution=hospital, expense_id=e.pk)
    new = [_submit(hospital, alice, f"new{i}", 50000) for i in range(2)]

    later = settlement_start(period=dt.date(2026, 3, 3), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=later.pk)

    later.refresh_from_db()
    got = sorted(
        SettlementEntry.objects.filter(batch=later).values_list("expense_id", "reversal", "chunk")
    )
    assert got == sorted([(e.pk, True, 1) for e in old[:2]] + [(e.pk, False, 1) for e in new])
    assert later.chunks_done == 1
    reversed_fen = sum(Expense.objects.get(pk=e.pk).fund_fen for e in old[:2])
    new_fen = sum(Expense.objects.get(pk=e.pk).fund_fen for e in new)
    assert (later.expense_count, later.fund_fen, later.reversal_count, later.reversed_fen) == (
        2,
        new_fen,
        2,
        reversed_fen,
    )
    assert (later.lowest_expense_id, later.highest_expense_id) == (new[0].pk, new[1].pk)
    assert not SettlementWork.objects.exists()
    assert ledger_offenders().clean


def test_a_reversal_before_settlement_is_never_settled(policies, alice, hospital):
    e = _submit(hospital, alice, "x", 500000)
    expense_reverse(institution=hospital, expense_id=e.pk)

    assert settlement_start(period=dt.date(2026, 3, 2), cutoff=timezone.now(), enqueue=False) == []
    assert not SettlementEntry.objects.exists() and not SettlementWork.objects.exists()


def test_settle_now_sends_the_task_only_after_commit(
    policies, alice, hospital, client_for, staff, django_capture_on_commit_callbacks
):
    _submit(hospital, alice, "a", 500000)
    client = client_for(staff)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = client.post("/staff/settlement/settle/", {"confirm": "yes"})

    batch = SettlementBatch.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/staff/settlement/{batch.pk}/"
    # (the staff action is audited: the audit trail asks for its seal after commit too)
    assert len([c for c in callbacks if c is not _request_seal]) == 1
    assert batch.status == "pending" and batch.expected_count == 1
    settle_batch.apply(args=[batch.pk])  # what the worker runs
    progress = client.get(f"/staff/settlement/{batch.pk}/progress.json").json()
    assert (progress["status"], progress["percent"], progress["done"]) == ("done", 100, 1)
    page = client.get(f"/staff/settlement/{batch.pk}/")
    assert page.status_code == 200 and "claims_progress.js" in page.content.decode()
    csv = b"".join(client.get(f"/staff/settlement/{batch.pk}/expenses.csv").streaming_content)
    rows = list(csv_module.reader(io.StringIO(csv.decode("utf-8-sig"))))
    expense = Expense.objects.get()
    assert rows[1] == [
        str(expense.pk),
        "2026-03-01",
        "outpatient",
        "accepted",
        "expense",
        "5,000.00",
        "2,240.00",
        "0.00",
        "2,760.00",
        "2,240.00",
    ]
    assert len(rows) == 2
    assert client.get("/staff/settlement/totals/").status_code == 200
    assert client.get("/staff/settlement/").status_code == 200


def test_settle_now_asks_first_and_a_bare_post_settles_nothing(
    policies, alice, hospital, client_for, staff
):
    _submit(hospital, alice, "a", 500000)
    client = client_for(staff)

    page = client.get("/staff/settlement/settle/", HTTP_ACCEPT_LANGUAGE="en")
    bare = client.post("/staff/settlement/settle/", HTTP_ACCEPT_LANGUAGE="en")

    for response in (page, bare):
        assert response.status_code == 200
        body = response.content.decode()
        assert 'data-testid="settle-confirm"' in body
        assert hospital.name in body
        assert "cannot be unsettled" in body
    assert not SettlementBatch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_settle_now_says_done_when_the_work_ran_in_process(
    policies, alice, hospital, client_for, staff, settings
):
    # Without a broker the task runs on commit, before the page answers.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from portal.celery import app

    app.conf.task_always_eager = True
    try:
        _submit(hospital, alice, "a", 500000)
        client = client_for(staff)

        response = client.post(
            "/staff/settlement/settle/", {"confirm": "yes"}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
        )
    finally:
        app.conf.task_always_eager = False

    body = response.content.decode()
    assert SettlementBatch.objects.get().status == "done"
    assert "Settled: 1 institutions, every batch done." in body
    assert "started" not in body


def test_staff_pages_refuse_members(alice, client_for):
    client = client_for(alice)
    assert client.get("/staff/settlement/").status_code == 403
    assert client.post("/staff/settlement/settle/").status_code == 403
    assert SettlementBatch.objects.count() == 0


# --- Real workers ---------------------------------------------------------------


def _many(policies_fixture, inst, person, n):
    for i in range(n):
        _submit(inst, person, f"w{i}", 300000)


@pytest.mark.django_db(transaction=True)
def test_settlement_survives_a_sigkill_mid_batch_and_a_restart(
    policies, alice, hospital, claims_worker
):
    _many(policies, hospital, alice, 12)
    batch = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)[0]
    w = claims_worker
    w.extra_env.update(CLAIMS_SETTLEMENT_CHUNK_SIZE="3", CLAIMS_SETTLEMENT_CHUNK_PAUSE="2")
    proc = w.start()

    w.send(settle_batch, batch.pk)
    wait_for(
        lambda: SettlementBatch.objects.get(pk=batch.pk).chunks_done >= 1,
        what="the first chunk to commit",
    )
    w.kill(proc)

    batch.refresh_from_db()
    assert batch.status == "running" and 1 <= batch.chunks_done < 4
    assert SettlementEntry.objects.filter(batch=batch).count() == 3 * batch.chunks_done
    # the task comes again (redelivery or the next beat) to a restarted worker
    w.extra_env["CLAIMS_SETTLEMENT_CHUNK_PAUSE"] = "0"
    w.start()
    w.send(settle_batch, batch.pk)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="batch done")
    batch.refresh_from_db()
    assert (batch.expense_count, batch.chunks_done) == (12, 4)
    _assert_settled_exactly_once(hospital)


def _worker_holds_a_chunk() -> bool:
    """Another connection (the worker) sits inside an open chunk transaction."""
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
        )
        return c.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_sigkill_inside_a_chunk_leaves_nothing_of_it(policies, alice, hospital, claims_worker):
    _many(policies, hospital, alice, 6)
    batch = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)[0]
    w = claims_worker
    proc = w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="3", CLAIMS_SETTLEMENT_PAUSE_INSIDE_CHUNK="30")

    w.send(settle_batch, batch.pk)
    wait_for(_worker_holds_a_chunk, what="the worker to hold a chunk open")
    w.kill(proc)
    # PostgreSQL rolls the open chunk back when the connection dies
    wait_for(lambda: not _worker_holds_a_chunk(), what="the killed connection to go")

    batch.refresh_from_db()
    assert (batch.chunks_done, batch.expense_count) == (0, 0)
    assert not SettlementEntry.objects.exists()
    assert SettlementWork.objects.count() == 6
    assert not JournalTransaction.objects.filter(kind="claims.settlement").exists()
    w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="3")
    w.send(settle_batch, batch.pk)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="done")
    _assert_settled_exactly_once(hospital)


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_batch_settle_it_once(policies, alice, hospital, claims_worker):
    _many(policies, hospital, alice, 20)
    batch = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)[0]
    w = claims_worker
    w.extra_env.update(CLAIMS_SETTLEMENT_CHUNK_SIZE="2", CLAIMS_SETTLEMENT_CHUNK_PAUSE="0.1")
    w.start()
    w.start()

    w.send(settle_batch, batch.pk)
    w.send(settle_batch, batch.pk)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="done")
    wait_for(
        lambda: all("succeeded" in p.log_path.read_text() for p in w.procs),
        what="both tasks to finish",
    )

    batch.refresh_from_db()
    assert (batch.expense_count, batch.chunks_done) == (20, 10)
    logs = [p.log_path.read_text() for p in w.procs]
    assert all("chunk committed" in log for log in logs), "both workers took part"
    _assert_settled_exactly_once(hospital)


def test_the_database_refuses_a_second_settlement_and_edits_of_entries(policies, alice, hospital):
    from django.db import IntegrityError, InternalError, ProgrammingError, transaction

    e = _submit(hospital, alice, "once", 500000)
    batch = settlement_start(period=dt.date(2026, 3, 2), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=batch.pk)
    entry = SettlementEntry.objects.get()
    assert (entry.expense_id, entry.reversal, entry.batch_id, entry.chunk) == (
        e.pk,
        False,
        batch.pk,
        1,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementEntry.objects.create(expense=e, reversal=False, batch=batch, chunk=2)
    for statement in (
        "UPDATE claims_settlemententry SET chunk = 7",
        "DELETE FROM claims_settlemententry",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError, IntegrityError)),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(statement)
    assert list(SettlementEntry.objects.values_list("chunk", flat=True)) == [1]


def test_a_batch_settling_an_expense_and_then_its_reversal_lists_both(
    policies, alice, hospital, client_for, staff
):
    e = _submit(hospital, alice, "both", 500000)
    period = dt.date(2026, 3, 2)
    batch = settlement_start(period=period, cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=batch.pk)
    expense_reverse(institution=hospital, expense_id=e.pk)
    queued = SettlementWork.objects.get()
    assert (queued.expense_id, queued.kind, queued.fund_fen) == (e.pk, "reversal", e.fund_fen)

    # the same day's batch is reopened with a later cutoff and takes the reversal
    again = settlement_start(period=period, cutoff=timezone.now(), enqueue=False)[0]
    assert again.pk == batch.pk and again.expected_count == 2
    settlement_run_batch(batch_id=batch.pk)

    batch.refresh_from_db()
    assert (batch.expense_count, batch.reversal_count, batch.net_fen) == (1, 1, 0)
    assert not SettlementWork.objects.exists()
    client = client_for(staff)
    page = client.get(f"/staff/settlement/{batch.pk}/")
    assert [(x.pk, x.settled_here, x.reversal_settled_here) for x in page.context["expenses"]] == [
        (e.pk, True, True)
    ]
    csv = b"".join(client.get(f"/staff/settlement/{batch.pk}/expenses.csv").streaming_content)
    rows = list(csv_module.reader(io.StringIO(csv.decode("utf-8-sig"))))
    assert [r[4:] for r in rows[1:]] == [
        ["expense", "5,000.00", "2,240.00", "0.00", "2,760.00", "2,240.00"],
        ["reversal", "", "", "", "", "-2,240.00"],
    ]
    assert ledger_offenders().clean


@pytest.mark.django_db(transaction=True)
def test_a_refund_during_a_chunk_waits_for_it_and_is_settled_later(
    policies, alice, hospital, claims_worker
):
    import threading

    from django.db import connections

    _many(policies, hospital, alice, 4)
    last = Expense.objects.filter(institution=hospital).order_by("-id").first()
    batch = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)[0]
    w = claims_worker
    w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="10", CLAIMS_SETTLEMENT_PAUSE_INSIDE_CHUNK="3")
    w.send(settle_batch, batch.pk)

    wait_for(_worker_holds_a_chunk, what="the worker to hold its chunk open")
    # the refund (another connection) meets the chunk's claim on the queue row
    done = {}

    def refund():
        try:
            done["expense"] = expense_reverse(institution=hospital, expense_id=last.pk)
        finally:
            connections.close_all()

    t = threading.Thread(target=refund)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive() and done["expense"].status == "reversed"
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="done")

    # the chunk settled all four (the refund came after its claim), and the
    # refund queued a reversal instead of escaping settlement
    batch.refresh_from_db()
    assert (batch.expense_count, batch.reversal_count) == (4, 0)
    work = SettlementWork.objects.get()
    assert (work.expense_id, work.kind) == (last.pk, "reversal")
    later = settlement_start(period=dt.date(2030, 1, 1), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=later.pk)
    later.refresh_from_db()
    assert (later.reversal_count, later.reversed_fen) == (1, last.fund_fen)
    assert not SettlementWork.objects.exists()
    assert ledger_offenders().clean


def test_a_batch_lists_its_own_claims_among_other_institutions_and_days(
    policies, alice, hospital, pharmacy, django_assert_max_num_queries
):
    """The staff page and the CSV find a batch's expenses through the
    institution's expenses between the batch's lowest and highest id: expenses
    of another institution in between, of the institution's next batch, and
    refunded before settlement are not the batch's; its reversals of earlier
    expenses are, in id order among its expenses, and paging by keyset walks
    them all exactly once."""
    from claims.selectors import batch_expense_rows, batch_expenses

    first = []
    for n in range(7):
        first.append(_submit(hospital, alice, f"h{n}", 300000))
        _submit(pharmacy, alice, f"p{n}", 300000)
    # One expense comes due only after the first cutoff (as one committed
    # late would): the next batch settles it, inside this batch's id range.
    late = first[3]
    SettlementWork.objects.filter(expense=late).update(
        due_at=timezone.now() + dt.timedelta(hours=1)
    )
    day1 = dt.date(2026, 3, 2)
    for b in settlement_start(period=day1, cutoff=timezone.now(), enqueue=False):
        settlement_run_batch(batch_id=b.pk, chunk_size=3)
    batch1 = SettlementBatch.objects.get(institution=hospital, period=day1)

    later = [_submit(hospital, alice, f"later{n}", 300000) for n in range(3)]
    _submit(pharmacy, alice, "p-later", 300000)
    expense_reverse(institution=hospital, expense_id=first[1].pk)
    expense_reverse(institution=hospital, expense_id=first[5].pk)
    expense_reverse(institution=hospital, expense_id=later[1].pk)  # before settlement
    day2 = dt.date(2026, 3, 3)
    day2_cutoff = timezone.now() + dt.timedelta(hours=2)
    for b in settlement_start(period=day2, cutoff=day2_cutoff, enqueue=False):
        settlement_run_batch(batch_id=b.pk, chunk_size=2)
    batch2 = SettlementBatch.objects.get(institution=hospital, period=day2)
    assert (batch2.expense_count, batch2.reversal_count) == (3, 2)

    def walk(batch, limit):
        seen, after = [], None
        while True:
            with django_assert_max_num_queries(3):
                page = batch_expenses(batch, after=after, limit=limit)
            seen += [(e.pk, e.settled_here, e.reversal_settled_here) for e in page]
            if len(page) < limit:
                return seen
            after = page[-1].pk

    expected1 = [(e.pk, True, False) for e in first if e != late]
    expected2 = sorted(
        [(first[1].pk, False, True), (first[5].pk, False, True)]
        + [(e.pk, True, False) for e in (late, later[0], later[2])]
    )
    for limit in (1, 2, 3, 100):
        assert walk(batch1, limit) == expected1
        assert walk(batch2, limit) == expected2

    rows = [(r[0], r[4]) for r in batch_expense_rows(batch2)]
    assert rows == [(pk, not here) for pk, here, _rev in expected2]
    assert [(r[0], r[4]) for r in batch_expense_rows(batch1)] == [
        (pk, False) for pk, _here, _rev in expected1
    ]
    assert (batch1.lowest_expense_id, batch1.highest_expense_id) == (first[0].pk, first[-1].pk)
    assert (batch2.lowest_expense_id, batch2.highest_expense_id) == (late.pk, later[2].pk)


def test_the_migration_fills_the_ranges_of_batches_settled_before_it(policies, alice, hospital):
    """Batches settled before migration 0005 get their lowest and highest
    expense id from their entries (reversals left out), so their staff page
    still lists them."""
    import importlib

    from django.apps import apps

    from claims.selectors import batch_expenses

    migration = importlib.import_module("claims.migrations.0005_settlement_batch_ranges")
    first = [_submit(hospital, alice, f"m{n}", 300000) for n in range(3)]
    batch = settlement_start(period=dt.date(2026, 3, 2), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=batch.pk)
    expense_reverse(institution=hospital, expense_id=first[0].pk)
    again = settlement_start(period=dt.date(2026, 3, 3), cutoff=timezone.now(), enqueue=False)[0]
    settlement_run_batch(batch_id=again.pk)
    SettlementBatch.objects.update(lowest_expense_id=None, highest_expense_id=None)

    migration.fill_ranges(apps, None)

    batch.refresh_from_db()
    again.refresh_from_db()
    assert (batch.lowest_expense_id, batch.highest_expense_id) == (first[0].pk, first[-1].pk)
    assert (again.lowest_expense_id, again.highest_expense_id) == (None, None)  # a reversal only
    assert [e.pk for e in batch_expenses(batch)] == [e.pk for e in first]
    assert [(e.pk, e.reversal_settled_here) for e in batch_expenses(again)] == [(first[0].pk, True)]
