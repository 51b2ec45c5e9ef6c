"""Reads for errands. Member-owned errands are read only after
the access layer returned the person (scope ``errands``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.http import Http404

from access.lookups import person_access
from access.rules import is_verified_staff
from access.viewer import viewer_of_user
from members.models import InsuredPerson
from portal.prepared import prepared_cursor
from portal.replica import reading

from .models import (
    ChronicApplication,
    ChronicDisease,
    CrossRegionFiling,
    CrossRegionPolicy,
    ErrandStatus,
)


@dataclass(frozen=True)
class CrossRegionTerms:
    """What an expense in another city rests on: the patient's approved
    filing valid that day (its id, or None) and the home region's cuts of the
    fund's ratio for the year (None when the region has no such policy)."""

    filing_id: int | None
    filed_ratio_cut: Decimal | None
    unfiled_ratio_cut: Decimal | None


def _decimal(value, field: str) -> Decimal | None:
    # PostgreSQL gives numeric as Decimal (with the column's scale); the
    # SQLite demo as a number: made the Decimal the ORM would give.
    if value is None or isinstance(value, Decimal):
        return value
    places = CrossRegionPolicy._meta.get_field(field).decimal_places  # type: ignore[union-attr]
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def cross_region_terms(
    person: InsuredPerson, region: str, day: dt.date, home_region: str
) -> CrossRegionTerms:
    """``valid_filing`` and the home region's ``CrossRegionPolicy`` of the
    year in ONE prepared statement: on every submission in another city (the
    ORM compiled two queries for it, docs/adr/0006)."""
    prefix = (region or "")[:4].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with prepared_cursor(reading(CrossRegionFiling)) as cursor:
        cursor.execute(
            "SELECT (SELECT id FROM errands_crossregionfiling"
            " WHERE person_id = %s AND status = %s AND destination LIKE %s ESCAPE '\\'"
            " AND start_date <= %s AND (end_date IS NULL OR end_date >= %s)"
            " ORDER BY id DESC LIMIT 1), p.filed_ratio_cut, p.unfiled_ratio_cut"
            " FROM (SELECT 1 AS one) o LEFT JOIN errands_crossregionpolicy p"
            " ON p.region = %s AND p.year = %s",
            [
                person.pk,
                str(ErrandStatus.APPROVED),
                prefix + "%",
                day,
                day,
                home_region,
                day.year,
            ],
        )
        filing_id, filed, unfiled = cursor.fetchone()
    return CrossRegionTerms(
        filing_id, _decimal(filed, "filed_ratio_cut"), _decimal(unfiled, "unfiled_ratio_cut")
    )


def valid_filing(person: InsuredPerson, region: str, day: dt.date) -> CrossRegionFiling | None:
    """An approved filing of ``person`` for the city of ``region`` valid on ``day``."""
    return (
        CrossRegionFiling.objects.filter(
            person=person,
            status=ErrandStatus.APPROVED,
            destination__startswith=(region or "")[:4],
            start_date__lte=day,
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=day))
        .order_by("-id")
        .first()
    )


def approved_chronic_application(
    person: InsuredPerson, disease: ChronicDisease, day: dt.date
) -> ChronicApplication | None:
    return (
        ChronicApplication.objects.filter(
            person=person,
            disease=disease,
            status=ErrandStatus.APPROVED,
            valid_from__lte=day,
            valid_until__gte=day,
        )
        .order_by("-id")
        .first()
    )


def filings_of(person: InsuredPerson) -> QuerySet[CrossRegionFiling]:
    return CrossRegionFiling.objects.filter(person=person).order_by("-id")


def chronic_applications_of(person: InsuredPerson) -> QuerySet[ChronicApplication]:
    return (
        ChronicApplication.objects.filter(person=person).select_related("disease").order_by("-id")
    )


def current_errands(person: InsuredPerson, day: dt.date) -> dict:
    """What the dashboard shows: approved filings and chronic approvals valid
    today. A plain-SQL probe first: most members have no approved errand,
    and it costs a fraction of compiling the two queries (docs/adr/0006)."""
    with reading(CrossRegionFiling).cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM errands_crossregionfiling WHERE person_id = %s"
            " AND status = %s) OR EXISTS (SELECT 1 FROM errands_chronicapplication"
            " WHERE person_id = %s AND status = %s)",
            [person.pk, str(ErrandStatus.APPROVED), person.pk, str(ErrandStatus.APPROVED)],
        )
        if not cursor.fetchone()[0]:
            return {"filings": [], "chronic": []}
    filings = [
        f
        for f in CrossRegionFiling.objects.filter(
            person=person, status=ErrandStatus.APPROVED
        ).order_by("-id")[:20]
        if f.end_date is None or f.end_date >= day
    ]
    chronic = list(
        ChronicApplication.objects.filter(
            person=person, status=ErrandStatus.APPROVED, valid_until__gte=day
        )
        .select_related("disease")
        .order_by("-id")[:20]
    )
    return {"filings": filings, "chronic": chronic}


def diseases() -> QuerySet[ChronicDisease]:
    return ChronicDisease.objects.filter(active=True).order_by("code")


def _staff(user) -> bool:
    return is_verified_staff(viewer_of_user(user))


def review_queue(limit: int = 50) -> tuple[list[CrossRegionFiling], list[ChronicApplication]]:
    """Pending errands, oldest first."""
    filings = list(
        CrossRegionFiling.objects.filter(status=ErrandStatus.PENDING)
        .select_related("person")
        .order_by("created_at", "id")[:limit]
    )
    chronic = list(
        ChronicApplication.objects.filter(status=ErrandStatus.PENDING)
        .select_related("person", "disease")
        .order_by("created_at", "id")[:limit]
    )
    return filings, chronic


def errand_for_user(user, model, pk) -> object:
    """An errand the user may see: staff who passed the one-time code, or a
    viewer holding the ``errands`` scope on its person (the owner included):
    the access layer decides. 404 otherwise."""
    try:
        errand = model.objects.select_related("person").get(pk=int(pk))
    except (model.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if _staff(user) or person_access(viewer_of_user(user), errand.person_id).may("errands"):
        return errand
    raise Http404
