"""Fault tests against real servers: a real Celery worker process, a Redis we
start ourselves (never the shared one), and the test PostgreSQL database.

After each fault: no expense lost (every accepted expense is in a batch), none
settled twice (chunk and ledger totals equal the fund parts exactly once), and
``verify_ledger`` is clean.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.models import JournalTransaction
from accounts.selectors import ledger_offenders
from accounts.services import institution_payable
from claims.models import Expense, SettlementBatch, SettlementChunk, SettlementEntry
from claims.services import LineInput, expense_submit
from claims.settlement import settlement_start
from claims.tasks import settle_batch, settle_due
from portal.celery import app
from tests.claims.conftest import claims_worker, hospital, policies, wait_for  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _submit_many(inst, person, n, start=0):
    for i in range(start, start + n):
        expense_submit(
            institution=inst,
            idempotency_key=f"fault-{i}",
            patient_id_number=person.id_number,
            service_date=dt.date(2026, 3, 1),
            care_type="outpatient",
            lines=[LineInput("A", 300000)],
        )


def _open_batch() -> SettlementBatch:
    return settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)[0]


def _assert_none_lost_none_twice(inst, expected: int):
    accepted = Expense.objects.filter(institution=inst, status="accepted")
    assert accepted.count() == expected
    assert not accepted.filter(settlement_entries__isnull=True).exists(), "an expense was lost"
    owed = accepted.aggregate(s=Sum("fund_fen"))["s"]
    batches = SettlementBatch.objects.filter(institution=inst)
    chunks = SettlementChunk.objects.filter(batch__in=batches)
    assert chunks.aggregate(n=Sum("expense_count"))["n"] == expected, "settled twice"
    assert chunks.aggregate(s=Sum("fund_fen"))["s"] == owed
    assert batches.aggregate(s=Sum("fund_fen"))["s"] == owed
    paid = JournalTransaction.objects.filter(
        kind="claims.settlement", postings__account=institution_payable(inst.pk)
    ).aggregate(s=Sum("postings__amount_fen"))["s"]
    assert paid == owed
    assert ledger_offenders().clean
    call_command("verify_ledger")  # raises CommandError when not clean


# --- SIGKILL ------------------------------------------------------------------


def test_sigkill_mid_settlement_then_the_beat_task_finishes_it(
    policies,  # noqa: F811
    alice,
    hospital,  # noqa: F811
    claims_worker,  # noqa: F811
):
    _submit_many(hospital, alice, 12)
    batch = _open_batch()
    w = claims_worker
    proc = w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="3", CLAIMS_SETTLEMENT_CHUNK_PAUSE="2")

    w.send(settle_batch, batch.pk)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).chunks_done >= 1, what="chunk 1")
    w.kill(proc)
    batch.refresh_from_db()
    assert batch.status == "running" and batch.chunks_done < 4

    # A new worker; nobody re-sends the lost task: the daily beat task
    # (settle_due) finds the unfinished batch and completes it.
    w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="3")
    w.send(settle_due)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="done")

    _assert_none_lost_none_twice(hospital, 12)
    assert SettlementChunk.objects.filter(batch=batch).count() == 4


# --- Redis restarted during a run ---------------------------------------------------


def _free_port(start: int = 6390) -> int:
    for port in range(start, start + 50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port for a private Redis")


class PrivateRedis:
    """A redis-server of our own (no persistence), so restarting it loses
    whatever it held, as a crashed broker would."""

    def __init__(self, tmp_path):
        self.port = _free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=(self.dir / "redis.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self, down_for: float = 1.0):
        self.stop()
        time.sleep(down_for)
        self.start()


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is missing (Debian package redis-server)")
    r = PrivateRedis(tmp_path)
    r.start()
    yield r
    r.stop()


def _send_via(url: str, task, queue: str, *args):
    with app.connection_for_write(url) as conn:
        task.apply_async(args=args, queue=queue, connection=conn)


def test_redis_restarted_during_a_run(
    policies,  # noqa: F811
    alice,
    hospital,  # noqa: F811
    claims_worker,  # noqa: F811
    private_redis,
):
    _submit_many(hospital, alice, 10)
    batch = _open_batch()
    w = claims_worker
    w.extra_env.update(
        REDIS_URL=private_redis.url,
        CELERY_BROKER_URL=private_redis.url,
        CELERY_RESULT_BACKEND=private_redis.url,
        CLAIMS_SETTLEMENT_CHUNK_SIZE="2",
        CLAIMS_SETTLEMENT_CHUNK_PAUSE="1",
    )
    proc = w.start()

    _send_via(private_redis.url, settle_batch, w.queue, batch.pk)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).chunks_done >= 1, what="chunk 1")
    private_redis.restart()
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="done")

    # The same worker reconnects to the restarted broker and takes new work.
    _submit_many(hospital, alice, 4, start=10)
    _open_batch()
    wait_for(
        lambda: proc.log_path.read_text().count("Connected to redis") >= 2,
        what="the worker to reconnect",
    )
    _send_via(private_redis.url, settle_batch, w.queue, batch.pk)
    wait_for(
        lambda: (
            SettlementBatch.objects.get(pk=batch.pk).expense_count == 14
            and SettlementBatch.objects.get(pk=batch.pk).status == "done"
        ),
        what="the new work settled after the restart",
    )

    assert proc.poll() is None, "the worker survived the broker restart"
    _assert_none_lost_none_twice(hospital, 14)


# --- PostgreSQL connections terminated mid-batch ------------------------------------


def _worker_backends() -> list[int]:
    with connection.cursor() as c:
        c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in c.fetchall()]


def _in_open_chunk() -> bool:
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
        )
        return c.fetchone()[0] > 0


def test_postgresql_connections_terminated_mid_batch(
    policies,  # noqa: F811
    alice,
    hospital,  # noqa: F811
    claims_worker,  # noqa: F811
):
    _submit_many(hospital, alice, 9)
    batch = _open_batch()
    w = claims_worker
    proc = w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="3", CLAIMS_SETTLEMENT_PAUSE_INSIDE_CHUNK="2")

    w.send(settle_batch, batch.pk)
    wait_for(
        lambda: SettlementBatch.objects.get(pk=batch.pk).chunks_done >= 1 and _in_open_chunk(),
        what="the worker inside its second chunk",
    )
    with connection.cursor() as c:
        for pid in _worker_backends():
            c.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(
        lambda: (
            "OperationalError" in proc.log_path.read_text()
            or "InterfaceError" in proc.log_path.read_text()
        ),
        what="the task to fail on its lost connection",
    )

    # the chunk that was open is rolled back whole; the committed one stays
    batch.refresh_from_db()
    assert batch.chunks_done == 1
    assert SettlementEntry.objects.filter(batch=batch).count() == 3
    assert JournalTransaction.objects.filter(kind="claims.settlement").count() == 1

    # the same worker process opens a new connection for the next task
    w.send(settle_batch, batch.pk)
    wait_for(lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done", what="done")

    assert proc.poll() is None
    _assert_none_lost_none_twice(hospital, 9)
