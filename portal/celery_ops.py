"""Worker-side operations hooks: structured logs (the request id that started
a task is logged with it, through django-structlog) and task outcome metrics."""

from __future__ import annotations

import logging.config

from celery.signals import setup_logging
from django_structlog.celery.steps import DjangoStructLogInitStep


def _configure_logging(**kwargs):
    # Celery would install its own plain-text handlers; use the portal's JSON ones.
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def connect(app) -> None:
    setup_logging.connect(_configure_logging, weak=False)
    app.steps["worker"].add(DjangoStructLogInitStep)
    connect_worker_metrics()


def _start_metrics_server(**kwargs):
    # A worker's own /metrics (task outcomes, database timings) on loopback,
    # for a Prometheus on the same machine; off unless METRICS_WORKER_PORT is set.
    import os

    port = os.environ.get("METRICS_WORKER_PORT")
    if port:
        from prometheus_client import start_http_server

        start_http_server(int(port), addr=os.environ.get("METRICS_WORKER_ADDR", "127.0.0.1"))


def connect_worker_metrics() -> None:
    from celery.signals import worker_init

    worker_init.connect(_start_metrics_server, weak=False)


# --- Queues, time limits and retries (settings: CELERY_TASK_ROUTES, CELERY_TASK_ANNOTATIONS)
#
# Tasks are sorted into four kinds by name, so a worker on another machine can
# take one kind (`celery -A portal worker -Q settlement`):
#   settlement     claims.tasks.*                      CELERY_QUEUE_SETTLEMENT
#   notifications  *.tasks.send_*, *.tasks.notify_*,  CELERY_QUEUE_NOTIFICATIONS
#                  *.tasks.*_email
#   imports        *.tasks.import_*, payments.tasks.*  CELERY_QUEUE_IMPORTS
#   default        everything else                     CELERY_QUEUE


def task_kind(name: str) -> str:
    module, _, func = name.rpartition(".")
    if module == "claims.tasks":
        return "settlement"
    if module.endswith(".tasks") and (
        func.startswith(("send_", "notify_")) or func.endswith("_email")
    ):
        return "notifications"
    if module == "payments.tasks" or (module.endswith(".tasks") and func.startswith("import_")):
        return "imports"
    return "default"


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router: the queue of the task's kind, read from settings when the
    task is sent (so a test or a deployment can point a kind elsewhere)."""
    from django.conf import settings

    queue = settings.CELERY_KIND_QUEUES.get(task_kind(name))
    return {"queue": queue} if queue else None


def _retryable() -> tuple[type[BaseException], ...]:
    # A database or broker that is briefly away: try again later, not fail.
    import kombu.exceptions
    import redis.exceptions
    from django.db import InterfaceError, OperationalError

    return (
        OperationalError,
        InterfaceError,
        kombu.exceptions.OperationalError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    )


class TaskPolicy:
    """Celery annotations: soft and hard time limits per kind; retries with
    exponential backoff (and jitter) on database and broker errors for every
    kind but settlement, whose retries and stall pick-up live in claims.tasks."""

    def annotate(self, task):
        from django.conf import settings

        kind = task_kind(task.name)
        hard, soft = settings.CELERY_KIND_TIME_LIMITS[kind]
        policy = {"time_limit": hard, "soft_time_limit": soft}
        if kind != "settlement":
            policy.update(
                autoretry_for=_retryable(),
                retry_backoff=settings.CELERY_RETRY_BACKOFF,
                retry_backoff_max=settings.CELERY_RETRY_BACKOFF_MAX,
                retry_jitter=True,
                max_retries=settings.CELERY_MAX_RETRIES,
            )
        return policy
