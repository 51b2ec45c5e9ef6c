"""Notification fixtures: a confirmed e-mail address made through the
production path (the service and its signed link), the outbox run in-process
as the task runs it, and Celery tasks run eagerly where a test needs the
on-commit task (e-mail confirmation, password reset)."""

from __future__ import annotations

import pytest

from .helpers import confirm_email, run_outbox  # noqa: F401 (used by the tests here)


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture
def eager_tasks(settings):
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _forget_unread_counts():
    """The unread count is cached per user id (notifications.selectors), and
    ids repeat between tests and runs: every test starts without them."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key("notify:unread:*"), count=1000))
    if keys:
        client.delete(*keys)
