"""Celery across machines: each kind of task on its own queue, time limits,
retries; a real worker on the settlement queue alone settles a batch started by
the staff button, and a worker on the default queue leaves it alone."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from celery import current_app
from django.conf import settings
from django.test import override_settings

from accounts.tasks import rollover_year_task
from claims.models import SettlementBatch
from claims.services import LineInput, expense_submit
from claims.tasks import settle_batch, settle_due
from portal.celery_ops import task_kind
from tests.claims.conftest import WorkerProcess, fund, wait_for


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("claims.tasks.settle_batch", "settlement"),
        ("claims.tasks.settle_due", "settlement"),
        ("family.tasks.send_decision_email", "notifications"),
        ("members.tasks.notify_lockout", "notifications"),
        ("family.tasks.review_email", "notifications"),
        ("payments.tasks.import_contributions_file", "imports"),
        ("accounts.tasks.rollover_year_task", "default"),
    ],
)
def test_tasks_are_sorted_into_kinds_by_name(name, kind):
    assert task_kind(name) == kind


def test_each_kind_is_routed_to_its_own_queue():
    router = current_app.amqp.router

    assert router.route({}, settle_batch.name)["queue"].name == "settlement"
    assert router.route({}, settle_due.name)["queue"].name == "settlement"
    assert router.route({}, "family.tasks.send_decision_email")["queue"].name == "notifications"
    assert router.route({}, "payments.tasks.import_file")["queue"].name == "imports"
    assert (
        router.route({}, rollover_year_task.name)["queue"].name
        == settings.CELERY_TASK_DEFAULT_QUEUE
    )
    # a worker started without -Q consumes every one of them
    assert sorted(q.name for q in settings.CELERY_TASK_QUEUES) == sorted(
        ["settlement", "notifications", "imports", settings.CELERY_TASK_DEFAULT_QUEUE]
    )


def test_time_limits_and_retries_per_kind():
    # settlement: limits only (its retries are claims.tasks' own)
    assert (settle_batch.time_limit, settle_batch.soft_time_limit) == (1800, 1740)
    assert not hasattr(settle_batch, "_orig_run")
    # the others: retried with exponential backoff on database and broker errors
    assert (rollover_year_task.time_limit, rollover_year_task.soft_time_limit) == (1800, 1740)
    assert hasattr(rollover_year_task, "_orig_run")
    names = {e.__name__ for e in rollover_year_task.autoretry_for}
    assert names == {"OperationalError", "InterfaceError", "ConnectionError", "TimeoutError"}
    assert rollover_year_task.retry_backoff == 5
    assert rollover_year_task.retry_backoff_max == 600
    assert rollover_year_task.max_retries == 5


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_settlement_worker_takes_the_staff_buttons_batch_and_a_default_worker_does_not(
    policies, alice, hospital, staff, client_for, tmp_path
):
    # given: two expenses due, and two real workers on this test's own queues
    fund(alice, current=10000)
    for key in ("q1", "q2"):
        expense_submit(
            institution=hospital,
            idempotency_key=key,
            patient_id_number=alice.id_number,
            service_date=dt.date(2026, 3, 1),
            care_type="outpatient",
            lines=[LineInput("A", 300000)],
        )
    tag = uuid.uuid4().hex[:8]
    default_q, settlement_q = f"ops-default-{tag}", f"ops-settlement-{tag}"
    kinds = {"CELERY_QUEUE_SETTLEMENT": settlement_q}
    default_worker = WorkerProcess(default_q, tmp_path, dict(kinds))
    settlement_worker = WorkerProcess(settlement_q, tmp_path / "s", dict(kinds))
    (tmp_path / "s").mkdir()
    default_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = default_q
    try:
        default_worker.start()
        with override_settings(CELERY_KIND_QUEUES={"settlement": settlement_q}):
            # when: staff press "Settle now"
            response = client_for(staff).post("/staff/settlement/settle/")
        batch = SettlementBatch.objects.get()
        assert response.status_code == 302

        # then: the default-queue worker leaves it
        time.sleep(4)
        batch.refresh_from_db()
        assert batch.status == "pending" and batch.expense_count == 0

        # when: a worker on the settlement queue alone starts
        settlement_worker.start()

        # then: it settles the batch
        wait_for(
            lambda: SettlementBatch.objects.get(pk=batch.pk).status == "done",
            what="the settlement worker to settle the batch",
        )
    finally:
        current_app.conf.task_default_queue = default_queue
        default_worker.stop_all()
        settlement_worker.stop_all()

    batch.refresh_from_db()
    assert (batch.status, batch.expense_count) == ("done", 2)
    default_log = (tmp_path / "worker-0.log").read_text()
    settlement_log = (tmp_path / "s" / "worker-0.log").read_text()
    # (the start-up banner lists every task; the JSON lines are what it did)
    assert not [x for x in default_log.splitlines() if x.startswith("{") and "settle" in x]
    # The worker logs JSON, with the request id of the button's request.
    task_lines = [
        json.loads(line)
        for line in settlement_log.splitlines()
        if line.startswith("{") and "settle_batch" in line
    ]
    assert any(line.get("request_id") == response["X-Request-ID"] for line in task_lines), (
        settlement_log[-3000:]
    )
