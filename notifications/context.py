from __future__ import annotations

from functools import partial

from .selectors import unread_count


def unread(request) -> dict:
    """``notify_unread`` for the header: computed only when a template shows
    it (members' pages), from the cache (notifications.selectors)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return {"notify_unread": 0}
    return {"notify_unread": partial(unread_count, user)}
