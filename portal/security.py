"""Sign-in protection and staff pages.

- ``staff_required`` / ``StaffRequiredMixin``: the gate for every staff page:
  signed in, ``is_staff``, and this session passed a TOTP code (django-otp).
  ``IsVerifiedStaff`` is the same for DRF endpoints; ``StaffAdminSite`` for /admin/.

- ``lockout_response``: what a locked-out sign-in attempt gets (django-axes'
  AXES_LOCKOUT_CALLABLE): the sign-in page with a clear message, or the one
  API error shape for API paths, both with HTTP 429.
- ``lockout_message``: the text, naming the cool-off time.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework.permissions import BasePermission

from .api import error_body

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
            "please call the insurance office (12333) to unlock it."
        )
    return _(
        "Too many failed sign-in attempts. Signing in to this account from your "
        "device is locked for %(minutes)d minutes; even the right password is refused "
        "until then. Forgot your password? Call 12333."
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    message = lockout_message()
    if request.path.startswith("/api/"):
        body = error_body("locked_out", message, retry_after_minutes=cooloff_minutes())
        return JsonResponse(body, status=LOCKED_OUT)
    from members.forms import SignInForm

    context = {
        "form": SignInForm(request),
        "lockout_message": message,
        "next": request.POST.get("next", "") if request.method == "POST" else "",
    }
    return render(request, "registration/login.html", context, status=LOCKED_OUT)


def is_locked_out(request) -> bool:
    """True when axes refused (or just locked) the sign-in in ``request``
    (a Django or DRF request)."""
    return bool(getattr(request, "axes_locked_out", False)) and settings.AXES_ENABLED


# --- Staff pages: staff status AND a verified second factor ------------------


def user_is_verified(user) -> bool:
    """True when this session passed a TOTP check (django-otp's middleware)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


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
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and user_is_verified(user))


# What an admin filter such as ``?period__year=`` may ask for: the database
# (and Python's dates) refuse anything else with a 500.
_DATE_PART_RANGE = {"year": range(1, 10000), "month": range(1, 13), "day": range(1, 32)}


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
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse(
            "admin:index", current_app=self.name
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
