"""Sign-in protection and staff pages.

- ``lockout_response``: what a locked-out sign-in attempt gets (django-axes'
  AXES_LOCKOUT_CALLABLE): the sign-in page with a clear message, or the one
  API error shape for API paths, both with HTTP 429.
- ``lockout_message``: the text, naming the cool-off time.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

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
