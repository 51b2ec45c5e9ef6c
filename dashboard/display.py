"""The elderly mode (长辈版), after the MIIT age-friendly web specification:
a base font of at least 18 px (20 px here), high contrast, line spacing of at
least 1.3 (1.6 here), touch targets of at least 44 px and the main tasks first.

It can be switched on from every page (the switch in the header), and it is
remembered: in a cookie on the device for everyone, and for a signed-in member
also in ``DisplayPreference``, which signing in on another device copies into
the session. Reading it costs no query: the session is loaded for every
signed-in request anyway.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

COOKIE = "portal_elderly"
SESSION_KEY = "portal_elderly"
COOKIE_AGE = 365 * 24 * 3600


def elderly_mode(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    if session is not None and SESSION_KEY in session:
        return bool(session[SESSION_KEY])
    return request.COOKIES.get(COOKIE) == "1"


def remember(request: HttpRequest, response: HttpResponse, *, on: bool) -> None:
    """Keep the choice on this device, in the session and for the user."""
    from .models import DisplayPreference

    response.set_cookie(
        COOKIE,
        "1" if on else "0",
        max_age=COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    if getattr(request, "session", None) is not None:
        request.session[SESSION_KEY] = on
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        DisplayPreference.objects.update_or_create(user=user, defaults={"elderly_mode": on})


def context(request: HttpRequest) -> dict:
    """Template context processor: ``elderly_mode`` for base.html."""
    return {"elderly_mode": elderly_mode(request)}


@receiver(user_logged_in)
def _restore_on_sign_in(sender, request, user, **kwargs) -> None:
    """A member who chose the elderly mode on another device gets it here too;
    one who never chose keeps what this device says."""
    from .models import DisplayPreference

    if request is None or getattr(request, "session", None) is None:
        return
    saved = (
        DisplayPreference.objects.filter(user=user).values_list("elderly_mode", flat=True).first()
    )
    if saved is not None:
        request.session[SESSION_KEY] = saved
