"""Settlement finishes by itself (issue 19 finding 11, docs/adr/0005): a
database error mid-batch is retried with backoff, and a batch whose worker
died is sent again by the stall sweeper within minutes. Real worker
processes, a real PostgreSQL error (the worker's connection terminated) and
a real SIGKILL; nobody presses anything."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.models import JournalTransaction
from claims.models import SettlementBatch, SettlementChunk, SettlementEntry
from claims.settlement import settlement_resume_stalled, settlement_start
from claims.tasks import settle_batch, settle_stalled

from .conftest import wait_for
from .test_settlement import _assert_settled_exactly_once, _many, _worker_holds_a_chunk


def _open_batch() -> SettlementBatch:
    return settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)[0]


def _worker_backends() -> list[int]:
    with connection.cursor() as c:
        c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in c.fetchall()]


def _status(batch_id: int) -> str:
    return SettlementBatch.objects.get(pk=batch_id).status


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_database_error_mid_batch_is_retried_until_the_batch_is_done(
    policies, alice, hospital, claims_worker
):
    # given: a worker inside the second chunk of a batch of three
    _many(policies, hospital, alice, 9)
    batch = _open_batch()
    w = claims_worker
    proc = w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="3", CLAIMS_SETTLEMENT_PAUSE_INSIDE_CHUNK="2")
    w.send(settle_batch, batch.pk)
    wait_for(
        lambda: (
            SettlementBatch.objects.get(pk=batch.pk).chunks_done >= 1 and _worker_holds_a_chunk()
        ),
        what="the worker inside its second chunk",
    )

    # when: PostgreSQL terminates the worker's connection
    with connection.cursor() as c:
        for pid in _worker_backends():
            c.execute("SELECT pg_terminate_backend(%s)", [pid])

    # then: the task retries by itself (nobody sends it again) and finishes
    wait_for(lambda: _status(batch.pk) == "done", timeout=90, what="the batch done")
    log = proc.log_path.read_text()
    assert "Retry in" in log and "OperationalError" in log, log[-2000:]
    assert proc.poll() is None
    batch.refresh_from_db()
    assert (batch.expense_count, batch.chunks_done) == (9, 3)
    assert SettlementEntry.objects.filter(batch=batch).count() == 9
    assert JournalTransaction.objects.filter(kind="claims.settlement").count() == 3
    _assert_settled_exactly_once(hospital)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_worker_died_is_sent_again_by_the_stall_sweeper(
    policies, alice, hospital, claims_worker
):
    # given: a worker SIGKILLed while it holds the second chunk of four
    _many(policies, hospital, alice, 12)
    batch = _open_batch()
    w = claims_worker
    w.extra_env.update(CLAIMS_SETTLEMENT_CHUNK_SIZE="3", CLAIMS_SETTLEMENT_STALL_SECONDS="2")
    proc = w.start(CLAIMS_SETTLEMENT_PAUSE_INSIDE_CHUNK="3")
    w.send(settle_batch, batch.pk)
    wait_for(
        lambda: (
            SettlementBatch.objects.get(pk=batch.pk).chunks_done >= 1 and _worker_holds_a_chunk()
        ),
        what="the worker inside its second chunk",
    )
    w.kill(proc)
    wait_for(lambda: not _worker_holds_a_chunk(), what="the killed connection to go")
    batch.refresh_from_db()
    assert batch.status == "running" and batch.chunks_done == 1
    assert batch.resumed_count == 0
    # the lost message waits for the broker's visibility timeout (40 min)

    # when: another worker runs the stall sweep, as beat does every minute,
    # once the heartbeat is older than CLAIMS_SETTLEMENT_STALL_SECONDS
    w.start()
    wait_for(
        lambda: (
            (timezone.now() - SettlementBatch.objects.get(pk=batch.pk).heartbeat_at).total_seconds()
            > 2.5
        ),
        what="the heartbeat to go stale",
    )
    w.send(settle_stalled)

    # then: the batch is sent again and finishes; every claim settled once
    wait_for(lambda: _status(batch.pk) == "done", timeout=90, what="the batch done")
    batch.refresh_from_db()
    assert batch.resumed_count == 1
    assert (batch.expense_count, batch.chunks_done) == (12, 4)
    assert list(
        SettlementChunk.objects.filter(batch=batch).values_list("number", "expense_count")
    ) == [(1, 3), (2, 3), (3, 3), (4, 3)]
    _assert_settled_exactly_once(hospital)

    # and the lost message, delivered late at last, changes nothing
    w.send(settle_batch, batch.pk)
    wait_for(
        lambda: w.procs[1].log_path.read_text().count("succeeded") >= 3,
        what="the late task to run",
    )
    batch.refresh_from_db()
    assert (batch.expense_count, batch.chunks_done) == (12, 4)
    _assert_settled_exactly_once(hospital)


# --- The sweeper's choice, in-process -----------------------------------------------


def _batch(hospital, *, status, heartbeat_age: float | None, day: int):
    now = timezone.now()
    return SettlementBatch.objects.create(
        institution=hospital,
        period=dt.date(2026, 3, day),
        cutoff=now,
        status=status,
        heartbeat_at=None if heartbeat_age is None else now - dt.timedelta(seconds=heartbeat_age),
    )


def test_the_sweeper_sends_again_only_unfinished_batches_gone_quiet(
    hospital, django_capture_on_commit_callbacks
):
    stale_running = _batch(hospital, status="running", heartbeat_age=600, day=1)
    stale_pending = _batch(hospital, status="pending", heartbeat_age=600, day=2)
    from_before_heartbeats = _batch(hospital, status="running", heartbeat_age=None, day=3)
    _batch(hospital, status="running", heartbeat_age=30, day=4)  # alive
    _batch(hospital, status="done", heartbeat_age=600, day=5)  # finished

    with django_capture_on_commit_callbacks() as callbacks:
        sent = settlement_resume_stalled(stall_seconds=180, enqueue=True)

    assert sent == [stale_running.pk, stale_pending.pk, from_before_heartbeats.pk]
    assert len(callbacks) == 3
    assert dict(SettlementBatch.objects.values_list("pk", "resumed_count")) == {
        **{pk: 1 for pk in sent},
        **{b.pk: 0 for b in SettlementBatch.objects.exclude(pk__in=sent)},
    }
    # at most once per stall period: the resent batches look alive again
    assert settlement_resume_stalled(stall_seconds=180, enqueue=False) == []


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_skips_a_batch_whose_chunk_is_running(hospital):
    # given: a quiet batch whose row another connection (a long chunk) holds
    busy = _batch(hospital, status="running", heartbeat_age=600, day=1)
    quiet = _batch(hospital, status="running", heartbeat_age=600, day=2)
    holding, release = threading.Event(), threading.Event()

    def chunk():
        with transaction.atomic():
            SettlementBatch.objects.select_for_update().get(pk=busy.pk)
            holding.set()
            release.wait(timeout=30)
        connections.close_all()

    t = threading.Thread(target=chunk)
    t.start()
    holding.wait(timeout=10)
    try:
        started = time.monotonic()
        sent = settlement_resume_stalled(stall_seconds=180, enqueue=False)
        waited = time.monotonic() - started
    finally:
        release.set()
        t.join()

    # then: it neither waited for that row nor sent that batch
    assert sent == [quiet.pk]
    assert waited < 5
    busy.refresh_from_db()
    assert busy.resumed_count == 0


def test_staff_see_a_batch_settling_again_after_a_stopped_worker(hospital, client_for, staff):
    batch = _batch(hospital, status="running", heartbeat_age=600, day=1)
    client = client_for(staff)
    en = {"HTTP_ACCEPT_LANGUAGE": "en"}
    progress = f"/staff/settlement/{batch.pk}/progress.json"
    assert client.get(progress, **en).json()["status_label"] == "Settling"

    settlement_resume_stalled(stall_seconds=180, enqueue=False)

    after = client.get(progress, **en).json()
    assert (after["status"], after["status_label"]) == (
        "running",
        "Settling again after a stopped worker",
    )
    assert "Settling again after a stopped worker" in client.get(
        "/staff/settlement/", **en
    ).content.decode("utf-8")
    assert "Settling again after a stopped worker" in client.get(
        f"/staff/settlement/{batch.pk}/", **en
    ).content.decode("utf-8")


def test_beat_runs_the_stall_sweep_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["settlement-stall-sweep"]

    assert entry == {
        "task": settle_stalled.name,
        "schedule": 60.0,
        "options": {"expires": 55},
    }
    assert settle_stalled.name == "claims.tasks.settle_stalled"
