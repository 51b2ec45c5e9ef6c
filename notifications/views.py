"""The inbox, the profile (contact details, e-mail address, choices) and the
e-mail confirmation link. Thin: each calls one service or selector."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from members.selectors import person_for_user
from portal.errors import ApplicationError

from . import selectors, services, wording
from .forms import EmailForm, preference_choices
from .models import EventType


def base_url(request) -> str:
    return settings.PORTAL_PUBLIC_URL or request.build_absolute_uri("/")


@login_required
@never_cache
@require_GET
def inbox(request):
    before = request.GET.get("before")
    before_id = int(before) if before and before.isdigit() else None
    rows = selectors.inbox(request.user, before_id=before_id)
    more = len(rows) > 20
    rows = rows[:20]
    items = [
        {"n": n, "title": t, "text": x}
        for n in rows
        for t, x in [wording.render(n.event_type, n.action, n.params)]
    ]
    return render(
        request,
        "notifications/inbox.html",
        {
            "items": items,
            "next_before": rows[-1].pk if more and rows else None,
            "unread": selectors.unread_count(request.user),
            "first_page": before_id is None,
        },
    )


@login_required
@require_POST
def mark_read(request):
    raw = request.POST.get("id", "")
    ids = [int(raw)] if raw.isdigit() else None
    services.notifications_mark_read(user=request.user, ids=ids)
    return HttpResponseRedirect(reverse("notifications:inbox"))


def _profile_context(request, email_form=None):
    prefs = selectors.preferences(request.user)
    return {
        "person": person_for_user(request.user),
        "email": selectors.email_address(request.user),
        "email_form": email_form or EmailForm(),
        "pref_rows": [{"type": t, "label": label, **prefs[t]} for t, label in EventType.choices],
    }


@login_required
@never_cache
@require_GET
def profile(request):
    return render(request, "notifications/profile.html", _profile_context(request))


@login_required
@require_POST
def email_set(request):
    form = EmailForm(request.POST)
    if form.is_valid():
        try:
            services.email_address_set(
                user=request.user, address=form.cleaned_data["email"], base_url=base_url(request)
            )
        except ApplicationError as exc:
            for field, errors in exc.fields.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.fields:
                form.add_error("email", exc.message)
            status = exc.status_code
        else:
            messages.success(
                request,
                _(
                    "We sent a confirmation link to %(address)s. Open it within 48 hours to "
                    "start getting e-mail there."
                )
                % {"address": form.cleaned_data["email"].strip()},
            )
            return HttpResponseRedirect(reverse("notifications:profile"))
    else:
        status = 400
    return render(
        request, "notifications/profile.html", _profile_context(request, form), status=status
    )


@login_required
@require_POST
def email_remove(request):
    services.email_address_remove(user=request.user)
    messages.success(request, _("Your e-mail address was removed; messages stay in the portal."))
    return HttpResponseRedirect(reverse("notifications:profile"))


@login_required
@require_POST
def preferences_save(request):
    services.preferences_set(user=request.user, choices=preference_choices(request.POST))
    messages.success(request, _("Your choices were saved."))
    return HttpResponseRedirect(reverse("notifications:profile") + "#choices")


@never_cache
@require_http_methods(["GET", "POST"])
def email_confirm(request, token: str):
    """GET shows a button (mail scanners open links); POST confirms."""
    if request.method == "GET":
        return render(request, "notifications/email_confirm.html", {"token": token})
    try:
        record = services.email_address_confirm(token=token)
    except ApplicationError as exc:
        return render(
            request,
            "notifications/email_confirm.html",
            {"token": token, "error": exc.message},
            status=400,
        )
    return render(request, "notifications/email_confirm.html", {"confirmed": record.address})


# --- Self-service password reset ----------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request):
    """Ask for a reset link. The same answer whether or not the address is a
    member's (services.password_reset_request); 429 over the rate limits."""
    from portal.throttles import client_address

    from .forms import PasswordResetRequestForm

    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.password_reset_request(
                    address=form.cleaned_data["email"],
                    client_address=client_address(request),
                    base_url=base_url(request),
                )
            except ApplicationError as exc:
                return render(
                    request,
                    "registration/password_reset_form.html",
                    {"form": form, "error": exc.message},
                    status=exc.status_code,
                )
            return HttpResponseRedirect(reverse("password_reset_done"))
        return render(request, "registration/password_reset_form.html", {"form": form}, status=400)
    return render(request, "registration/password_reset_form.html", {"form": form})


def _reset_confirm_view():
    from django.contrib.auth import views as auth_views

    from audit.services import audit_record

    class ResetConfirmView(auth_views.PasswordResetConfirmView):
        def form_valid(self, form):
            response = super().form_valid(form)
            audit_record(
                actor=form.user,
                action="security.password_reset",
                target=form.user,
                request=self.request,
            )
            return response

    return ResetConfirmView.as_view()


password_reset_confirm = _reset_confirm_view()
