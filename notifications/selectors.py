"""Reads for the inbox and the profile."""

from __future__ import annotations

from django.core.cache import cache

from .models import DEFAULT_PREFERENCES, EmailAddress, EventType, Notification, Preference

# Dropped whenever a notification is created or read, so it may live long.
_UNREAD_SECONDS = 3600


def _unread_key(user_id: int) -> str:
    return f"notify:unread:v1:{user_id}"


def unread_count(user) -> int:
    """Unread notifications of ``user``, kept in the cache (no query on most
    pages); dropped whenever one is created or read."""
    if not getattr(user, "is_authenticated", False):
        return 0
    key = _unread_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()
        cache.set(key, count, _UNREAD_SECONDS)
    return count


def forget_unread(user_id: int) -> None:
    cache.delete(_unread_key(user_id))


def forget_unread_many(user_ids) -> None:
    """``forget_unread`` for each of ``user_ids``, in one round trip."""
    if user_ids:
        cache.delete_many([_unread_key(uid) for uid in user_ids])


def inbox(user, *, before_id: int | None = None, limit: int = 20) -> list[Notification]:
    """Newest first, keyset pages by id."""
    qs = Notification.objects.filter(recipient_id=user.pk).order_by("-id")
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return list(qs[: limit + 1])


def email_address(user) -> EmailAddress | None:
    return EmailAddress.objects.filter(user_id=user.pk).first()


def preferences(user) -> dict[str, dict[str, bool]]:
    """{event type: {"email": bool, "digest": bool}} for every type."""
    prefs = {t: dict(DEFAULT_PREFERENCES[t]) for t in EventType.values}
    for p in Preference.objects.filter(user_id=user.pk):
        prefs[p.event_type] = {"email": p.email, "digest": p.digest}
    return prefs
