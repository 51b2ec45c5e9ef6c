"""Writes for family links.

Status moves only forward: pending -> approved | rejected, approved/pending ->
ended. Each move is one conditional UPDATE (``WHERE status = <expected>``), so
two staff deciding the same link at once cannot both win; the loser gets a
Conflict. Every move is recorded in the audit trail; e-mail goes out only after
the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from members.crypto import id_number_hash
from members.idnumber import parse_id_number
from members.models import InsuredPerson
from members.selectors import person_by_id_number
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


def check_mutual_assistance(*, member: InsuredPerson) -> None:
    """Paying from the prior-years surplus needs a personal account (employee
    or retiree). That the relative is insured in the same province is checked
    with the register, in ``_verify_relative``."""
    if not member.has_personal_account:
        raise _field_error(
            "scope_pay",
            _(
                "Only employee medical insurance has a personal account, so your "
                "insurance cannot pay for a relative."
            ),
            "pay_not_allowed",
        )


def _create_link_row(*, member: InsuredPerson, relative: InsuredPerson, **fields) -> FamilyLink:
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


# --- Who may be named as a relative (docs/adr/0009) -------------------------


_COUNTER_SECONDS = 2 * 24 * 3600  # the key names the day; this only bounds its life


def check_failures_per_day() -> int:
    return int(getattr(settings, "FAMILY_CHECK_FAILURES_PER_DAY", 5))


def _failures_key(member: InsuredPerson) -> str:
    return f"family:relative-check-failures:v1:{member.pk}:{timezone.localdate().isoformat()}"


def relative_check_failures(member: InsuredPerson) -> int:
    """How many of today's requests by ``member`` named nobody insured (or
    were refused for being over the limit)."""
    return int(cache.get(_failures_key(member)) or 0)


def _too_many_checks(*, member, actor, digest: str, request) -> ApplicationError:
    audit_record(
        actor=actor,
        action="family.relative_check.limited",
        subject_person=member,
        detail={"id_number_hash": digest, "limit": check_failures_per_day()},
        request=request,
    )
    return ApplicationError(
        _(
            "Too many of your requests today named a relative we could not verify "
            "(the limit is %(limit)s a day). Please try again tomorrow, or ask at the counter."
        )
        % {"limit": check_failures_per_day()},
        code="too_many_checks",
        status_code=429,
    )


def _relative_not_verified() -> ApplicationError:
    message = _(
        "We could not verify this relative. The name and identity number must be exactly "
        "those of a person insured with us; to pay from your account, the relative must also "
        "be insured in your province. Please check both, or ask at the counter."
    )
    return ApplicationError(message, code="relative_not_verified", fields={"id_number": [message]})


# Compared against the typed name when nobody holds the number, so a miss costs
# the same work as a wrong name (no name is empty: it is refused before).
_NOBODY = "\x00"


def _verify_relative(
    *, member: InsuredPerson, actor, number, name: str, scope_pay: bool, request
) -> InsuredPerson:
    """The relative must already be in the register, under this name (and, to
    pay, insured in the member's province). One refusal for every miss: the
    requester learns nothing about who is insured or what name a number
    carries. Each request takes one of today's checks first (an atomic counter
    in the cache, so parallel requests cannot exceed the limit); a passed check
    gives it back, a failed one keeps it and is audited with the keyed hash of
    the number, never the number."""
    digest = id_number_hash(number.value)
    key = _failures_key(member)
    cache.add(key, 0, timeout=_COUNTER_SECONDS)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_COUNTER_SECONDS)
        used = 1
    if used > check_failures_per_day():
        raise _too_many_checks(member=member, actor=actor, digest=digest, request=request)

    person = person_by_id_number(number.value)
    on_record = person.name if person is not None else _NOBODY
    name_ok = hmac.compare_digest(on_record.encode(), name.encode())
    region_ok = not scope_pay or (
        person is not None and person.province_code == member.province_code
    )
    if person is not None and name_ok and region_ok:
        cache.decr(key)
        return person
    reason = "unknown" if person is None else ("name" if not name_ok else "province")
    audit_record(
        actor=actor,
        action="family.relative_check.failed",
        subject_person=member,
        detail={"id_number_hash": digest, "reason": reason},
        request=request,
    )
    raise _relative_not_verified()


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
    """A member adds a relative who is already insured; the link waits for
    staff review. Nobody enters the register here (docs/adr/0009).

    Steps: check the agreement and the fields; refuse the member's own number;
    check the relationship against both numbers and that the member has a
    personal account to share; judge the upload by its content. Only then
    look the relative up in the register (``_verify_relative``: one refusal
    for every miss, rate-limited and audited). Store the file under a random
    name and create the link. On any refusal nothing is left behind: no
    person, no link, no file.
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
    if relative_check_failures(member) >= check_failures_per_day():
        raise _too_many_checks(
            member=member, actor=actor, digest=id_number_hash(number.value), request=request
        )
    check_relationship(
        member_birth=member.birth_date,
        relative_birth=number.birth_date,
        relationship=relationship,
        today=timezone.localdate(),
    )
    if scope_pay:
        check_mutual_assistance(member=member)
    doc = uploads.check_document(document)

    relative = _verify_relative(
        member=member, actor=actor, number=number, name=name, scope_pay=scope_pay, request=request
    )
    stored = uploads.store(doc)
    try:
        with transaction.atomic():
            link = _create_link_row(
                member=member,
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
