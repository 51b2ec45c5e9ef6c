"""Reads for family links. Who may see or do what is decided by the ``access``
app; every read of member-owned data goes through it."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from accounts.selectors import pocket_balances
from claims.selectors import expenses_for
from members.models import InsuredPerson
from payments.selectors import contributions_for

from .models import FamilyLink, LinkStatus


def relatives_ever_linked(person: InsuredPerson) -> list[tuple[int, str]]:
    """(person id, name) of every relative ``person`` ever asked to link, in
    any state: the access log's "who" filter (ADR 0018)."""
    return list(
        FamilyLink.objects.filter(member=person)
        .values_list("relative_id", "relative__name")
        .distinct()
        .order_by("relative__name", "relative_id")
    )


def links_granted_by(person: InsuredPerson) -> QuerySet[FamilyLink]:
    return (
        FamilyLink.objects.filter(member=person)
        .select_related("relative", "relative__user")
        .order_by("-id")
    )


def links_received_by(person: InsuredPerson) -> QuerySet[FamilyLink]:
    return FamilyLink.objects.filter(relative=person).select_related("member").order_by("-id")


def grants_for_user(user) -> list[FamilyLink]:
    """Links in effect whose relative is the signed-in user: the accounts they may switch to."""
    if not user.is_authenticated:
        return []
    return list(
        FamilyLink.objects.in_effect()
        .filter(relative__user=user)
        .select_related("member")
        .order_by("id")
    )


def link_for_user(user, link_id) -> FamilyLink:
    """A link the user may see (its member, its relative, verified staff); 404
    otherwise. Decided by ``access.lookups.link_access``."""
    from access.lookups import link_access
    from access.viewer import viewer_of_user

    return link_access(viewer_of_user(user), link_id).require()


def document_for_user(user, link_id) -> FamilyLink:
    """The link whose document the user may read (the member, verified staff)."""
    from access.lookups import document_access
    from access.viewer import viewer_of_user

    return document_access(viewer_of_user(user), link_id).require_document()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def review_cursor(link: FamilyLink) -> str:
    """Where the next page of the review queue starts: after ``link``."""
    return f"{(link.created_at - _EPOCH) // dt.timedelta(microseconds=1)}_{link.pk}"


def _parse_review_cursor(value: str | None) -> tuple[dt.datetime, int] | None:
    try:
        micros, pk = (value or "").split("_", 1)
        return _EPOCH + dt.timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        return None


def review_queue(*, after: str | None = None, limit: int = 20) -> tuple[list[FamilyLink], str]:
    """Pending links, oldest first, ``limit`` at a time (keyset on
    (created_at, id), so a deep page costs what the first does). Returns the
    page and the cursor of the next one ("" on the last page)."""
    qs = FamilyLink.objects.filter(status=LinkStatus.PENDING)
    cursor = _parse_review_cursor(after)
    if cursor is not None:
        created_at, pk = cursor
        qs = qs.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=pk))
    page = list(qs.select_related("member", "relative").order_by("created_at", "id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, review_cursor(page[-1]) if more else ""


def payment_grants_for(*, patient: InsuredPerson) -> list[FamilyLink]:
    """Links letting ``patient`` pay from a member's surplus now: decided by
    ``access.lookups.payment_grants_for`` (``access.rules.pay_eligible``)."""
    from access.lookups import payment_grants_for as decided

    return decided(patient=patient)


def awaiting_my_confirmation(person: InsuredPerson) -> list[FamilyLink]:
    """Requests naming ``person`` as the relative that wait for their confirmation."""
    return list(
        FamilyLink.objects.awaiting_confirmation()
        .filter(relative=person)
        .select_related("member")
        .order_by("id")
    )


def pocket_balances_of(person: InsuredPerson):
    """The ledger's balances for ``person``. The caller must have obtained
    ``person`` through access (person_access)."""
    return pocket_balances(person)


def records_of(person: InsuredPerson, *, limit: int = 20) -> dict:
    """Latest contributions and expenses of ``person``. The caller must have
    obtained ``person`` through access (person_access) with scope ``records``."""
    return {
        "contributions": contributions_for(person, limit=limit),
        "expenses": expenses_for(person, limit=limit),
    }
