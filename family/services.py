"""Writes for family links.

Status moves only forward: pending -> approved | rejected, approved/pending ->
ended. Each move is one conditional UPDATE (``WHERE status = <expected>``), so
two staff deciding the same link at once cannot both win; the loser gets a
Conflict. Every move is recorded in the audit trail; e-mail goes out only after
the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from members.idnumber import parse_id_number
from members.models import InsuranceType, InsuredPerson
from members.selectors import person_by_id_number
from members.services import person_create
from portal.errors import ApplicationError, Conflict

from . import uploads
from .models import OPEN_STATUSES, DocumentKind, FamilyLink, LinkStatus, Relationship

logger = logging.getLogger(__name__)

# Bump when the text of the reminder/agreement (templates/family/agreement.html) changes.
AGREEMENT_VERSION = "2026-11-v1"
MARRIAGE_MIN_AGE = 20  # the lower of the two legal ages


def _field_error(field: str, message: str, code: str = "invalid") -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def check_relationship(
    *, member_birth: dt.date, relative_birth: dt.date, relationship: str, today: dt.date
) -> None:
    """What the two identity numbers say about the claimed relationship."""
    if relationship == Relationship.PARENT and relative_birth >= member_birth:
        raise _field_error(
            "relationship",
            _(
                "A parent must be born before the member; the identity number says "
                "%(date)s, which is not before the member's birth date."
            )
            % {"date": relative_birth.isoformat()},
            "relationship_mismatch",
        )
    if relationship == Relationship.CHILD and relative_birth <= member_birth:
        raise _field_error(
            "relationship",
            _(
                "A child must be born after the member; the identity number says "
                "%(date)s, which is not after the member's birth date."
            )
            % {"date": relative_birth.isoformat()},
            "relationship_mismatch",
        )
    if relationship == Relationship.SPOUSE:
        for who, birth in (("relative", relative_birth), ("member", member_birth)):
            age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
            if age < MARRIAGE_MIN_AGE:
                msg = (
                    _("The relative is %(age)s years old, too young to be a spouse.")
                    if who == "relative"
                    else _("The member is %(age)s years old, too young to have a spouse.")
                )
                raise _field_error("relationship", msg % {"age": age}, "relationship_mismatch")


def check_mutual_assistance(*, member: InsuredPerson, relative_region: str) -> None:
    """Paying from the prior-years surplus: only from an employee or retiree's
    personal account, to a close relative insured in the same province."""
    if not member.has_personal_account:
        raise _field_error(
            "scope_pay",
            _(
                "Only employee medical insurance has a personal account, so your "
                "insurance cannot pay for a relative."
            ),
            "pay_not_allowed",
        )
    if relative_region[:2] != member.province_code:
        raise _field_error(
            "scope_pay",
            _(
                "Mutual assistance is only possible between relatives insured in the same "
                "province: you are insured in %(member)s, the relative in %(relative)s."
            )
            % {"member": member.insured_region, "relative": relative_region},
            "pay_not_allowed",
        )


@transaction.atomic
def _create_link_rows(
    *,
    member: InsuredPerson,
    name: str,
    id_number: str,
    relative: InsuredPerson | None,
    **fields,
) -> FamilyLink:
    if relative is None:
        try:
            relative = person_create(
                id_number=id_number, name=name, insurance_type=InsuranceType.RESIDENT
            )
        except ValidationError as exc:
            field = next(iter(getattr(exc, "error_dict", {"name": None})), "name")
            raise _field_error(field, "; ".join(exc.messages)) from None
    try:
        with transaction.atomic():
            link = FamilyLink.objects.create(member=member, relative=relative, **fields)
    except IntegrityError:
        raise Conflict(
            _("This relative is already linked to your account or waiting for review."),
            code="link_exists",
            fields={"id_number": [_("Already linked or waiting for review.")]},
        ) from None
    return link


def link_request(
    *,
    member: InsuredPerson,
    actor,
    agreed: bool,
    agreement_version: str,
    name: str,
    id_number: str,
    relationship: str,
    scope_balance: bool,
    scope_records: bool,
    scope_pay: bool,
    pay_yearly_cap_fen: int | None,
    document_kind: str,
    document,
    request=None,
) -> FamilyLink:
    """A member adds a relative; the link waits for staff review.

    Steps: check the agreement, the fields, the relationship against both
    numbers and the mutual-assistance rule; judge the upload by its content;
    store the file under a random name; create the relative (if unknown) and
    the link in one transaction. On any refusal nothing is left behind: the
    file is deleted and the transaction rolled back.
    """
    if not agreed:
        raise _field_error(
            "agree", _("Please read the reminder and agree before adding a relative."), "consent"
        )
    if agreement_version != AGREEMENT_VERSION:
        raise _field_error(
            "agree",
            _("The agreement text has changed; please read it again and agree."),
            "consent_outdated",
        )
    name = (name or "").strip()
    if not name:
        raise _field_error("name", _("Please enter the relative's name."), "required")
    try:
        number = parse_id_number(id_number)
    except ValidationError as exc:
        raise _field_error("id_number", exc.messages[0], exc.code or "invalid") from None
    if relationship not in Relationship.values:
        raise _field_error(
            "relationship", _("Choose spouse, parent or child."), "invalid_relationship"
        )
    if document_kind not in DocumentKind.values:
        raise _field_error(
            "document_kind",
            _("Choose a personal commitment letter or a power of attorney."),
            "invalid",
        )
    if not (scope_balance or scope_records or scope_pay):
        raise _field_error("scopes", _("Choose at least one thing the relative may do."))
    if pay_yearly_cap_fen is not None:
        if not scope_pay:
            pay_yearly_cap_fen = None
        elif pay_yearly_cap_fen <= 0:
            raise _field_error("pay_yearly_cap", _("A yearly cap must be more than zero."))
    if number.value == member.id_number:
        raise _field_error("id_number", _("You cannot add yourself as a relative."), "self")

    relative = person_by_id_number(number.value)
    if relative is not None and relative.name != name:
        raise _field_error(
            "name",
            _("The name does not match the one on record for this identity number."),
            "name_mismatch",
        )
    check_relationship(
        member_birth=member.birth_date,
        relative_birth=number.birth_date,
        relationship=relationship,
        today=timezone.localdate(),
    )
    if scope_pay:
        check_mutual_assistance(
            member=member,
            relative_region=relative.insured_region if relative else number.region_code,
        )

    doc = uploads.check_document(document)
    stored = uploads.store(doc)
    try:
        with transaction.atomic():
            link = _create_link_rows(
                member=member,
                name=name,
                id_number=number.value,
                relative=relative,
                relationship=relationship,
                scope_balance=scope_balance,
                scope_records=scope_records,
                scope_pay=scope_pay,
                pay_yearly_cap_fen=pay_yearly_cap_fen,
                consent_version=AGREEMENT_VERSION,
                consent_at=timezone.now(),
                document_kind=document_kind,
                document_name=stored,
                document_type=doc.content_type,
                document_size=doc.size,
                document_sha256=doc.sha256,
            )
            audit_record(
                actor=actor,
                action="family.link.request",
                subject_person=member,
                target=link,
                detail={
                    "relative": link.relative_id,
                    "relationship": relationship,
                    "scopes": link.scopes(),
                    "consent_version": AGREEMENT_VERSION,
                    "consent_at": link.consent_at.isoformat(),
                    "document_sha256": doc.sha256,
                },
                request=request,
            )
    except BaseException:
        uploads.discard(stored)
        raise
    return link


def _notify_member(link: FamilyLink) -> None:
    member = InsuredPerson.objects.select_related("user").get(pk=link.member_id)
    email = member.user.email if member.user_id else ""
    if not email:
        return
    relative = link.relative.name
    if link.status == LinkStatus.APPROVED:
        subject = _("Your family link was approved")
        body = _(
            "Your request to link %(relative)s to your medical insurance account was approved."
        ) % {"relative": relative}
    else:
        subject = _("Your family link was rejected")
        body = _(
            "Your request to link %(relative)s to your medical insurance account was "
            "rejected. Reason: %(reason)s"
        ) % {"relative": relative, "reason": link.reason}
    try:
        send_mail(subject, body, None, [email])
    except Exception:  # the decision stands even if the mail server is down
        logger.exception("could not e-mail member %s about link %s", member.pk, link.pk)


def _decide(*, link_id: int, reviewer, status: str, reason: str, request) -> FamilyLink:
    if not reviewer.is_staff:
        raise ApplicationError(_("Only staff review family links."), status_code=403)
    with transaction.atomic():
        changed = FamilyLink.objects.filter(pk=link_id, status=LinkStatus.PENDING).update(
            status=status, reviewed_by=reviewer, reviewed_at=timezone.now(), reason=reason
        )
        if changed != 1:
            raise Conflict(
                _("This request has already been decided or withdrawn."), code="already_decided"
            )
        link = FamilyLink.objects.select_related("member", "relative").get(pk=link_id)
        audit_record(
            actor=reviewer,
            action=f"family.link.{'approve' if status == LinkStatus.APPROVED else 'reject'}",
            subject_person=link.member,
            target=link,
            detail={"reason": reason, "relative": link.relative_id},
            request=request,
        )
        transaction.on_commit(lambda: _notify_member(link))
    return link


def link_approve(*, link_id: int, reviewer, request=None) -> FamilyLink:
    return _decide(
        link_id=link_id, reviewer=reviewer, status=LinkStatus.APPROVED, reason="", request=request
    )


def link_reject(*, link_id: int, reviewer, reason: str, request=None) -> FamilyLink:
    reason = (reason or "").strip()
    if not reason:
        raise _field_error("reason", _("Give the member a reason for the rejection."), "required")
    return _decide(
        link_id=link_id,
        reviewer=reviewer,
        status=LinkStatus.REJECTED,
        reason=reason,
        request=request,
    )


def link_end(*, link: FamilyLink, user, request=None) -> FamilyLink:
    """The member revokes (or withdraws a pending request) or the relative leaves.

    Access ends at once: portal.access re-checks the link on every request."""
    if user.pk == link.member.user_id:
        action = "family.link.revoke"
    elif user.pk == link.relative.user_id:
        action = "family.link.leave"
    else:
        raise ApplicationError(
            _("Only the member or the relative can end this link."), status_code=403
        )
    with transaction.atomic():
        changed = FamilyLink.objects.filter(pk=link.pk, status__in=OPEN_STATUSES).update(
            status=LinkStatus.ENDED, ended_by=user, ended_at=timezone.now()
        )
        if changed != 1:
            raise Conflict(_("This link has already ended."), code="already_ended")
        audit_record(
            actor=user,
            action=action,
            subject_person=link.member,
            target=link,
            detail={"relative": link.relative_id},
            request=request,
        )
    link.refresh_from_db()
    return link


def counter_lookup(
    *, staff_user, member_id_number: str, relative_id_number: str, request=None
) -> tuple[InsuredPerson, FamilyLink]:
    """Counter service: staff look up a member's payment record for a relative
    who holds an approved power of attorney. Recorded as ``counter.lookup``."""
    if not staff_user.is_staff:
        raise ApplicationError(_("Only staff use the counter service."), status_code=403)
    people = {}
    for field, raw in (
        ("member_id_number", member_id_number),
        ("relative_id_number", relative_id_number),
    ):
        try:
            number = parse_id_number(raw)
        except ValidationError as exc:
            raise _field_error(field, exc.messages[0], exc.code or "invalid") from None
        person = person_by_id_number(number.value)
        if person is None:
            raise _field_error(field, _("Nobody with this identity number is insured here."))
        people[field] = person
    member, relative = people["member_id_number"], people["relative_id_number"]
    link = (
        FamilyLink.objects.filter(
            member=member,
            relative=relative,
            status=LinkStatus.APPROVED,
            document_kind=DocumentKind.POWER_OF_ATTORNEY,
        )
        .select_related("member", "relative")
        .first()
    )
    if link is None:
        raise ApplicationError(
            _(
                "There is no approved power of attorney from this member to this relative; "
                "the payment record cannot be shown."
            ),
            code="no_power_of_attorney",
            status_code=403,
        )
    audit_record(
        actor=staff_user,
        action="counter.lookup",
        subject_person=member,
        target=link,
        detail={"relative": relative.pk},
        request=request,
    )
    return member, link
