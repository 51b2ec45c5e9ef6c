"""Sign-in: members with identity number or phone, staff with a username.

django-axes counts failed sign-ins per (account, client address). A member
may type their identity number (any case, with spaces), their phone or (for
staff) a username; ``lockout_key`` turns each of these into the same key, so
switching between them does not get around the lockout. The key never holds
the identity number itself (axes stores it in its tables).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from .idnumber import looks_like_id_number, normalise, parse_id_number
from .models import User
from .selectors import person_by_id_number

_PHONE = re.compile(r"^\+?\d{11,15}$", re.ASCII)


_ASCII_SPACE = " \t\r\n"


def meant_as_id_number(login: str) -> bool:
    """Whether a login is judged as an identity number by the one parser:
    16 or more digits of any script (a phone has at most 15), or any non-ASCII
    login with a digit in it (full-width, Arabic-Indic, ...)."""
    digits = sum(ch.isdigit() for ch in login)
    return digits >= 16 or (digits > 0 and not login.isascii())


def clean_login(login) -> str:
    """What the sign-in page and the token API pass on to ``authenticate``.

    A login meant as an identity number goes through the one parser
    (``members.idnumber.parse_id_number``): a bad one raises its
    ``ValidationError`` (``non_ascii``, ``format``, ``checksum``, ...), a good
    one comes back normalised. Anything else (phone, username) is only
    stripped of ASCII white space: ``str.strip()`` would also drop ideographic
    and no-break spaces."""
    login = login if isinstance(login, str) else ""
    if meant_as_id_number(login):
        return parse_id_number(login).value
    return login.strip(_ASCII_SPACE)


def user_for_login(login: str) -> User | None:
    """The user an identity number, phone or username names (None if nobody).
    A login with any non-ASCII character names nobody."""
    login = (login or "").strip(_ASCII_SPACE)
    if not login or not login.isascii():
        return None
    if looks_like_id_number(login):
        person = person_by_id_number(login)
        return person.user if person is not None else None
    if _PHONE.match(login):
        return User.objects.filter(phone=login).first()
    return User.objects.filter(username=login).first()


def lockout_key(login: str) -> str:
    """One key per account, whatever the member typed to name it."""
    user = user_for_login(login)
    if user is not None:
        return f"user:{user.pk}"
    # Unknown login: still counted (guessing is throttled too), but stored
    # only as a keyed hash so a typed identity number is not kept in clear.
    digest = hmac.new(
        settings.SECRET_KEY.encode(), normalise(login).encode(), hashlib.sha256
    ).hexdigest()
    return f"unknown:{digest[:32]}"


def axes_username(request, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: the lockout key for a sign-in attempt."""
    field = settings.AXES_USERNAME_FORM_FIELD
    login = (credentials or {}).get(field)
    if login is None and request is not None:
        data = getattr(request, "data", None) or request.POST
        login = data.get(field)
    return lockout_key(str(login or ""))


class IdentityNumberOrPhoneBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        login = (username or kwargs.get(User.USERNAME_FIELD) or "").strip(_ASCII_SPACE)
        if not login or password is None:
            return None
        user = user_for_login(login)
        if user is None:
            # Same cost as a real check, so response time does not reveal who exists.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        """The signed-in user of a request, with the person behind it (nearly
        every member page and API needs ``user.person``).

        Read on every signed-in request, so kept in the cache (Redis) for
        ``AUTH_USER_CACHE_SECONDS``; every save or delete of the user or their
        person drops the entry (``members.signals``), so a password change,
        a deactivation or an edit takes effect on the next request."""
        ttl = settings.AUTH_USER_CACHE_SECONDS
        key = user_cache_key(user_id)
        user = cache.get(key) if ttl else None
        if user is None:
            try:
                user = User._default_manager.select_related("person").get(pk=user_id)
            except User.DoesNotExist:
                return None
            if ttl:
                cache.set(key, user, ttl)
        return user if self.user_can_authenticate(user) else None


def user_cache_key(user_id) -> str:
    return f"auth:user:v1:{user_id}"
