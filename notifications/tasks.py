"""Notification tasks (the ``notifications`` queue: names start with
``notify_`` or ``send_``, portal/celery_ops.py). Each is safe to run twice
and at once on several workers (ADR 0016)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from . import outbox, services


# Sent by the request path at most once a second and never waited for: no
# result is kept (storing and subscribing to one cost the sender a round trip).
@shared_task(acks_late=True, ignore_result=True)
def notify_outbox() -> dict:
    """After a commit that wrote an audit event or a ledger transaction, and
    every minute (beat): derive the new notifications, then send the e-mail
    waiting (outside the transaction that stored them)."""
    created = outbox.outbox_run()
    sent = services.deliveries_send()
    return {"created": created, "sent": sent}


@shared_task(acks_late=True)
def notify_outbox_sweep() -> dict:
    """Hourly: read the last three hours again, for rows a long transaction hid."""
    created = outbox.outbox_sweep()
    sent = services.deliveries_send()
    return {"created": created, "sent": sent}


@shared_task(acks_late=True)
def send_view_digests(day: str | None = None) -> dict:
    """Daily: yesterday's views, one e-mail per member who chose the digest."""
    when = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    outbox.outbox_run()
    prepared = services.digests_prepare(day=when)
    sent = services.deliveries_send()
    return {"day": when.isoformat(), "prepared": prepared, "sent": sent}


@shared_task(acks_late=True)
def send_email_confirmation(user_id: int, base_url: str, language: str | None = None) -> bool:
    return services.email_confirmation_send(user_id=user_id, base_url=base_url, language=language)


@shared_task(acks_late=True)
def send_password_reset_email(
    user_id: int | None, base_url: str, language: str | None = None
) -> bool:
    """``user_id`` None: nothing to send (an unknown address, or over the
    account's rate); the task is sent anyway so both take the same time."""
    return services.password_reset_send(user_id=user_id, base_url=base_url, language=language)
