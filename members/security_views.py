"""Staff second factor: enter a TOTP code, or enrol an authenticator app;
signing out everywhere; what a locked-out sign-in gets. (Moved from
portal/: the kernel imports no feature app, docs/adr/0013.)"""

from __future__ import annotations

import time
from base64 import b32encode
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import RegexValidator
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import audit_record
from portal.api import error_body
from portal.errors import ApplicationError
from portal.security import (
    LOCKED_OUT,
    cooloff_minutes,
    has_confirmed_device,
    lockout_message,
    safe_next_url,
    user_is_verified,
)

from .forms import SignInForm
from .services import staff_enrolment_code_redeem, user_sign_out_everywhere


@require_POST
@login_required
def sign_out_everywhere(request):
    """End every session (this one too) and API token of the signed-in user."""
    user_sign_out_everywhere(user=request.user, request=request)
    logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label=gettext_lazy("Six-digit code from your authenticator app"),
        min_length=6,
        max_length=8,
        validators=[RegexValidator(r"^\d{6,8}$", gettext_lazy("Enter the digits only."))],
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "pattern": "[0-9]*",
            }
        ),
    )

    def clean_otp_token(self) -> str:
        return self.cleaned_data["otp_token"].strip()


def _next_url(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    # A path only: ``redirect()`` would try any other word as a URL name (a 500).
    return safe_next_url(request, url, "/admin/") if url.startswith("/") else "/admin/"


def _staff_only(request):
    if not request.user.is_staff:
        raise PermissionDenied


def _throttled_message(device) -> str | None:
    allowed, _info = device.verify_is_allowed()
    if allowed:
        return None
    return _("Too many wrong codes. Wait a moment, then enter the newest code from your app.")


@never_cache
@login_required
def otp_verify(request):
    _staff_only(request)
    next_url = _next_url(request)
    if user_is_verified(request.user):
        return redirect(next_url)
    if not has_confirmed_device(request.user):
        return redirect(f"{reverse('otp_enroll')}?{urlencode({'next': next_url})}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["otp_token"]
        for device in devices_for_user(request.user, confirmed=True):
            with transaction.atomic():
                device = type(device).objects.select_for_update().get(pk=device.pk)
                throttled = _throttled_message(device)
                if throttled:
                    form.add_error("otp_token", throttled)
                    break
                if device.verify_token(token):
                    otp_login(request, device)
                    return redirect(next_url)
        else:
            form.add_error(
                "otp_token",
                _("This code is wrong or has expired. Enter the code your app shows now."),
            )
    return render(request, "two_factor/verify.html", {"form": form, "next": next_url})


class EnrolmentCodeForm(forms.Form):
    enrolment_code = forms.CharField(
        label=gettext_lazy("Enrolment code from your administrator"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


ENROL_GRANT_KEY = "_otp_enrol_grant"


def _enrol_grant_device(request) -> TOTPDevice | None:
    """The unconfirmed device this session may confirm: set when the staff
    member entered a valid enrolment code, until that code's expiry."""
    grant = request.session.get(ENROL_GRANT_KEY) or {}
    if not grant or grant.get("until", 0) < time.time():
        return None
    return TOTPDevice.objects.filter(
        pk=grant.get("device"), user=request.user, confirmed=False
    ).first()


@never_cache
@login_required
def otp_enroll(request):
    """First sign-in of a staff member without a device, in two steps:

    1. the one-time enrolment code an administrator issued (the password
       alone enrols nothing: members.services.staff_enrolment_code_redeem);
    2. scan the QR code, confirm with one code from the app. Until confirmed
       the device does not count.
    """
    _staff_only(request)
    next_url = _next_url(request)
    if has_confirmed_device(request.user):
        return redirect(f"{reverse('otp_verify')}?{urlencode({'next': next_url})}")
    device = _enrol_grant_device(request)
    if device is None:
        return _enrolment_code_step(request, next_url)
    form = CodeForm(request.POST if "otp_token" in request.POST else None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled_message(device)
        if throttled:
            form.add_error("otp_token", throttled)
        elif device.verify_token(form.cleaned_data["otp_token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            request.session.pop(ENROL_GRANT_KEY, None)
            otp_login(request, device)
            audit_record(
                actor=request.user,
                action="security.otp_enrolled",
                target=device,
                request=request,
            )
            return redirect(next_url)
        else:
            form.add_error(
                "otp_token",
                _("This code does not match. Check the app's clock and enter the newest code."),
            )
    secret = b32encode(device.bin_key).decode()
    # Server-side SVG (no script, no external service sees the secret).
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    context = {
        "form": form,
        "next": next_url,
        "qr_svg": mark_safe(qr_svg),  # noqa: S308 - generated by segno from our own data
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }
    return render(request, "two_factor/enroll.html", context)


def _enrolment_code_step(request, next_url):
    form = EnrolmentCodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            code = staff_enrolment_code_redeem(
                user=request.user, code=form.cleaned_data["enrolment_code"], request=request
            )
        except ApplicationError as exc:
            form.add_error("enrolment_code", exc.message)
            status = exc.status_code if exc.status_code == 429 else 200
        else:
            # A new secret, never shown before this code was entered.
            TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
            device = TOTPDevice.objects.create(
                user=request.user, name=_("Authenticator app"), confirmed=False
            )
            request.session[ENROL_GRANT_KEY] = {
                "device": device.pk,
                "until": code.expires_at.timestamp(),
            }
            return redirect(f"{reverse('otp_enroll')}?{urlencode({'next': next_url})}")
    return render(
        request, "two_factor/enroll_code.html", {"form": form, "next": next_url}, status=status
    )


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE): the
    sign-in page with a clear message, or the one API error shape for API
    paths, both with HTTP 429."""
    message = lockout_message()
    if request.path.startswith("/api/"):
        body = error_body("locked_out", message, retry_after_minutes=cooloff_minutes())
        return JsonResponse(body, status=LOCKED_OUT)
    posted_next = request.POST.get("next", "") if request.method == "POST" else ""
    context = {
        "form": SignInForm(request),
        "lockout_message": message,
        "next": safe_next_url(request, posted_next),
    }
    return render(request, "registration/login.html", context, status=LOCKED_OUT)
