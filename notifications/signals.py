"""Kick the outbox after a commit that wrote something it reads.

Only a nudge: the outbox reads the durable records past its cursor, so a kick
that is lost (broker away, bulk inserts that send no signal) is made up by the
beat run a minute later. Kicks are coalesced (``_send_kick``): at most one
task per second for the whole site, run two seconds later, so it reads every
record committed while the others were held back. A Celery message per
audited view was a third of the cost of a relative's view (issue 16)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from .outbox import is_relevant_action

logger = logging.getLogger(__name__)


KICK_WINDOW_SECONDS = 1
_KICK_PENDING_KEY = "notifications:kick-pending"
_last_kick = 0.0


def _send_kick() -> None:
    """Send the outbox task, unless one is already on its way.

    A process asks at most once per window; the first ask of a window, site
    wide, wins a cache ``add`` (a key living one window) and sends the task
    with a countdown of two windows. Every record committed by a process
    that was held back was committed before the key expired, so at least a
    window before that task reads the outbox. Without a broker (the embedded
    demo, tasks run in-process) it runs at once."""
    global _last_kick
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            from .tasks import notify_outbox

            notify_outbox.delay()
            return
        now = time.monotonic()
        if now - _last_kick < KICK_WINDOW_SECONDS:
            return  # asked within the window: nothing more to do (most calls)
        _last_kick = now
        from django.core.cache import cache

        from .tasks import notify_outbox

        if cache.add(_KICK_PENDING_KEY, 1, timeout=KICK_WINDOW_SECONDS):
            notify_outbox.apply_async(countdown=2 * KICK_WINDOW_SECONDS)
    except Exception:  # the broker is away: beat runs the outbox anyway
        logger.warning("could not send the outbox task; beat will run it")


def kick() -> None:
    pending = getattr(connection, "run_on_commit", None) or []
    if connection.in_atomic_block and any(entry[1] is _send_kick for entry in pending):
        return
    transaction.on_commit(_send_kick)


@receiver(post_save, sender="audit.AuditEvent", dispatch_uid="notify-audit")
def _audit_saved(sender, instance, created=False, raw=False, **kwargs) -> None:
    if created and not raw and is_relevant_action(instance.action):
        kick()


@receiver(post_save, sender="accounts.JournalTransaction", dispatch_uid="notify-ledger")
def _ledger_saved(sender, instance, created=False, raw=False, **kwargs) -> None:
    if created and not raw:
        kick()


@receiver(user_logged_in, dispatch_uid="notify-unread-on-sign-in")
def _count_unread_on_sign_in(sender, request, user, **kwargs) -> None:
    """Fill the cached unread count at sign-in, so a page shows it without a
    query (and every page of a session costs the same queries)."""
    from .selectors import unread_count

    if not user.is_staff:
        unread_count(user)
