"""Claims fixtures: benefit policies, institutions with API tokens, money in
pockets, and a real Celery worker process (``claims_worker``)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import AccountKind
from accounts.services import ledger_post, member_pockets, system_account
from claims.models import BenefitPolicy, BenefitPool, CareType
from claims.services import institution_create, institution_token_create
from members.models import InsuranceType

ROOT = Path(__file__).resolve().parents[2]

# The policy parameters of the worked examples (docs/adr/0005), region 110100.
EMPLOYEE_POLICIES = {
    CareType.OUTPATIENT: (BenefitPool.OUTPATIENT, 180000, "0.70", 2000000, True),
    CareType.EMERGENCY: (BenefitPool.OUTPATIENT, 180000, "0.70", 2000000, True),
    CareType.PHARMACY: (BenefitPool.OUTPATIENT, 180000, "0.70", 2000000, True),
    CareType.INPATIENT: (BenefitPool.INPATIENT, 130000, "0.85", 50000000, False),
}
RESIDENT_POLICIES = {
    CareType.OUTPATIENT: (BenefitPool.OUTPATIENT, 10000, "0.55", 400000, True),
    CareType.EMERGENCY: (BenefitPool.OUTPATIENT, 10000, "0.55", 400000, True),
    CareType.PHARMACY: (BenefitPool.OUTPATIENT, 10000, "0.55", 400000, True),
    CareType.INPATIENT: (BenefitPool.INPATIENT, 80000, "0.75", 25000000, False),
}


def make_policies(year: int, region: str = "110100") -> None:
    for scheme, table in (
        (InsuranceType.EMPLOYEE, EMPLOYEE_POLICIES),
        (InsuranceType.RETIRED, EMPLOYEE_POLICIES),
        (InsuranceType.RESIDENT, RESIDENT_POLICIES),
    ):
        for care, (pool, ded, ratio, ceiling, current) in table.items():
            BenefitPolicy.objects.get_or_create(
                region=region,
                scheme=scheme,
                care_type=care,
                year=year,
                defaults=dict(
                    pool=pool,
                    deductible_fen=ded,
                    ratio=Decimal(ratio),
                    ceiling_fen=ceiling,
                    class_b_self_ratio=Decimal("0.10"),
                    current_pocket_allowed=current,
                ),
            )


@pytest.fixture
def policies(db):
    make_policies(2025)
    make_policies(2026)


@pytest.fixture
def hospital(db):
    inst = institution_create(name="City Hospital", kind="hospital", region="110100")
    _token, raw = institution_token_create(institution=inst)
    inst.raw_token = raw
    return inst


@pytest.fixture
def pharmacy(db):
    inst = institution_create(name="Corner Pharmacy", kind="pharmacy", region="110100")
    _token, raw = institution_token_create(institution=inst)
    inst.raw_token = raw
    return inst


def fund(person, *, current: int = 0, prior: int = 0, key: str | None = None) -> None:
    """Put money in a person's pockets (from the pooled fund)."""
    cur, pri = member_pockets(person)
    postings = [(system_account(AccountKind.POOLED_FUND), -(current + prior))]
    if current:
        postings.append((cur, current))
    if prior:
        postings.append((pri, prior))
    ledger_post(
        idempotency_key=key or f"test-fund:{person.pk}:{uuid.uuid4()}",
        kind="test.credit",
        postings=postings,
    )


@pytest.fixture
def approved_link(settings, tmp_path, django_user_model):
    """``approved_link(member, relative, relationship=..., cap_fen=...)``: a family
    link made the way members and staff make it (family.services): the
    member's request with the agreement and a real document, the register
    check, then a staff approval. So the rules hold here too: the relationship
    must fit both numbers, paying needs the member's personal account and a
    relative insured in the same province."""
    from family import services as family_services
    from tests.family.conftest import request_link

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"

    def _link(
        member,
        relative,
        *,
        relationship: str,
        cap_fen: int | None = None,
        scope_pay: bool = True,
        scope_balance: bool = False,
        scope_records: bool = False,
    ):
        reviewer, _ = django_user_model.objects.get_or_create(
            username="claims-reviewer", defaults={"is_staff": True}
        )
        link = request_link(
            member,
            relative,
            relationship=relationship,
            scope_balance=scope_balance,
            scope_records=scope_records,
            scope_pay=scope_pay,
            pay_yearly_cap_fen=cap_fen,
        )
        return family_services.link_approve(link_id=link.pk, reviewer=reviewer)

    return _link


def expense_body(id_number, care_type="outpatient", lines=None, day="2025-03-01"):
    return {
        "patient_id_number": id_number,
        "service_date": day,
        "care_type": care_type,
        "lines": lines or [{"catalog_class": "A", "amount": "100.00"}],
    }


@pytest.fixture
def institution_api():
    """``institution_api(inst).post(path, body, key=...)``: a DRF client with the
    institution's Bearer token and an optional Idempotency-Key."""
    from rest_framework.test import APIClient

    class _Client:
        def __init__(self, inst):
            self.client = APIClient()
            self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {inst.raw_token}")

        def submit(self, body, key="k-1"):
            headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
            return self.client.post("/api/v1/claims/expenses/", body, format="json", **headers)

        def reverse(self, expense_id, reason="refund"):
            return self.client.post(
                f"/api/v1/claims/expenses/{expense_id}/reversal/", {"reason": reason}, format="json"
            )

        def get(self, expense_id):
            return self.client.get(f"/api/v1/claims/expenses/{expense_id}/")

    return _Client


# --- A real Celery worker -----------------------------------------------------


class WorkerProcess:
    """A ``celery -A portal worker --pool=solo`` subprocess on the TEST
    database and this session's Redis, consuming its own queue."""

    def __init__(self, queue: str, log_dir: Path, extra_env: dict[str, str]):
        self.queue = queue
        self.log_dir = log_dir
        self.extra_env = extra_env
        self.procs: list[subprocess.Popen] = []

    def _env(self) -> dict[str, str]:
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            REDIS_URL=settings.REDIS_URL,
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_QUEUE=self.queue,
            # Every kind of task the worker sends (settle_due -> settle_batch)
            # stays on this test's queue (portal.celery_ops.route_task).
            CELERY_QUEUE_SETTLEMENT=self.queue,
            CELERY_QUEUE_NOTIFICATIONS=self.queue,
            CELERY_QUEUE_IMPORTS=self.queue,
            DJANGO_SETTINGS_MODULE="portal.settings",
            PYTHONUNBUFFERED="1",
        )
        if db.get("PASSWORD"):
            env["PGPASSWORD"] = db["PASSWORD"]
        env.update(self.extra_env)
        return env

    def start(self, **extra_env: str) -> subprocess.Popen:
        """Start one more worker; returns once it is ready to consume."""
        n = len(self.procs)
        log = self.log_dir / f"worker-{n}.log"
        env = self._env()
        env.update(extra_env)
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "portal",
                "worker",
                "--pool=solo",
                "-Q",
                self.queue,
                "-n",
                f"claims-test-{n}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=info",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{log.read_text()}")
            if " ready." in log.read_text():
                return proc
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after 60 s:\n{log.read_text()}")

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL: no clean-up, no ack, as when a machine dies."""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(proc)

    def send(self, task, *args):
        return task.apply_async(args=args, queue=self.queue)


@pytest.fixture
def claims_worker(transactional_db, tmp_path):
    """Real Celery worker processes for fault tests (use with
    ``@pytest.mark.django_db(transaction=True)``)::

        w = claims_worker  # WorkerProcess
        proc = w.start(CLAIMS_SETTLEMENT_CHUNK_PAUSE="1")
        w.send(settle_batch, batch.pk)
        w.kill(proc)  # SIGKILL

    Each test gets its own queue (so stale messages never reach it); extra
    environment for every worker of the test: ``w.extra_env[...] = ...``.
    """
    if not settings.CELERY_BROKER_URL:
        pytest.fail("the worker tests need REDIS_URL (a real broker)")
    worker = WorkerProcess(f"claims-test-{uuid.uuid4().hex[:8]}", tmp_path, {})
    yield worker
    worker.stop_all()
    for proc in worker.procs:
        sys.stdout.write(f"--- {proc.log_path.name} ---\n{proc.log_path.read_text()[-3000:]}\n")


def wait_for(predicate, *, timeout: float = 60, step: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)
