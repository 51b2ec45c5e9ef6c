"""Exactly once with real Celery workers: the outbox task sent after each
commit, a worker SIGKILLed after it claimed the e-mail and before sending it,
and the task delivered again to another worker: every event has one
notification per person and one e-mail, none twice."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from family import services as family
from notifications.models import Delivery, Notification
from notifications.tasks import notify_outbox
from tests.claims.conftest import WorkerProcess, wait_for
from tests.conftest import person_for_viewer
from tests.family.conftest import request_link

from .helpers import confirm_email
from .test_outbox import fund


@pytest.fixture
def notify_worker(transactional_db, tmp_path, settings):
    if not settings.CELERY_BROKER_URL:
        pytest.fail("the worker tests need REDIS_URL (a real broker)")
    queue = f"notify-test-{uuid.uuid4().hex[:8]}"
    mail = tmp_path / "mail"
    mail.mkdir()
    worker = WorkerProcess(
        queue,
        tmp_path,
        {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail),
        },
    )
    worker.mail = mail
    # Tasks this process sends after commit go to this test's queue.
    settings.CELERY_KIND_QUEUES = {**settings.CELERY_KIND_QUEUES, "notifications": queue}
    _fresh_kick_window()
    yield worker
    worker.stop_all()


def _fresh_kick_window() -> None:
    """No kick of an earlier test (this process or the shared cache key)
    holds this test's first kick back."""
    from django.core.cache import cache

    from notifications import signals

    cache.delete(signals._KICK_PENDING_KEY)
    signals._last_kick = 0.0


@pytest.mark.django_db
def test_kicks_are_coalesced_to_one_delayed_task_per_window(settings):
    import json

    import redis

    from notifications import signals

    queue = f"notify-kick-{uuid.uuid4().hex[:8]}"
    settings.CELERY_KIND_QUEUES = {**settings.CELERY_KIND_QUEUES, "notifications": queue}
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    _fresh_kick_window()
    try:
        # a burst of commits in one process: one task
        for _ in range(5):
            signals._send_kick()
        assert broker.llen(queue) == 1
        # another process in the same window: the shared key holds it back
        signals._last_kick = 0.0
        signals._send_kick()
        assert broker.llen(queue) == 1
        # the task waits two windows, so it reads what the held-back kicks wrote
        message = json.loads(broker.lindex(queue, 0))
        assert message["headers"]["task"] == "notifications.tasks.notify_outbox"
        assert message["headers"]["eta"] is not None
        # the next window sends the next task
        time.sleep(signals.KICK_WINDOW_SECONDS + 0.2)
        signals._send_kick()
        assert broker.llen(queue) == 2
    finally:
        broker.delete(queue)


def _sent_ids(mail_dir) -> list[str]:
    """Message-IDs of every notification e-mail written by the workers."""
    text = "".join(p.read_text() for p in mail_dir.iterdir())
    return re.findall(r"Message-ID: (<delivery-\d+@[^>]+>)", text)


@pytest.mark.worker
@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_and_a_redelivered_task_notify_exactly_once(
    alice, bob, staff, notify_worker, settings, tmp_path
):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    w = notify_worker
    # given: a worker that stops for a minute after claiming e-mail, before sending
    first = w.start(NOTIFICATIONS_SEND_PAUSE="60")
    confirm_email(alice, "alice@example.org")
    confirm_email(bob, "bob@example.org")

    # when: events happen, each commit sending the outbox task
    fund(alice, 12345, "worker-credit")
    link = request_link(alice, bob)
    family.link_approve(link_id=link.pk, reviewer=staff)
    person_for_viewer(bob.user, alice.pk, scope="balance")
    wait_for(
        lambda: Delivery.objects.filter(state="sending").exists(),
        what="the first worker to claim e-mail",
    )
    # ... and the worker dies holding its claim
    w.kill(first)
    assert _sent_ids(w.mail) == []

    # then: another worker, the task delivered again (twice), after the stale time
    w.start(NOTIFICATIONS_DELIVERY_STALE_SECONDS="3")
    time.sleep(4)
    w.send(notify_outbox)
    w.send(notify_outbox)
    wait_for(
        lambda: Delivery.objects.count() == 7 and not Delivery.objects.exclude(state="sent"),
        timeout=90,
        what="every e-mail sent",
    )
    time.sleep(2)  # anything still queued has run

    assert sorted(
        (n.recipient_id, n.event_type, n.action) for n in Notification.objects.all()
    ) == sorted(
        [
            (alice.user.pk, "credit", "test.credit"),
            (alice.user.pk, "family", "family.link.request"),
            (bob.user.pk, "family", "family.link.request"),
            (alice.user.pk, "family", "family.link.approve"),
            (bob.user.pk, "family", "family.link.approve"),
            (alice.user.pk, "family", "family.link.confirm"),  # bob confirmed the request
            (bob.user.pk, "family", "family.link.confirm"),
            (alice.user.pk, "view", "person.balance.view"),  # a digest, not at once
        ]
    )
    sent = _sent_ids(w.mail)
    assert len(sent) == 7 == len(set(sent))
    assert sorted(sent) == sorted(
        f"<delivery-{pk}@localhost>" for pk in Delivery.objects.values_list("pk", flat=True)
    )
