"""Helpers other test folders use too (tests/family: the decision e-mail)."""

from __future__ import annotations

from notifications import outbox, services


def confirm_email(person_or_user, address: str):
    """A confirmed address, made through the production path: the service
    keeps it pending, its signed link confirms it."""
    user = getattr(person_or_user, "user", person_or_user)
    services.email_address_set(user=user, address=address, base_url="http://testserver/")
    token = services.confirm_token(user_id=user.pk, address=address)
    return services.email_address_confirm(token=token)


def run_outbox() -> tuple[int, int]:
    """What ``notifications.tasks.notify_outbox`` does: (created, sent)."""
    return outbox.outbox_run(), services.deliveries_send()
