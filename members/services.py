from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.rules import is_staff_account
from portal.errors import ApplicationError

from .idnumber import parse_id_number
from .models import InsuranceType, InsuredPerson, MemberToken, StaffEnrolmentCode, User
from .selectors import person_by_id_number


@transaction.atomic
def person_create(
    *,
    id_number: str,
    name: str,
    insurance_type: str = InsuranceType.EMPLOYEE,
    insured_region: str | None = None,
    user: User | None = None,
) -> InsuredPerson:
    """Validate the identity number, derive birth date and sex, store the person.

    ``insured_region`` defaults to the region code in the number.
    """
    number = parse_id_number(id_number)
    person = InsuredPerson(
        name=name.strip(),
        birth_date=number.birth_date,
        sex=number.sex,
        insurance_type=insurance_type,
        insured_region=insured_region or number.region_code,
        user=user,
    )
    person.id_number = number.value  # a property: stored encrypted and hashed
    if person_by_id_number(number.value) is not None:
        raise ValidationError(
            {"id_number": [_("A person with this identity number is already registered.")]},
            code="unique",
        )
    # The unique hash column is checked just above with a clear message (and by
    # the database, should two registrations race).
    person.full_clean(exclude=["id_number_encrypted", "id_number_hash"])
    person.save()
    return person


@transaction.atomic
def member_user_create(
    *,
    person: InsuredPerson,
    password: str,
    phone: str | None = None,
    email: str = "",
) -> User:
    """Give an insured person a sign-in. The username is internal; members sign
    in with their identity number or phone."""
    user = User(username=f"m{person.pk}", phone=phone or None, email=email)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    person.user = user
    person.save(update_fields=["user"])
    return user


# --- API tokens ---------------------------------------------------------------

MEMBER_TOKEN_PREFIX = "mt_"  # noqa: S105 (a public prefix, not a secret)


def member_token_sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def member_token_create(*, user: User) -> tuple[MemberToken, str]:
    """A new API token for ``user``, valid for ``MEMBER_TOKEN_SECONDS``.

    Only its SHA-256 is stored; the returned key is shown once. The user's
    expired and revoked tokens are deleted on the way (they open nothing)."""
    now = timezone.now()
    MemberToken.objects.filter(user=user).filter(
        Q(revoked_at__isnull=False) | Q(expires_at__lte=now)
    ).delete()
    raw = MEMBER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = MemberToken.objects.create(
        user=user,
        key_sha256=member_token_sha256(raw),
        prefix=raw[:12],
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.MEMBER_TOKEN_SECONDS),
    )
    return token, raw


def member_token_revoke(*, token: MemberToken) -> bool:
    """Revoke one token (an API client signing out). True if it was live."""
    return bool(
        MemberToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def member_tokens_revoke(*, user_id: int, reason: str) -> int:
    """Revoke every live token of a user (password changed, signed out
    everywhere, deactivated); returns how many. Authentication reads the
    token row on every request, so this counts from the next request."""
    count = MemberToken.objects.filter(user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if count:
        from audit.services import audit_record

        audit_record(
            actor=None,
            action="security.tokens_revoked",
            target=User(pk=user_id),
            detail={"reason": reason, "count": count},
        )
    return count


@transaction.atomic
def user_sign_out_everywhere(*, user: User, request=None) -> None:
    """End every session and API token of ``user``: the session generation
    goes up (it is part of the session hash, so each session signed in before
    fails its check on its next request) and every token is revoked."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    from .signals import forget_user

    forget_user(user.pk)  # the cached user still holds the old generation
    member_tokens_revoke(user_id=user.pk, reason="signed_out_everywhere")
    from audit.services import audit_record

    audit_record(actor=user, action="security.signed_out_everywhere", target=user, request=request)


# --- Staff enrolment codes ----------------------------------------------------

# Unambiguous letters and digits (no 0/O, 1/I/L); 20 of them carry 100 bits.
_ENROLMENT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_ENROLMENT_LENGTH = 20
# Wrong codes a staff account may try per 15 minutes (guessing 100 bits is
# hopeless anyway; this keeps a password-holder from filling the audit trail).
ENROLMENT_CODE_ATTEMPTS = 5


def _enrolment_code_sha256(code: str) -> str:
    normalised = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).hexdigest()


@transaction.atomic
def staff_enrolment_code_issue(
    *, user: User, issued_by: User | None = None, request=None
) -> tuple[StaffEnrolmentCode, str]:
    """A one-time enrolment code for a staff member, valid for
    ``STAFF_ENROLMENT_CODE_SECONDS``; earlier unused codes of that person stop
    working. Returns the code to hand over (shown once; only its SHA-256 is
    stored). The issuance is audited."""
    if not (is_staff_account(user) and user.is_active):
        raise ApplicationError(
            _("Enrolment codes are for active staff accounts only."), code="not_staff"
        )
    now = timezone.now()
    StaffEnrolmentCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
        expires_at=now
    )
    raw = "".join(secrets.choice(_ENROLMENT_ALPHABET) for _ in range(_ENROLMENT_LENGTH))
    code = StaffEnrolmentCode.objects.create(
        user=user,
        code_sha256=_enrolment_code_sha256(raw),
        issued_by=issued_by,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.STAFF_ENROLMENT_CODE_SECONDS),
    )
    from audit.services import audit_record

    audit_record(
        actor=issued_by,
        action="security.enrolment_code_issued",
        target=code,
        detail={"user": user.pk, "expires_at": code.expires_at.isoformat()},
        request=request,
    )
    shown = "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    return code, shown


def staff_enrolment_code_redeem(*, user: User, code: str, request=None) -> StaffEnrolmentCode:
    """Use ``code`` for ``user``'s enrolment: exactly once, before it expires.

    One conditional UPDATE marks it used, so two requests racing with the
    same code cannot both succeed. A refused code is audited too."""
    from django.core.cache import cache

    from audit.services import audit_record
    from portal.throttles import KEY_PREFIX, _count

    failures_key = f"{KEY_PREFIX}enrol:fail:{user.pk}"
    if (cache.get(failures_key) or 0) >= ENROLMENT_CODE_ATTEMPTS:
        raise ApplicationError(
            _("Too many wrong enrolment codes. Wait 15 minutes, then try again."),
            code="too_many_attempts",
            fields={"enrolment_code": [_("Too many wrong codes.")]},
            status_code=429,
        )
    digest = _enrolment_code_sha256(code or "")
    now = timezone.now()
    with transaction.atomic():
        used = StaffEnrolmentCode.objects.filter(
            user=user, code_sha256=digest, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if used:
            redeemed = StaffEnrolmentCode.objects.get(code_sha256=digest)
            audit_record(
                actor=user, action="security.enrolment_code_used", target=redeemed, request=request
            )
            return redeemed
    _count(failures_key, 15 * 60)
    audit_record(actor=user, action="security.enrolment_code_refused", target=user, request=request)
    raise ApplicationError(
        _(
            "This enrolment code is wrong, has expired or was already used. "
            "Ask an administrator for a new one."
        ),
        code="invalid_enrolment_code",
        fields={"enrolment_code": [_("Wrong, expired or already used.")]},
    )
