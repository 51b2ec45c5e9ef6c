"""Rate limits, counted in the cache (Redis in production).

- API throttles (DRF ``DEFAULT_THROTTLE_CLASSES``): per signed-in user
  (``API_THROTTLE_MEMBER``; members, relatives and staff, session or token),
  per institution (``API_THROTTLE_INSTITUTION``, all its tokens together) and
  per client address for anonymous requests (``API_THROTTLE_ANON``). Each is
  a fixed window: one INCR per request, not DRF's list of timestamps (which
  grows with the rate). Exceeded: 429 in the one error shape, with
  ``Retry-After``.
- Sign-in per address (``SIGNIN_ADDRESS_FAILURE_LIMIT`` failures within
  ``SIGNIN_ADDRESS_COOLOFF_MINUTES``, across all accounts): against password
  spraying, which django-axes (per account and address) does not see. Once
  reached, every sign-in from that address is refused for the cool-off, the
  right password too (``members.auth.AddressThrottleBackend``).

Every key starts with ``sec:`` (tests clear them between tests).
Rates are read from settings on each request, so they can change without a
restart in tests.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

KEY_PREFIX = "sec:"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_address(request) -> str:
    """The client address as django-axes sees it (one rule for both)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or "unknown"


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"600/minute"`` -> ``(600, 60)``; ``"off"`` or empty -> None."""
    if not rate or str(rate).strip().lower() in ("off", "none"):
        return None
    try:
        number, period = str(rate).split("/")
        return int(number), _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(
            f"Bad rate {rate!r}: use <n>/<second|minute|hour|day> or 'off'."
        ) from None


def _count(key: str, timeout: int) -> int:
    """Add one to the counter ``key`` (created with ``timeout``), return it:
    one round trip with Redis (``portal.cache.RedisCache.count``)."""
    count = getattr(cache, "count", None)
    if count is not None:
        return count(key, timeout)
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


class _WindowThrottle(BaseThrottle):
    scope = ""
    setting = ""

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        parsed = parse_rate(getattr(settings, self.setting, None))
        ident = self.ident(request) if parsed else None
        if ident is None:
            return True
        number, duration = parsed
        now = time.time()
        window = int(now // duration)
        key = f"{KEY_PREFIX}throttle:{self.scope}:{ident}:{window}"
        if _count(key, duration + 1) > number:
            self._wait = max(1, int((window + 1) * duration - now + 0.999))
            return False
        return True

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class InstitutionRateThrottle(_WindowThrottle):
    scope = "institution"
    setting = "API_THROTTLE_INSTITUTION"

    def ident(self, request) -> str | None:
        institution = getattr(request.user, "institution", None)
        return f"i{institution.pk}" if institution is not None else None


class MemberRateThrottle(_WindowThrottle):
    scope = "user"
    setting = "API_THROTTLE_MEMBER"

    def ident(self, request) -> str | None:
        user = request.user
        if getattr(user, "institution", None) is not None or not user.is_authenticated:
            return None
        return f"u{user.pk}"


class AnonRateThrottle(_WindowThrottle):
    scope = "anon"
    setting = "API_THROTTLE_ANON"

    def ident(self, request) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return client_address(request)


# --- Sign-in failures per address ---------------------------------------------


def _address_keys(address: str) -> tuple[str, str]:
    return f"{KEY_PREFIX}signin:fail:{address}", f"{KEY_PREFIX}signin:block:{address}"


def signin_cooloff_seconds() -> int:
    return settings.SIGNIN_ADDRESS_COOLOFF_MINUTES * 60


def signin_address_blocked(request) -> bool:
    if not settings.SIGNIN_ADDRESS_FAILURE_LIMIT:
        return False
    return cache.get(_address_keys(client_address(request))[1]) is not None


def signin_address_failed(request) -> None:
    """Count one failed sign-in from the request's address; block the address
    for the cool-off once the limit is reached. Attempts refused because the
    address is blocked are not counted, so the block ends when it said."""
    limit = settings.SIGNIN_ADDRESS_FAILURE_LIMIT
    if not limit or getattr(request, "signin_address_blocked", False):
        return
    failures, block = _address_keys(client_address(request))
    cooloff = signin_cooloff_seconds()
    if _count(failures, cooloff) >= limit:
        cache.set(block, 1, cooloff)
        cache.delete(failures)
