"""Who asks: one ``Viewer`` per request, built on first use and kept on the
request (``viewer_for``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from members.models import InsuredPerson

from . import rules

_CACHE_ATTR = "_access_viewer"


@dataclass(eq=False)
class Viewer:
    """The user behind a request and what the layer needs to know about them.

    ``user`` is a portal user (possibly anonymous) or, on the institution API,
    the institution's principal; ``institution`` is then set."""

    user: Any
    institution: Any = None
    _person: Any = field(default=None, repr=False)

    @property
    def is_authenticated(self) -> bool:
        return bool(
            self.user is not None
            and getattr(self.user, "is_authenticated", False)
            and getattr(self.user, "is_active", False)
        )

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None) if self.is_authenticated else None

    @cached_property
    def person(self) -> InsuredPerson | None:
        """The viewer's own insured person (None for staff without one, an
        institution or an anonymous visitor)."""
        if self._person is not None:
            return self._person
        if not self.is_authenticated or self.institution is not None:
            return None
        try:
            return self.user.person
        except (InsuredPerson.DoesNotExist, AttributeError):
            return None

    @cached_property
    def is_verified_staff(self) -> bool:
        return rules.is_verified_staff(self)

    @property
    def staff_account(self) -> bool:
        """The account is a staff account (code passed or not): for showing the
        way to staff pages only."""
        return self.is_authenticated and rules.is_staff_account(self.user)

    def owns(self, person: InsuredPerson) -> bool:
        return self.user_id is not None and person.user_id == self.user_id


def viewer_for(request) -> Viewer:
    """The request's viewer, built once. Works for Django and DRF requests: a
    DRF request may carry another user than the Django request under it (a
    token), so a cached viewer is reused only for the same user."""
    user = getattr(request, "user", None)
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None and cached.user is user:
        return cached
    institution = getattr(user, "institution", None)
    viewer = Viewer(user=user, institution=institution)
    setattr(request, _CACHE_ATTR, viewer)
    return viewer


def viewer_of_user(user) -> Viewer:
    """A viewer for code outside a request (tasks, commands): no session, so
    never verified staff."""
    return Viewer(user=user, institution=getattr(user, "institution", None))
