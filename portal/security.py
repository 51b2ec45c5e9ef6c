"""Sign-in protection and staff pages.

- ``staff_required`` / ``StaffRequiredMixin``: the gate for every staff page:
  signed in, ``is_staff``, and this session passed a TOTP code (django-otp).
  ``IsVerifiedStaff`` is the same for DRF endpoints; ``StaffAdminSite`` for /admin/.

- What a locked-out sign-in attempt gets (django-axes' AXES_LOCKOUT_CALLABLE)
  is ``members.security_views.lockout_response``: it shows the sign-in form.
- ``lockout_message``: the text, naming the cool-off time.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework.permissions import BasePermission

LOCKED_OUT = 429


def cooloff_minutes() -> int:
    from axes.helpers import get_cool_off

    cool_off = get_cool_off()
    return max(1, round(cool_off.total_seconds() / 60)) if cool_off else 0


def lockout_message() -> str:
    minutes = cooloff_minutes()
    if not minutes:
        return _(
            "Too many failed sign-in attempts. This account is locked; "
            "please call the insurance office (12393) to unlock it."
        )
    return _(
        "Too many failed sign-in attempts. Signing in to this account from your "
        "device is locked for %(minutes)d minutes; even the right password is refused "
        "until then. Forgot your password? Call 12393."
    ) % {"minutes": minutes}


def safe_next_url(request, url: str | None, default: str = "") -> str:
    """``url`` when it stays on this site (a path, or this host over the
    request's scheme); else ``default``. Every ``next`` the portal follows
    goes through here (or Django's LoginView / set_language, which check the
    same), so no sign-in step sends anyone off-site: ``https://evil.example``,
    ``//evil.example``, ``https:/evil.example``, ``\\evil.example`` and
    ``javascript:`` are all refused."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def address_lockout_message() -> str:
    from .throttles import signin_cooloff_seconds

    minutes = max(1, round(signin_cooloff_seconds() / 60))
    return _(
        "Too many failed sign-in attempts from your network address. Signing in "
        "from this address is paused for %(minutes)d minutes, for every account; "
        "even the right password is refused until then. Forgot your password? Call 12393."
    ) % {"minutes": minutes}


def is_address_locked_out(request) -> bool:
    """True when the per-address sign-in limit refused ``request``."""
    return bool(getattr(request, "signin_address_blocked", False))


def is_locked_out(request) -> bool:
    """True when axes refused (or just locked) the sign-in in ``request``
    (a Django or DRF request)."""
    return bool(getattr(request, "axes_locked_out", False)) and settings.AXES_ENABLED


# --- Staff pages: staff status AND a verified second factor ------------------


def user_is_verified(user) -> bool:
    """True when this session passed a TOTP check (django-otp's middleware)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def user_is_verified_staff(user) -> bool:
    """Staff status AND a session that passed the one-time code. The one
    formula: ``access.rules.is_verified_staff`` (member data) and
    ``IsVerifiedStaff`` (staff endpoints) both ask it."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user_is_verified(user)
    )


def has_confirmed_device(user) -> bool:
    from django_otp import devices_for_user

    return any(True for _ in devices_for_user(user, confirmed=True))


def staff_gate(request):
    """None when ``request`` may use a staff page; otherwise the response
    that sends the person where they must go first (sign in, verify a code,
    or enrol an authenticator app). Raises PermissionDenied for non-staff."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    if user_is_verified(user):
        return None
    target = "otp_verify" if has_confirmed_device(user) else "otp_enroll"
    return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


def staff_required(view):
    """Decorator for every staff page (function views)::

        @staff_required
        def review_queue(request): ...

    Anonymous: sent to sign in. Signed in but not staff: 403. Staff whose
    session has not passed a TOTP code: sent to enter one (or to enrol an
    authenticator app first).
    """

    @wraps(view)
    def _wrapped(request, *args, **kwargs):
        response = staff_gate(request)
        if response is not None:
            return response
        return view(request, *args, **kwargs)

    return _wrapped


class StaffRequiredMixin:
    """The same gate as ``staff_required`` for class-based views (put it first)."""

    def dispatch(self, request, *args, **kwargs):
        response = staff_gate(request)
        if response is not None:
            return response
        return super().dispatch(request, *args, **kwargs)


class IsVerifiedStaff(BasePermission):
    """DRF permission for staff endpoints: staff with an OTP-verified session.

    Token-authenticated requests never carry a verified second factor, so
    staff endpoints are used from the browser session."""

    message = _lazy("Staff endpoints need a staff sign-in with a verified one-time code.")

    def has_permission(self, request, view) -> bool:
        return user_is_verified_staff(request.user)


# What an admin filter such as ``?period__year=`` may ask for: the database
# (and Python's dates) refuse anything else with a 500.
_DATE_PART_RANGE = {"year": range(1, 10000), "month": range(1, 13), "day": range(1, 32)}


STAFF_SEEN_KEY = "_staff_seen"


class StaffSessionIdleMiddleware:
    """Signs out a staff session unused for ``STAFF_SESSION_IDLE_SECONDS``.

    Staff sessions open other people's records, so a stolen session key must
    not live long. The last request's time is kept in the session (written at
    most once a minute, so browsing does not write the session on every
    click), and the session itself is set to expire after the idle time, so
    the server forgets it too. Members' sessions are not affected."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        idle = settings.STAFF_SESSION_IDLE_SECONDS
        user = getattr(request, "user", None)
        if idle and user is not None and user.is_authenticated and user.is_staff:
            now = int(time.time())
            seen = request.session.get(STAFF_SEEN_KEY)
            if seen is not None and now - seen > idle:
                logout(request)  # the view then sees an anonymous visitor
            elif seen is None or now - seen >= min(60, max(1, idle // 10)):
                request.session[STAFF_SEEN_KEY] = now
                request.session.set_expiry(idle)
        return self.get_response(request)


class StaffAdminSite(AdminSite):
    """The admin, behind the same gate: staff AND a verified TOTP code.

    Its own login page is replaced by the portal's sign-in (with django-axes
    throttling) followed by the code check."""

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and user_is_verified(request.user)

    def admin_view(self, view, cacheable=False):
        """Every admin page, refusing filters the database cannot take (a NUL
        character, a year past 9999 in ``?period__year=``) with a 400 instead
        of the 500 Django's changelist would give (docs/adr/0007)."""
        inner = super().admin_view(view, cacheable)

        def bad():
            return HttpResponseBadRequest(
                _("The filter in the address is not valid."), content_type="text/plain"
            )

        @wraps(inner)
        def guarded(request, *args, **kwargs):
            for key, values in request.GET.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return bad()
                part = key.rsplit("__", 1)[-1]
                if part in _DATE_PART_RANGE and not all(
                    len(v) <= 4 and v.isascii() and v.isdigit() and int(v) in _DATE_PART_RANGE[part]
                    for v in values
                ):
                    return bad()
            try:
                return inner(request, *args, **kwargs)
            except OverflowError:
                return bad()

        return guarded

    def login(self, request, extra_context=None):
        next_url = safe_next_url(
            request,
            request.GET.get(REDIRECT_FIELD_NAME),
            reverse("admin:index", current_app=self.name),
        )
        if not request.user.is_authenticated:
            return redirect_to_login(next_url)
        if not request.user.is_staff:
            raise PermissionDenied
        target = "otp_verify" if has_confirmed_device(request.user) else "otp_enroll"
        if user_is_verified(request.user):
            return redirect(next_url)
        return redirect(f"{reverse(target)}?{urlencode({'next': next_url})}")


def totp_code(device, *, at: float | None = None) -> str:
    """The code ``device`` accepts at Unix time ``at`` (now by default), as
    an authenticator app computes it. For the demo command and tests."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{device.digits}d}"
