"""Writes for family links.

Status moves only forward: pending -> approved | rejected, approved/pending ->
ended. Each move is one conditional UPDATE (``WHERE status = <expected>``), so
two staff deciding the same link at once cannot both win; the loser gets a
Conflict. Every move is recorded in the audit trail; e-mail goes out only after
the transaction commits (the notifications outbox reads the audit events).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from members.crypto import id_number_hash
from members.idnumber import parse_id_number
from members.models import InsuredPerson
from members.selectors import person_by_id_number
from portal.errors import ApplicationError, Conflict

from . import uploads
from .models import (
    ADULT_AGE,
    OPEN_STATUSES,
    TERM_YEARS,
    DocumentKind,
    FamilyLink,
    LinkStatus,
    LinkTerm,
    Relationship,
)
from .policy import FamilyPolicy, may_share_with, relationship_policy_for

logger = logging.getLogger(__name__)

# Bump when the text of the reminder/agreement (templates/family/agreement.html) changes.
AGREEMENT_VERSION = "2026-11-v2"
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
    older = (Relationship.GRANDPARENT_PATERNAL, Relationship.GRANDPARENT_MATERNAL)
    younger = (Relationship.GRANDCHILD_PATERNAL, Relationship.GRANDCHILD_MATERNAL)
    if relationship in older and relative_birth >= member_birth:
        raise _field_error(
            "relationship",
            _(
                "A grandparent must be born before the member; the identity number says "
                "%(date)s, which is not before the member's birth date."
            )
            % {"date": relative_birth.isoformat()},
            "relationship_mismatch",
        )
    if relationship in younger and relative_birth <= member_birth:
        raise _field_error(
            "relationship",
            _(
                "A grandchild must be born after the member; the identity number says "
                "%(date)s, which is not after the member's birth date."
            )
            % {"date": relative_birth.isoformat()},
            "relationship_mismatch",
        )
    # Siblings: no check (twins, half-siblings decades apart: any dates fit).
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


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_policy_allows(*, policy: FamilyPolicy, relationship: str, today: dt.date) -> None:
    """The region's rules in force today must name the relationship."""
    if policy.allows(relationship):
        return
    allowed = ", ".join(str(label) for _v, label in policy.relationship_choices())
    message = _(
        "The family mutual-assistance rules of your region in force on %(date)s do not "
        "include “%(relationship)s”. Relatives who qualify: %(allowed)s."
    ) % {
        "date": today.isoformat(),
        "relationship": Relationship(relationship).label,
        "allowed": allowed or _("none"),
    }
    raise _field_error("relationship", message, "relationship_not_allowed")


def check_term(*, policy: FamilyPolicy, term: str) -> None:
    if term not in LinkTerm.values:
        raise _field_error(
            "term", _("Choose one year, three years or until you end it."), "invalid_term"
        )
    if not policy.allows_term(term):
        raise _field_error(
            "term",
            _(
                "The rules of your region do not allow a link without an end date: "
                "choose one year or three years."
            ),
            "term_not_allowed",
        )


def add_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


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
    *,
    member: InsuredPerson,
    actor,
    number,
    name: str,
    scope_pay: bool,
    request,
    crosses: bool = False,
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
    # access.rules.pay_refusal's rule, with the policy read up front (``crosses``)
    # so that a miss costs the same queries whatever it is.
    region_ok = not scope_pay or (
        person is not None
        and member.has_personal_account
        and (crosses or person.province_code == member.province_code)
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
    scope_errands: bool = False,
    document,
    term: str = LinkTerm.ONE_YEAR,
    today: dt.date | None = None,
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
    today = today or timezone.localdate()
    if relationship not in Relationship.values:
        raise _field_error(
            "relationship", _("Choose the relative's relationship to you."), "invalid_relationship"
        )
    policy = relationship_policy_for(region=member.insured_region, today=today)
    check_policy_allows(policy=policy, relationship=relationship, today=today)
    check_term(policy=policy, term=term)
    if document_kind not in DocumentKind.values:
        raise _field_error(
            "document_kind",
            _("Choose a personal commitment letter or a power of attorney."),
            "invalid",
        )
    if not (scope_balance or scope_records or scope_pay or scope_errands):
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
        today=today,
    )
    if scope_pay:
        check_mutual_assistance(member=member)
    doc = uploads.check_document(document)

    relative = _verify_relative(
        member=member,
        actor=actor,
        number=number,
        name=name,
        scope_pay=scope_pay,
        request=request,
        crosses=policy.cross_province,  # read above: a miss costs the same queries
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
                scope_errands=scope_errands,
                pay_yearly_cap_fen=pay_yearly_cap_fen,
                consent_version=AGREEMENT_VERSION,
                consent_at=timezone.now(),
                term=term,
                relative_is_minor=age_on(number.birth_date, today) < ADULT_AGE,
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
                    "term": term,
                    "relative_is_minor": link.relative_is_minor,
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


def _decide(*, link_id: int, reviewer, status: str, reason: str, request) -> FamilyLink:
    if not reviewer.is_staff:
        raise ApplicationError(_("Only staff review family links."), status_code=403)
    now = timezone.now()
    extra = {}
    if status == LinkStatus.APPROVED:
        # The term runs from the approval (docs/adr/0017).
        term = FamilyLink.objects.filter(pk=link_id).values_list("term", flat=True).first()
        years = TERM_YEARS.get(term) if term else None
        extra["expires_at"] = add_years(now, years) if years else None
    with transaction.atomic():
        changed = FamilyLink.objects.filter(pk=link_id, status=LinkStatus.PENDING).update(
            status=status, reviewed_by=reviewer, reviewed_at=now, reason=reason, **extra
        )
        if changed != 1:
            raise Conflict(
                _("This request has already been decided or withdrawn."), code="already_decided"
            )
        link = FamilyLink.objects.select_related("member", "relative").get(pk=link_id)
        detail = {"reason": reason, "relative": link.relative_id}
        if status == LinkStatus.APPROVED:
            detail["expires_at"] = link.expires_at.isoformat() if link.expires_at else None
        audit_record(
            actor=reviewer,
            action=f"family.link.{'approve' if status == LinkStatus.APPROVED else 'reject'}",
            subject_person=link.member,
            target=link,
            detail=detail,
            request=request,
        )
        # The member (and the relative) are told by the notifications outbox,
        # from this audit event, after commit (docs/adr/0016).
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

    Access ends at once: the access layer re-checks the links in effect on every request."""
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
        FamilyLink.objects.in_effect()
        .filter(
            member=member,
            relative=relative,
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


# --- The relative's consent, expiry, renewal and changes (docs/adr/0017) -----


def _link_row(link_id: int) -> FamilyLink:
    return FamilyLink.objects.select_related("member", "relative").get(pk=link_id)


def _require_relative(link: FamilyLink, user) -> None:
    if user.pk != link.relative.user_id:
        raise ApplicationError(
            _("Only the relative named in this link can confirm or decline it."),
            status_code=403,
        )


def _require_member(link: FamilyLink, user) -> None:
    if user.pk != link.member.user_id:
        raise ApplicationError(
            _("Only the member who added the relative can change this link."), status_code=403
        )


def link_confirm(*, link: FamilyLink, user, request=None) -> FamilyLink:
    """The adult relative confirms in their own account: from now on (once
    staff have approved too) the link is in effect."""
    _require_relative(link, user)
    if link.relative_is_minor:
        raise ApplicationError(
            _("This link rests on the document and the staff review; it needs no confirmation."),
            code="minor_no_confirmation",
        )
    with transaction.atomic():
        changed = FamilyLink.objects.filter(
            pk=link.pk, status__in=OPEN_STATUSES, relative_confirmed_at__isnull=True
        ).update(relative_confirmed_at=timezone.now())
        if changed != 1:
            raise Conflict(
                _("This request has already been confirmed, declined or ended."),
                code="already_confirmed",
            )
        link = _link_row(link.pk)
        audit_record(
            actor=user,
            action="family.link.confirm",
            subject_person=link.member,
            target=link,
            detail={"relative": link.relative_id, "status": link.status},
            request=request,
        )
    return link


def link_decline(*, link: FamilyLink, user, request=None) -> FamilyLink:
    """The relative declines a request they have not confirmed: it ends and
    never takes effect."""
    _require_relative(link, user)
    now = timezone.now()
    with transaction.atomic():
        changed = FamilyLink.objects.filter(
            pk=link.pk, status__in=OPEN_STATUSES, relative_confirmed_at__isnull=True
        ).update(status=LinkStatus.DECLINED, ended_by=user, ended_at=now)
        if changed != 1:
            raise Conflict(
                _("This request has already been confirmed, declined or ended."),
                code="already_confirmed",
            )
        link = _link_row(link.pk)
        audit_record(
            actor=user,
            action="family.link.decline",
            subject_person=link.member,
            target=link,
            detail={"relative": link.relative_id},
            request=request,
        )
    return link


def renewed_end(link: FamilyLink, now: dt.datetime | None = None) -> dt.datetime | None:
    """Where a renewal would put the end date (None: nothing to renew)."""
    years = TERM_YEARS.get(link.term)
    if link.status != LinkStatus.APPROVED or link.expires_at is None or not years:
        return None
    return add_years(max(link.expires_at, now or timezone.now()), years)


def link_renew(*, link: FamilyLink, user, now: dt.datetime | None = None, request=None):
    """One more term, from the current end (or from now, if it has passed).
    Recorded as ``family.link.renew``; the relative's confirmation stands."""
    _require_member(link, user)
    now = now or timezone.now()
    link = _link_row(link.pk)
    years = TERM_YEARS.get(link.term)
    if link.status != LinkStatus.APPROVED or link.expires_at is None or not years:
        raise ApplicationError(
            _("Only an approved link with an end date can be renewed."), code="not_renewable"
        )
    # A renewal is a new term: the relationship must still qualify today.
    today = timezone.localtime(now).date()
    check_policy_allows(
        policy=relationship_policy_for(region=link.member.insured_region, today=today),
        relationship=link.relationship,
        today=today,
    )
    before = link.expires_at
    after = add_years(max(before, now), years)
    with transaction.atomic():
        changed = FamilyLink.objects.filter(
            pk=link.pk, status=LinkStatus.APPROVED, expires_at=before
        ).update(expires_at=after, renewed_at=now)
        if changed != 1:
            raise Conflict(_("This link changed meanwhile; please look again."), code="changed")
        audit_record(
            actor=user,
            action="family.link.renew",
            subject_person=link.member,
            target=link,
            detail={
                "relative": link.relative_id,
                "term": link.term,
                "before": {"expires_at": before.isoformat()},
                "after": {"expires_at": after.isoformat()},
                "was_expired": before <= now,
            },
            request=request,
        )
    return _link_row(link.pk)


def _grant_state(link: FamilyLink) -> dict:
    return {
        "scopes": link.scopes(),
        "pay_yearly_cap_fen": link.pay_yearly_cap_fen,
    }


def removed_scopes(
    link: FamilyLink, *, scope_balance: bool, scope_records: bool, scope_pay: bool
) -> list[str]:
    """The scopes a change would take away (asked to confirm first)."""
    new = {"balance": scope_balance, "records": scope_records, "pay": scope_pay}
    return [s for s in link.scopes() if not new[s]]


def link_change(
    *,
    link: FamilyLink,
    user,
    scope_balance: bool,
    scope_records: bool,
    scope_pay: bool,
    pay_yearly_cap_fen: int | None,
    request=None,
) -> FamilyLink:
    """The member changes what the relative may do, without ending the link.
    One conditional UPDATE (the link must still be open and unchanged since it
    was read); takes effect on the next request; recorded with before/after."""
    _require_member(link, user)
    if not (scope_balance or scope_records or scope_pay):
        raise _field_error("scopes", _("Choose at least one thing the relative may do."))
    if not scope_pay:
        pay_yearly_cap_fen = None
    elif pay_yearly_cap_fen is not None and pay_yearly_cap_fen <= 0:
        raise _field_error("pay_yearly_cap", _("A yearly cap must be more than zero."))
    link = _link_row(link.pk)
    if scope_pay and not link.scope_pay:
        check_mutual_assistance(member=link.member)
        if not may_share_with(link.member, link.relative):
            raise _field_error(
                "scope_pay",
                _(
                    "The relative is insured in another province and the rules of your "
                    "region do not allow sharing across provinces."
                ),
                "pay_not_allowed",
            )
    before = _grant_state(link)
    with transaction.atomic():
        changed = FamilyLink.objects.filter(
            pk=link.pk,
            status__in=OPEN_STATUSES,
            scope_balance=link.scope_balance,
            scope_records=link.scope_records,
            scope_pay=link.scope_pay,
            pay_yearly_cap_fen=link.pay_yearly_cap_fen,
        ).update(
            scope_balance=scope_balance,
            scope_records=scope_records,
            scope_pay=scope_pay,
            pay_yearly_cap_fen=pay_yearly_cap_fen,
        )
        if changed != 1:
            raise Conflict(
                _("This link has ended or changed meanwhile; please look again."), code="changed"
            )
        link = _link_row(link.pk)
        after = _grant_state(link)
        if after == before:
            return link  # nothing changed: nothing to record
        audit_record(
            actor=user,
            action="family.link.change",
            subject_person=link.member,
            target=link,
            detail={"relative": link.relative_id, "before": before, "after": after},
            request=request,
        )
    return link


REMINDER_DAYS = 30


def links_remind_expiring(*, now: dt.datetime | None = None) -> int:
    """Record ``family.link.expiry_reminder`` for every link in effect ending
    within 30 days, once per link and end date (a conditional UPDATE claims
    it; a renewal sets a new end date, which gets its own reminder)."""
    now = now or timezone.now()
    due = FamilyLink.objects.in_effect(now).filter(
        expires_at__lte=now + dt.timedelta(days=REMINDER_DAYS)
    )
    return _record_once_per_end_date(due, "reminded_for", "family.link.expiry_reminder")


def links_record_expired(*, now: dt.datetime | None = None) -> int:
    """Record ``family.link.expired`` once per link and end date. Access
    already stopped at the end date (``in_effect``); this only writes it down."""
    now = now or timezone.now()
    due = FamilyLink.objects.filter(status=LinkStatus.APPROVED, expires_at__lte=now)
    return _record_once_per_end_date(due, "expiry_recorded_for", "family.link.expired")


def _record_once_per_end_date(due, marker: str, action: str) -> int:
    """For each link of ``due`` whose ``marker`` column is not yet its end
    date: claim it (a conditional UPDATE setting ``marker`` to the end date,
    so two sweeps never both record it) and record ``action``, each link in
    its own transaction. Returns how many were recorded."""
    pairs = due.exclude(**{marker: models.F("expires_at")}).values_list("pk", "expires_at")
    done = 0
    for pk, expires_at in list(pairs):
        with transaction.atomic():
            claimed = (
                FamilyLink.objects.filter(pk=pk, expires_at=expires_at, status=LinkStatus.APPROVED)
                .exclude(**{marker: expires_at})
                .update(**{marker: expires_at})
            )
            if claimed != 1:
                continue
            link = _link_row(pk)
            audit_record(
                actor=None,
                action=action,
                subject_person=link.member,
                target=link,
                detail={
                    "relative": link.relative_id,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
            done += 1
    return done
