"""/metrics: who may read it, and the portal's own figures as work happens."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from claims.services import LineInput, expense_submit
from claims.settlement import settlement_run_batch, settlement_start
from claims.tasks import settle_batch
from payments.services import contributions_import
from tests.claims.conftest import fund
from tests.payments.helpers import csv_bytes, unknown_number

OUTSIDE = "203.0.113.9"


def value(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


@pytest.mark.django_db
def test_metrics_refuse_an_outside_address_a_proxied_request_and_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    outside = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    proxied = client.get("/metrics", headers={"X-Forwarded-For": OUTSIDE})
    wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer nope"})
    token = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer s3cret-scrape-token"}
    )
    loopback = client.get("/metrics")  # the test client's 127.0.0.1

    assert (outside.status_code, proxied.status_code, wrong.status_code) == (403, 403, 403)
    assert b"portal_" not in outside.content
    assert token.status_code == 200
    assert loopback.status_code == 200
    assert b"portal_http_requests_total" in loopback.content


@pytest.mark.django_db
def test_no_token_configured_means_no_token_is_accepted(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer "})

    assert response.status_code == 403


@pytest.mark.django_db
def test_allowed_addresses_come_from_the_setting(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.2.0/24"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.7").status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback no longer listed


def test_the_portal_figures_follow_imports_expenses_and_settlement(
    client,
    alice,
    policies,
    hospital,
    django_capture_on_commit_callbacks,
):
    # given
    before = {
        "imported": value("portal_import_rows_total", outcome="imported"),
        "bad": value("portal_import_rows_total", outcome="bad"),
        "credit": value("portal_ledger_transactions_total", kind="claims.settlement"),
        "views": value("portal_http_requests_total", view="healthz", method="GET", status="200"),
    }
    assert scraped(client)[("portal_settlement_work_pending", (("kind", "expense"),))] == 0

    # when: a small import (one good row, one bad)
    with django_capture_on_commit_callbacks(execute=True):
        contributions_import(
            data=csv_bytes(
                f"{alice.id_number},2025-01,8000,784.00,160.00,employer,2025-01-15,paid",
                f"{unknown_number()},2025-01,8000,784,160,employer,2025-01-15,paid",
            ),
            file_name="small.csv",
        )
    # when: two expenses submitted
    fund(alice, current=10000)
    with django_capture_on_commit_callbacks(execute=True):
        for key in ("m1", "m2"):
            expense_submit(
                institution=hospital,
                idempotency_key=key,
                patient_id_number=alice.id_number,
                service_date=dt.date(2026, 3, 1),
                care_type="outpatient",
                lines=[LineInput("A", 300000)],
            )
    client.get("/healthz")
    during = scraped(client)
    # when: settled
    [batch] = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)
    pending_batch = scraped(client)
    with django_capture_on_commit_callbacks(execute=True):
        settlement_run_batch(batch_id=batch.pk)
    after = scraped(client)

    # then
    assert value("portal_import_rows_total", outcome="imported") == before["imported"] + 1
    assert value("portal_import_rows_total", outcome="bad") == before["bad"] + 1
    assert during[("portal_settlement_work_pending", (("kind", "expense"),))] == 2
    assert pending_batch[("portal_settlement_work_pending", (("kind", "expense"),))] == 2
    assert pending_batch[("portal_settlement_batches_pending", (("status", "pending"),))] == 1
    assert after[("portal_settlement_work_pending", (("kind", "expense"),))] == 0
    assert after[("portal_settlement_batches_pending", (("status", "pending"),))] == 0
    assert after[("portal_settlement_batches_pending", (("status", "running"),))] == 0
    assert (
        value("portal_ledger_transactions_total", kind="claims.settlement") == before["credit"] + 1
    )
    key = (
        "portal_http_requests_total",
        (("method", "GET"), ("status", "200"), ("view", "healthz")),
    )
    assert during[key] == before["views"] + 1
    assert during[("portal_http_request_duration_seconds_count", (("view", "healthz"),))] >= 1
    db_key = (
        "portal_db_query_duration_seconds_count",
        (("alias", "default"), ("vendor", "postgresql")),
    )
    assert after[db_key] > during[db_key]


def test_sign_in_failures_and_lockouts_are_counted(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    failures = value("portal_signin_failures_total")
    lockouts = value("portal_signin_lockouts_total")

    first = client.post("/accounts/login/", {"username": alice.id_number, "password": "wrong"})
    second = client.post("/accounts/login/", {"username": alice.id_number, "password": "wrong"})

    assert (first.status_code, second.status_code) == (200, 429)
    assert value("portal_signin_failures_total") == failures + 2
    assert value("portal_signin_lockouts_total") == lockouts + 1


def test_celery_task_outcomes_are_counted(db):
    ok = value("portal_celery_tasks_total", task="claims.tasks.settle_batch", outcome="success")
    failed = value("portal_celery_tasks_total", task="claims.tasks.settle_batch", outcome="failure")

    settle_batch.apply(args=[999_999])  # no such batch: nothing to do
    settle_batch.apply(args=["not-a-number"], throw=False)

    assert (
        value("portal_celery_tasks_total", task="claims.tasks.settle_batch", outcome="success")
        == ok + 1
    )
    assert (
        value("portal_celery_tasks_total", task="claims.tasks.settle_batch", outcome="failure")
        == failed + 1
    )


def test_cache_reads_are_timed_and_counted(db):
    hits = value("portal_cache_gets_total", result="hit")
    misses = value("portal_cache_gets_total", result="miss")

    cache.set("ops-metrics-test", 1, 30)
    cache.get("ops-metrics-test")
    cache.get("ops-metrics-test-missing")

    assert value("portal_cache_gets_total", result="hit") == hits + 1
    assert value("portal_cache_gets_total", result="miss") == misses + 1
    assert value("portal_cache_operation_duration_seconds_count", operation="set") >= 1
