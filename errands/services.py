"""Writes for errands: file, apply, review (docs/adr/0019-member-errands.md).

Status moves only forward, pending -> approved | rejected, each move one
conditional UPDATE (two staff deciding at once: one wins, the other gets a
Conflict). Every move is an audit event (``errands.filing.submit/approve/
reject``, ``errands.chronic.submit/approve/reject``; subject: the member,
target: the errand), from which the notifications are sent.

The caller has resolved ``person`` through the access layer (``access.lookups``)
with the ``errands`` scope (the member, or a relative holding it).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.rules import is_staff_account
from audit.services import audit_record
from members.models import InsuredPerson
from members.regions import region, region_name
from portal.errors import ApplicationError, Conflict

from . import uploads
from .models import (
    ChronicApplication,
    ChronicDisease,
    CrossRegionFiling,
    ErrandStatus,
    FilingDocumentKind,
    FilingKind,
)

TEMPORARY_MAX_DAYS = 366  # a temporary trip is filed for at most a year
BACKDATE_DAYS = 30  # a trip may be filed up to this many days after it began
CHRONIC_MAX_YEARS = 5


def _field_error(field: str, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def _is_city(code: str) -> bool:
    r = region(code or "")
    return r is not None and r.level == "city"


def filing_submit(
    *,
    person: InsuredPerson,
    actor,
    kind: str,
    destination: str,
    start_date: dt.date | None,
    end_date: dt.date | None = None,
    document_kind: str = "",
    document=None,
    request=None,
) -> CrossRegionFiling:
    """File for treatment in another city. Long-term residence needs a proof
    of residence or, in its place, a signed personal commitment letter;
    a temporary trip needs its dates. Nothing is stored on a refusal."""
    today = timezone.localdate()
    if kind not in FilingKind.values:
        raise _field_error("kind", _("Choose long-term residence or a temporary trip."))
    if not _is_city(destination):
        raise _field_error("destination", _("Choose the city from the list."), "bad_destination")
    if destination[:4] == person.insured_region[:4]:
        raise _field_error(
            "destination",
            _("%(place)s is where you are insured: no filing is needed there.")
            % {"place": region_name(destination)},
            "same_region",
        )
    if start_date is None:
        raise _field_error("start_date", _("Enter the first day (YYYY-MM-DD)."), "required")
    if start_date < today - dt.timedelta(days=BACKDATE_DAYS):
        raise _field_error(
            "start_date",
            _("The first day may be at most %(days)s days ago.") % {"days": BACKDATE_DAYS},
        )
    doc = None
    if kind == FilingKind.TEMPORARY:
        if end_date is None:
            raise _field_error("end_date", _("Enter the last day of the trip."), "required")
        if end_date < start_date:
            raise _field_error("end_date", _("The last day is before the first day."))
        if (end_date - start_date).days >= TEMPORARY_MAX_DAYS:
            raise _field_error(
                "end_date",
                _("A temporary trip is filed for at most a year; file long-term residence."),
            )
        document_kind = ""
    else:
        end_date = None
        if document_kind not in FilingDocumentKind.values:
            raise _field_error(
                "document_kind",
                _("Choose a proof of residence or a signed personal commitment letter."),
            )
        doc = uploads.check_document(document)
    if CrossRegionFiling.objects.filter(
        person=person, status=ErrandStatus.PENDING, destination__startswith=destination[:4]
    ).exists():
        raise Conflict(
            _("A filing for %(place)s is already waiting for review.")
            % {"place": region_name(destination)},
            code="filing_pending",
            fields={"destination": [_("Already waiting for review.")]},
        )
    stored = uploads.store(doc) if doc is not None else ""
    try:
        with transaction.atomic():
            filing = CrossRegionFiling.objects.create(
                person=person,
                submitted_by=actor,
                kind=kind,
                destination=destination,
                start_date=start_date,
                end_date=end_date,
                document_kind=document_kind,
                document_name=stored,
                document_type=doc.content_type if doc else "",
                document_size=doc.size if doc else None,
                document_sha256=doc.sha256 if doc else "",
            )
            audit_record(
                actor=actor,
                action="errands.filing.submit",
                subject_person=person,
                target=filing,
                detail={
                    "kind": kind,
                    "destination": destination,
                    "by_relative": person.user_id != actor.pk,
                    "document_sha256": filing.document_sha256,
                },
                request=request,
            )
    except BaseException:
        uploads.discard(stored)
        raise
    return filing


def _decide(model, pk: int, *, reviewer, status: str, reason: str, action: str, request, **extra):
    # The views let only verified staff here (staff_required); the service
    # refuses a non-staff account whatever calls it.
    if not is_staff_account(reviewer):
        raise ApplicationError(_("Only staff review errands."), status_code=403)
    with transaction.atomic():
        changed = model.objects.filter(pk=pk, status=ErrandStatus.PENDING).update(
            status=status, reviewed_by=reviewer, reviewed_at=timezone.now(), reason=reason, **extra
        )
        if changed != 1:
            if not model.objects.filter(pk=pk).exists():
                raise ApplicationError(_("No such errand."), code="not_found", status_code=404)
            raise Conflict(_("This errand was already decided."), code="already_decided")
        errand = model.objects.select_related("person").get(pk=pk)
        audit_record(
            actor=reviewer,
            action=action,
            subject_person=errand.person,
            target=errand,
            detail={"reason": reason} if reason else {},
            request=request,
        )
    return errand


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise _field_error("reason", _("Give the member a reason for the rejection."), "required")
    if "\x00" in reason:
        raise _field_error("reason", _("The reason contains a character that cannot be stored."))
    return reason[:2000]


def filing_approve(*, filing_id: int, reviewer, request=None) -> CrossRegionFiling:
    return _decide(
        CrossRegionFiling,
        filing_id,
        reviewer=reviewer,
        status=ErrandStatus.APPROVED,
        reason="",
        action="errands.filing.approve",
        request=request,
    )


def filing_reject(*, filing_id: int, reviewer, reason: str, request=None) -> CrossRegionFiling:
    return _decide(
        CrossRegionFiling,
        filing_id,
        reviewer=reviewer,
        status=ErrandStatus.REJECTED,
        reason=_reason(reason),
        action="errands.filing.reject",
        request=request,
    )


def chronic_submit(
    *, person: InsuredPerson, actor, disease_code: str, document, request=None
) -> ChronicApplication:
    """Apply for a chronic or special outpatient disease of the list, with a
    medical document (diagnosis, hospital record)."""
    disease = ChronicDisease.objects.filter(code=disease_code or "", active=True).first()
    if disease is None:
        raise _field_error("disease", _("Choose a disease from the list."), "bad_disease")
    doc = uploads.check_document(document)
    if ChronicApplication.objects.filter(
        person=person, disease=disease, status=ErrandStatus.PENDING
    ).exists():
        raise Conflict(
            _("An application for this disease is already waiting for review."),
            code="chronic_pending",
            fields={"disease": [_("Already waiting for review.")]},
        )
    stored = uploads.store(doc)
    try:
        with transaction.atomic():
            application = ChronicApplication.objects.create(
                person=person,
                submitted_by=actor,
                disease=disease,
                document_name=stored,
                document_type=doc.content_type,
                document_size=doc.size,
                document_sha256=doc.sha256,
            )
            audit_record(
                actor=actor,
                action="errands.chronic.submit",
                subject_person=person,
                target=application,
                detail={
                    "disease": disease.code,
                    "by_relative": person.user_id != actor.pk,
                    "document_sha256": doc.sha256,
                },
                request=request,
            )
    except BaseException:
        uploads.discard(stored)
        raise
    return application


def chronic_approve(
    *,
    application_id: int,
    reviewer,
    valid_from: dt.date | None,
    valid_until: dt.date | None,
    request=None,
) -> ChronicApplication:
    """Approve with a validity period (both days included)."""
    if valid_from is None:
        raise _field_error("valid_from", _("Enter the first day of validity."), "required")
    if valid_until is None:
        raise _field_error("valid_until", _("Enter the last day of validity."), "required")
    if valid_until < valid_from:
        raise _field_error("valid_until", _("The last day is before the first day."))
    if (valid_until - valid_from).days > CHRONIC_MAX_YEARS * 366:
        raise _field_error(
            "valid_until",
            _("An approval is valid for at most %(years)s years.") % {"years": CHRONIC_MAX_YEARS},
        )
    return _decide(
        ChronicApplication,
        application_id,
        reviewer=reviewer,
        status=ErrandStatus.APPROVED,
        reason="",
        action="errands.chronic.approve",
        request=request,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def chronic_reject(
    *, application_id: int, reviewer, reason: str, request=None
) -> ChronicApplication:
    return _decide(
        ChronicApplication,
        application_id,
        reviewer=reviewer,
        status=ErrandStatus.REJECTED,
        reason=_reason(reason),
        action="errands.chronic.reject",
        request=request,
    )
