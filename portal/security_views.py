"""Staff second factor: enter a TOTP code, or enrol an authenticator app."""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import RegexValidator
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csp import csp_override
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.views import SpectacularSwaggerSplitView

from audit.services import audit_record

from .security import has_confirmed_device, user_is_verified


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
    if url.startswith("/") and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return "/admin/"


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


@never_cache
@login_required
def otp_enroll(request):
    """First sign-in of a staff member without a device: scan, then confirm
    with one code. Until confirmed the device does not count."""
    _staff_only(request)
    next_url = _next_url(request)
    if has_confirmed_device(request.user):
        return redirect(f"{reverse('otp_verify')}?{urlencode({'next': next_url})}")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=request.user, name=_("Authenticator app"), confirmed=False
        )
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled_message(device)
        if throttled:
            form.add_error("otp_token", throttled)
        elif device.verify_token(form.cleaned_data["otp_token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
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


# Swagger UI (served locally from drf-spectacular-sidecar) sets inline style
# attributes and data: images, so its one page gets a slightly relaxed policy:
# still no inline or foreign script (its start-up script is a separate file).
api_docs = csp_override(
    {
        **settings.SECURE_CSP,
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:"],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
