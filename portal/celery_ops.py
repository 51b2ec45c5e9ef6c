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
