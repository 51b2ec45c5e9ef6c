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
