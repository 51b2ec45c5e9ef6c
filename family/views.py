"""HTML pages for family accounts. Thin: validate input, call one service or
selector, render. Who may see or do what is asked of the ``access`` app."""

from __future__ import annotations

import contextlib
import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.lookups import (
    document_for_request,
    grant_from,
    link_access,
    link_for_request,
    person_for_request,
)
from access.middleware import NotVisible
from access.rules import Scope
from access.viewer import viewer_for
from audit.services import audit_record, audit_view
from members.selectors import person_for_user
from portal.errors import ApplicationError
from portal.security import staff_required
from portal.uploads import upload_cap

from . import selectors, services, uploads
from .forms import ChangeForm, CounterForm, LinkRequestForm, RejectForm
from .models import DocumentType
from .policy import relationship_policy_for

EXTENSIONS = {DocumentType.PDF: "pdf", DocumentType.JPEG: "jpg", DocumentType.PNG: "png"}


def _form_error(form, exc: ApplicationError) -> None:
    placed = False
    for field, errs in exc.fields.items():
        target = field if field in form.fields else None
        if field == "scopes":
            target = None
        for err in errs:
            form.add_error(target, err)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@login_required
@require_GET
def index(request):
    """My family: relatives I added, members who added me, accounts I can switch to."""
    person = person_for_user(request.user)
    granted = list(selectors.links_granted_by(person)) if person else []
    received = list(selectors.links_received_by(person)) if person else []
    grants = selectors.grants_for_user(request.user)
    return render(
        request,
        "family/index.html",
        {
            "person": person,
            "granted": granted,
            "received": received,
            "grants": grants,
            "in_effect": {link.pk for link in grants},
            "awaiting": selectors.awaiting_my_confirmation(person) if person else [],
        },
    )


@upload_cap("FAMILY_UPLOAD_MAX_BYTES")
@login_required
@require_http_methods(["GET", "POST"])
def add(request):
    person = person_for_user(request.user)
    if person is None:
        raise PermissionDenied
    kept = _kept_document(request)
    upload = request.FILES.get("document")
    policy = relationship_policy_for(region=person.insured_region)
    form = LinkRequestForm(
        request.POST or None,
        request.FILES or None,
        has_kept_document=kept is not None,
        policy=policy,
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link = services.link_request(
                member=person,
                actor=request.user,
                agreed=data["agree"],
                agreement_version=data["agreement_version"],
                name=data["name"],
                id_number=data["id_number"],
                relationship=data["relationship"],
                scope_balance=data["scope_balance"],
                scope_records=data["scope_records"],
                scope_pay=data["scope_pay"],
                scope_errands=data["scope_errands"],
                pay_yearly_cap_fen=data["pay_yearly_cap"],
                document_kind=data["document_kind"],
                document=upload or _kept_upload(kept),
                term=data["term"],
                request=request,
            )
        except ApplicationError as exc:
            _form_error(form, exc)
            status = exc.status_code if exc.status_code == 429 else 400
        else:
            _forget_kept_document(request)
            if link.relative_is_minor:
                done = _("Your request was sent. Staff will review the document.")
            else:
                done = _(
                    "Your request was sent. Staff will review the document, and the "
                    "relative must confirm it in their own account before it takes effect."
                )
            messages.success(request, done)
            return redirect("family:link", pk=link.pk)
    elif request.method == "POST":
        status = 400
    if status != 200 and upload is not None and "document" not in form.errors:
        kept = _keep_document(request, upload) or kept
    return render(
        request,
        "family/add.html",
        {"form": form, "kept": kept, "kept_minutes": KEPT_SECONDS // 60, "policy": policy},
        status=status,
    )


# A document chosen in a submit that was refused for another reason is kept
# (checked, in private storage) for a while, so the member need not choose it
# again: a phone's file picker is the hardest step of the form.
KEPT_KEY = "family_kept_document"
KEPT_SECONDS = 30 * 60


def _kept_document(request) -> dict | None:
    kept = request.session.get(KEPT_KEY)
    if not kept:
        return None
    try:
        alive = kept["until"] > time.time() and uploads.path_of(kept["name"]).exists()
    except (KeyError, TypeError, ValueError):
        alive = False
    if not alive:
        _forget_kept_document(request)
        return None
    return kept


def _keep_document(request, upload) -> dict | None:
    """Keep ``upload`` if it passes its own checks (a refused file is not kept)."""
    try:
        doc = uploads.check_document(upload)
    except ApplicationError:
        return None
    _forget_kept_document(request)
    kept = {
        "name": uploads.store(doc),
        "filename": (upload.name or "")[:100],
        "type": doc.content_type,
        "until": time.time() + KEPT_SECONDS,
    }
    request.session[KEPT_KEY] = kept
    return kept


def _kept_upload(kept: dict | None):
    if kept is None:
        return None
    data = uploads.path_of(kept["name"]).read_bytes()
    return SimpleUploadedFile(kept["filename"] or "document", data, content_type=kept["type"])


def _forget_kept_document(request) -> None:
    kept = request.session.pop(KEPT_KEY, None)
    if isinstance(kept, dict) and kept.get("name"):
        with contextlib.suppress(ValueError):  # a name that is not ours: nothing to remove
            uploads.discard(kept["name"])


@login_required
@require_GET
def link_detail(request, pk: int):
    access = link_access(viewer_for(request), pk)
    link = access.require()
    return render(
        request,
        "family/link.html",
        {
            "link": link,
            "is_member": access.is_member,
            "is_relative": access.is_relative,
            "show_document": access.may_see_document,
            "shows_id_number": access.shows_id_number,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def link_end(request, pk: int):
    """Ending a link cannot be undone (a new request and review would be
    needed): GET, or a POST without ``confirm``, shows what ending means and
    asks once more; the confirming POST ends it."""
    link = link_for_request(request, pk)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        is_member = link.member.user_id == request.user.pk
        return render(
            request,
            "family/end_confirm.html",
            {"link": link, "is_member": is_member},
        )
    try:
        services.link_end(link=link, user=request.user, request=request)
    except ApplicationError as exc:
        if exc.status_code == 403:
            raise PermissionDenied from None
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The link has ended; access stopped at once."))
    return redirect("family:index")


@login_required
@require_GET
def confirmations(request):
    """Requests naming me as the relative that wait for my confirmation."""
    person = person_for_user(request.user)
    awaiting = selectors.awaiting_my_confirmation(person) if person else []
    return render(request, "family/confirmations.html", {"awaiting": awaiting})


def _refused(request, exc: ApplicationError):
    if exc.status_code == 403:
        raise PermissionDenied from None
    messages.error(request, exc.message)


@login_required
@require_POST
def link_confirm(request, pk: int):
    link = selectors.link_for_user(request.user, pk)
    try:
        link = services.link_confirm(link=link, user=request.user, request=request)
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        if link.status == "approved":
            messages.success(request, _("Confirmed. The link is in effect."))
        else:
            messages.success(
                request, _("Confirmed. The link takes effect when staff have approved it.")
            )
    return redirect("family:link", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def link_decline(request, pk: int):
    """Declining cannot be undone: a GET (or a POST without ``confirm``) asks once more."""
    link = selectors.link_for_user(request.user, pk)
    person = viewer_for(request).person
    if person is None or link.relative_id != person.pk or link.relative_confirmed_at is not None:
        # Only the relative named, and only before confirming, may decline.
        raise PermissionDenied
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(request, "family/decline_confirm.html", {"link": link})
    try:
        services.link_decline(link=link, user=request.user, request=request)
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("Declined. The link will never take effect."))
    return redirect("family:index")


@login_required
@require_http_methods(["GET", "POST"])
def link_renew(request, pk: int):
    """One click, confirmed: GET shows the new end date, the POST with ``confirm`` renews."""
    link = selectors.link_for_user(request.user, pk)
    if link.member.user_id != request.user.pk:
        raise PermissionDenied
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(
            request,
            "family/renew_confirm.html",
            {"link": link, "new_end": services.renewed_end(link)},
        )
    try:
        services.link_renew(link=link, user=request.user, request=request)
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("Renewed. The link now runs one more term."))
    return redirect("family:link", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def link_change(request, pk: int):
    """The member changes the scopes and the yearly cap. Taking a scope away
    asks once more (``confirm``); the change counts from the next request."""
    link = selectors.link_for_user(request.user, pk)
    if link.member.user_id != request.user.pk or link.status not in ("pending", "approved"):
        raise PermissionDenied
    initial = {
        "scope_balance": link.scope_balance,
        "scope_records": link.scope_records,
        "scope_pay": link.scope_pay,
        "pay_yearly_cap": link.pay_yearly_cap_fen,
    }
    form = ChangeForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        scopes = {k: data[k] for k in ("scope_balance", "scope_records", "scope_pay")}
        removed = services.removed_scopes(link, **scopes)
        if removed and request.POST.get("confirm") != "yes":
            return render(
                request,
                "family/change_confirm.html",
                {"link": link, "removed": removed, "data": data, "post": request.POST},
            )
        try:
            services.link_change(
                link=link,
                user=request.user,
                pay_yearly_cap_fen=data["pay_yearly_cap"],
                request=request,
                **scopes,
            )
        except ApplicationError as exc:
            _form_error(form, exc)
            status = 409 if exc.status_code == 409 else 400
        else:
            messages.success(request, _("Saved. The change counts from the next request."))
            return redirect("family:link", pk=pk)
    elif request.method == "POST":
        status = 400
    return render(request, "family/change.html", {"link": link, "form": form}, status=status)


@never_cache
@xframe_options_sameorigin
@login_required
@require_GET
def document(request, pk: int):
    """The uploaded document, to the member who uploaded it and to staff only."""
    return document_response(request, document_for_request(request, pk))


def document_response(request, link) -> FileResponse:
    try:
        fh = open(uploads.path_of(link.document_name), "rb")  # noqa: SIM115 (FileResponse closes)
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    if link.member.user_id != request.user.pk:
        audit_record(
            actor=request.user,
            action="family.document.view",
            subject_person=link.member,
            target=link,
            detail={"as": "staff"},
            request=request,
        )
    response = FileResponse(fh, content_type=link.document_type)
    response["Content-Disposition"] = (
        f'inline; filename="family-document-{link.pk}.{EXTENSIONS[link.document_type]}"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


@never_cache
@staff_required
@require_GET
def document_preview(request, pk: int):
    """The first pages of a PDF document rendered on the server as one PNG:
    for reviewing staff only, through the same check as the document. The
    page shows it as an <img> (the portal's CSP allows no <object>), and
    rendering runs no document code (family/uploads.render_preview)."""
    link = document_for_request(request, pk)
    if link.document_type != DocumentType.PDF:
        raise Http404
    try:
        image = uploads.render_preview(link.document_name)
    except (FileNotFoundError, ValueError, uploads.PreviewError):
        raise Http404 from None
    audit_record(
        actor=request.user,
        action="family.document.preview",
        subject_person=link.member,
        target=link,
        detail={"as": "staff"},
        request=request,
    )
    response = HttpResponse(image, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="family-document-{link.pk}-preview.png"'
    response["X-Content-Type-Options"] = "nosniff"
    return response  # never_cache: private, no-store


@login_required
@require_GET
def switch(request):
    """The account switcher: back to one's own account, or to a member who granted access."""
    target = request.GET.get("person", "")
    if not target or target == "self":
        return redirect("home")
    if grant_from(viewer_for(request), target) is None:
        raise NotVisible
    return redirect("dashboard:member", person_id=int(target))


@require_GET
def view_member(request, person_id: int):
    """The old relative view: the one view of a member is /dashboard/<id>/."""
    return redirect("dashboard:member", person_id=person_id)


@staff_required
@require_GET
def review_queue(request):
    now = timezone.now()
    page, next_cursor = selectors.review_queue(after=request.GET.get("after"))
    items = [(link, now - link.created_at) for link in page]
    # Member errands wait in the same queue, in their own section (ADR 0019).
    from errands.views import review_context

    errands = review_context()
    audit_view(  # the cards show both persons' names and identity numbers
        actor=request.user,
        action="family.review.list",
        persons=[pk for link in page for pk in (link.member_id, link.relative_id)]
        + [e.person_id for e in (*errands["errand_filings"], *errands["errand_chronic"])],
        detail={
            "links": [link.pk for link in page],
            "filings": [f.pk for f in errands["errand_filings"]],
            "chronic": [c.pk for c in errands["errand_chronic"]],
        },
        request=request,
    )
    return render(
        request,
        "family/review.html",
        {
            "items": items,
            "next_cursor": next_cursor,
            "first_page": not request.GET.get("after"),
            "reject_form": RejectForm(),
            "preview_pages": uploads.preview_max_pages(),
            **errands,
        },
    )


@staff_required
@require_POST
def review_decide(request, pk: int):
    decision = request.POST.get("decision")
    reason = request.POST.get("reason", "")
    if "\x00" in reason:  # PostgreSQL text cannot hold it: say so, never a 500
        messages.error(request, _("The reason contains a character that cannot be stored."))
        return redirect("family:review")
    try:
        if decision == "approve":
            services.link_approve(link_id=pk, reviewer=request.user, request=request)
            messages.success(
                request,
                _(
                    "Approved. The member is told in their messages, and by e-mail if "
                    "they confirmed an address."
                ),
            )
        elif decision == "reject":
            services.link_reject(
                link_id=pk,
                reviewer=request.user,
                reason=reason,
                request=request,
            )
            messages.success(
                request,
                _(
                    "Rejected. The member is told in their messages, and by e-mail if "
                    "they confirmed an address."
                ),
            )
        else:
            messages.error(request, _("Choose approve or reject."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("family:review")


@staff_required
@require_http_methods(["GET", "POST"])
def counter(request):
    """Counter service: a relative with an approved power of attorney asks for
    the member's payment record."""
    form = CounterForm(request.POST or None)
    result = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            member, link = services.counter_lookup(
                staff_user=request.user,
                member_id_number=form.cleaned_data["member_id_number"],
                relative_id_number=form.cleaned_data["relative_id_number"],
                request=request,
            )
        except ApplicationError as exc:
            _form_error(form, exc)
            status = 400 if exc.status_code == 400 else 403
        else:
            person = person_for_request(request, member.pk, Scope.RECORDS)
            result = {
                "member": person,
                "link": link,
                "records": selectors.records_of(person),
                "balances": selectors.pocket_balances_of(person),
            }
    elif request.method == "POST":
        status = 400
    return render(request, "family/counter.html", {"form": form, "result": result}, status=status)
