"""Reads for family links. Every read of member-owned data (balance, records)
goes through ``portal.access.person_for_viewer``; these selectors read links."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.selectors import pocket_balances
from claims.selectors import expenses_for
from members.models import InsuranceType, InsuredPerson
from payments.selectors import contributions_for
from portal.security import user_is_verified

from .models import FamilyLink, LinkStatus

SCOPE_FIELDS = {"balance": "scope_balance", "records": "scope_records", "pay": "scope_pay"}


def user_holds_scope(user, person: InsuredPerson, scope: str) -> bool:
    """The rule registered with portal.access: an approved link from ``person``
    to the user's own insured person, with ``scope`` granted. Checked on every
    request, so an ended link stops access at once."""
    field = SCOPE_FIELDS.get(str(scope))
    if field is None or not user.is_authenticated:
        return False
    return FamilyLink.objects.filter(
        member=person, relative__user=user, status=LinkStatus.APPROVED, **{field: True}
    ).exists()


def links_granted_by(person: InsuredPerson) -> QuerySet[FamilyLink]:
    return (
        FamilyLink.objects.filter(member=person)
        .select_related("relative", "relative__user")
        .order_by("-id")
    )


def links_received_by(person: InsuredPerson) -> QuerySet[FamilyLink]:
    return FamilyLink.objects.filter(relative=person).select_related("member").order_by("-id")


def grants_for_user(user) -> list[FamilyLink]:
    """Approved links whose relative is the signed-in user: the accounts they may switch to."""
    if not user.is_authenticated:
        return []
    return list(
        FamilyLink.objects.filter(relative__user=user, status=LinkStatus.APPROVED)
        .select_related("member")
        .order_by("id")
    )


def grant_for(user, member_id) -> FamilyLink | None:
    try:
        member_id = int(member_id)
    except (TypeError, ValueError):
        return None
    if not user.is_authenticated:
        return None
    return (
        FamilyLink.objects.filter(
            relative__user=user, member_id=member_id, status=LinkStatus.APPROVED
        )
        .select_related("member")
        .first()
    )


def _reviewing_staff(user) -> bool:
    """Staff who passed the one-time-code step (portal.security)."""
    return user.is_staff and user_is_verified(user)


def link_for_user(user, link_id) -> FamilyLink:
    """A link the user may see: its member, its relative, or staff. 404 otherwise."""
    try:
        link = FamilyLink.objects.select_related(
            "member", "relative", "member__user", "relative__user", "reviewed_by"
        ).get(pk=int(link_id))
    except (FamilyLink.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if not user.is_authenticated or not user.is_active:
        raise Http404
    if user.pk in (link.member.user_id, link.relative.user_id):
        return link
    if _reviewing_staff(user):
        return link
    raise Http404


def document_for_user(user, link_id) -> FamilyLink:
    """The document may be read by the member who uploaded it and by staff only."""
    link = link_for_user(user, link_id)
    if link.member.user_id == user.pk or _reviewing_staff(user):
        return link
    raise Http404


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
    """Approved links letting ``patient`` pay from a member's prior-years surplus.

    Only members with a personal account (employee or retiree) insured in the
    patient's province qualify (family mutual assistance). Callers apply
    ``pay_yearly_cap_fen`` (None = no cap).
    """
    links = (
        FamilyLink.objects.filter(
            relative=patient,
            status=LinkStatus.APPROVED,
            scope_pay=True,
            member__insurance_type__in=[InsuranceType.EMPLOYEE, InsuranceType.RETIRED],
            member__insured_region__startswith=patient.province_code,
        )
        .select_related("member")
        .order_by("id")
    )
    return list(links)


def pocket_balances_of(person: InsuredPerson):
    """The ledger's balances for ``person``. The caller must have obtained
    ``person`` through person_for_viewer."""
    return pocket_balances(person)


def records_of(person: InsuredPerson, *, limit: int = 20) -> dict:
    """Latest contributions and expenses of ``person``. The caller must have
    obtained ``person`` through person_for_viewer with scope ``records``."""
    return {
        "contributions": contributions_for(person, limit=limit),
        "expenses": expenses_for(person, limit=limit),
    }
