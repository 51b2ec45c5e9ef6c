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

from .idnumber import parse_id_number
from .models import InsuranceType, InsuredPerson, MemberToken, User
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
        id_number=number.value,
        name=name.strip(),
        birth_date=number.birth_date,
        sex=number.sex,
        insurance_type=insurance_type,
        insured_region=insured_region or number.region_code,
        user=user,
    )
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
