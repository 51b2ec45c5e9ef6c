"""Kick the outbox after a commit that wrote something it reads.

Only a nudge: the outbox reads the durable records past its cursor, so a kick
that is lost (broker away, bulk inserts that send no signal) is made up by the
beat run a minute later. One kick per committed transaction."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_in
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)


def _send_kick() -> None:
    from .tasks import notify_outbox

    try:
        notify_outbox.delay()
    except Exception:  # the broker is away: beat runs the outbox anyway
        logger.warning("could not send the outbox task; beat will run it")


def kick() -> None:
    pending = getattr(connection, "run_on_commit", None) or []
    if connection.in_atomic_block and any(entry[1] is _send_kick for entry in pending):
        return
    transaction.on_commit(_send_kick)


@receiver(post_save, sender="audit.AuditEvent", dispatch_uid="notify-audit")
def _audit_saved(sender, instance, created=False, raw=False, **kwargs) -> None:
    from .outbox import is_relevant_action

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
