"""Prometheus metrics (prometheus_client), served at /metrics.

django-prometheus pins Django below 6.1, so the same figures are collected
here with prometheus_client directly:

- HTTP: requests per view, method and status; latency per view (middleware).
- Database: query time per alias and vendor, errors (an execute wrapper added
  to every new connection: works for PostgreSQL and the embedded SQLite alike).
- Cache: operation time and get hits/misses of the Redis cache (portal/cache.py).
- The portal's own: settlement batches and work still pending (computed at
  scrape time from two small tables), import rows by outcome, ledger
  transactions by kind, sign-in failures and lockouts (django-axes), Celery
  task outcomes.

With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (an empty
directory, before the processes start): every process writes its counters
there and a scrape adds them up (docs/operating.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

# --- Definitions --------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "portal_http_requests_total",
    "HTTP requests by view, method and status",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer a request, by view",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_QUERY = Histogram(
    "portal_db_query_duration_seconds",
    "Database statement time",
    ["alias", "vendor"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
DB_ERRORS = Counter(
    "portal_db_errors_total", "Database statements that raised", ["alias", "vendor"]
)
CACHE_OPS = Histogram(
    "portal_cache_operation_duration_seconds",
    "Cache operation time",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1),
)
CACHE_GETS = Counter("portal_cache_gets_total", "Cache reads by result", ["result"])
IMPORT_ROWS = Counter(
    "portal_import_rows_total", "Contribution import rows by outcome", ["outcome"]
)
IMPORT_FILES_REFUSED = Counter(
    "portal_import_files_refused_total", "Contribution files refused whole"
)
LEDGER_TRANSACTIONS = Counter(
    "portal_ledger_transactions_total", "Ledger transactions committed, by kind", ["kind"]
)
SIGNIN_FAILURES = Counter("portal_signin_failures_total", "Failed sign-ins")
SIGNIN_LOCKOUTS = Counter("portal_signin_lockouts_total", "Sign-in lockouts (django-axes)")
CELERY_TASKS = Counter("portal_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])


# --- Scrape-time gauges -----------------------------------------------------------


# Each app registers the gauges counted at scrape time for its own tables
# (claims.metrics.PendingWorkCollector, from claims/apps.py): the kernel
# names no feature app (docs/adr/0013).
SCRAPE_COLLECTORS: list = []


def register_scrape_collector(collector) -> None:
    if collector not in SCRAPE_COLLECTORS:
        SCRAPE_COLLECTORS.append(collector)


def scrape() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    pending = CollectorRegistry(auto_describe=False)
    for collector in SCRAPE_COLLECTORS:
        pending.register(collector)
    return generate_latest(base) + generate_latest(pending)


# --- The endpoint -----------------------------------------------------------------

_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def metrics_allowed(request) -> bool:
    """A bearer token (METRICS_TOKEN) or a direct connection from an allowed
    address (METRICS_ALLOWED_IPS). A request relayed by a proxy (it carries a
    forwarding header) is never let in by address: behind a proxy on the same
    machine every client would look like loopback."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    if any(request.META.get(h) for h in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def _allowed_networks():
    return [ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_IPS]


@never_cache
@require_GET
def metrics_view(request):
    if not metrics_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)


# --- Collection -------------------------------------------------------------------


class MetricsMiddleware:
    """First in the chain: counts and times every request by its view name."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unresolved"
        HTTP_LATENCY.labels(view).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        return response


def _time_query(execute, sql, params, many, context):
    connection = context["connection"]
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception:
        DB_ERRORS.labels(connection.alias, connection.vendor).inc()
        raise
    finally:
        DB_QUERY.labels(connection.alias, connection.vendor).observe(time.perf_counter() - started)


def instrument_connection(sender, connection, **kwargs):
    if _time_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_time_query)


def count_import(sender, instance, created, **kwargs):
    # The batch is created empty, then saved once with its counts.
    if created:
        return
    counts = {
        "imported": instance.rows_imported,
        "already_imported": instance.rows_already,
        "bad": instance.rows_bad,
    }
    refused = bool(instance.refused)

    def on_commit():
        for outcome, n in counts.items():
            if n:
                IMPORT_ROWS.labels(outcome).inc(n)
        if refused:
            IMPORT_FILES_REFUSED.inc()

    transaction.on_commit(on_commit, using=kwargs.get("using"))


def count_ledger_transaction(sender, instance, created, **kwargs):
    if created:
        kind = instance.kind
        transaction.on_commit(
            lambda: LEDGER_TRANSACTIONS.labels(kind).inc(), using=kwargs.get("using")
        )


def count_signin_failure(sender, **kwargs):
    SIGNIN_FAILURES.inc()


def count_lockout(sender, **kwargs):
    SIGNIN_LOCKOUTS.inc()


def _task_name(sender=None, task=None, **kwargs) -> str:
    task = task or sender
    return getattr(task, "name", None) or str(task)


def count_task_success(sender=None, **kwargs):
    CELERY_TASKS.labels(_task_name(sender), "success").inc()


def count_task_failure(sender=None, **kwargs):
    CELERY_TASKS.labels(_task_name(sender), "failure").inc()


def count_task_retry(sender=None, **kwargs):
    CELERY_TASKS.labels(_task_name(sender), "retry").inc()


def connect_metrics() -> None:
    from axes.signals import user_locked_out
    from celery.signals import task_failure, task_retry, task_success
    from django.contrib.auth.signals import user_login_failed
    from django.db.backends.signals import connection_created

    # count_import and count_ledger_transaction are connected by the apps
    # that own the models (payments/apps.py, accounts/apps.py).
    connection_created.connect(instrument_connection, dispatch_uid="portal-metrics-db")
    user_login_failed.connect(count_signin_failure, dispatch_uid="portal-metrics-signin")
    user_locked_out.connect(count_lockout, dispatch_uid="portal-metrics-lockout")
    task_success.connect(count_task_success, dispatch_uid="portal-metrics-task-ok")
    task_failure.connect(count_task_failure, dispatch_uid="portal-metrics-task-failed")
    task_retry.connect(count_task_retry, dispatch_uid="portal-metrics-task-retry")
