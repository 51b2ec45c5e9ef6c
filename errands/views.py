"""Errand pages: file, apply, follow; staff decide (the queue itself is the
family review page's errands section). Thin: resolve the person through the
permission layer (scope ``errands``), call one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.lookups import errand_grants, person_for_request
from access.rules import Scope
from access.viewer import viewer_for
from audit.services import audit_record
from portal.errors import ApplicationError
from portal.security import staff_required
from portal.uploads import upload_cap

from . import selectors, services, uploads
from .forms import ChronicApproveForm, ChronicForm, FilingForm
from .models import ChronicApplication, CrossRegionFiling

EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def _subject(request):
    """(person, is_own): the signed-in member, or ``?person=`` for a viewer
    holding the errands scope (audited by the access layer)."""
    own = viewer_for(request).person
    pid = request.GET.get("person") or request.POST.get("person")
    if pid in (None, "") or (own is not None and str(pid) == str(own.pk)):
        if own is None:
            raise Http404
        return own, True
    return person_for_request(request, pid, Scope.ERRANDS), False


def _form_error(form, exc: ApplicationError) -> None:
    placed = False
    for field, errs in exc.fields.items():
        for err in errs:
            form.add_error(field if field in form.fields else None, err)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _errand_grants(request) -> list:
    """The members whose errands the signed-in relative may run (access layer)."""
    return errand_grants(viewer_for(request))


@login_required
@never_cache
@require_GET
def index(request):
    """My errands (or a granting member's, with ?person=): filings and
    chronic-disease applications with their status."""
    own = viewer_for(request).person
    if own is None and not request.GET.get("person"):
        return render(
            request, "errands/index.html", {"subject": None, "grants": _errand_grants(request)}
        )
    person, is_own = _subject(request)
    return render(
        request,
        "errands/index.html",
        {
            "subject": person,
            "is_own": is_own,
            "filings": list(selectors.filings_of(person)[:50]),
            "chronic": list(selectors.chronic_applications_of(person)[:50]),
            "grants": _errand_grants(request),
        },
    )


def _submit(request, form, template: str, submit, sent: str, detail: str, person, is_own):
    """The shared shape of a new errand: the form, then ``submit(data)`` (a
    service call returning the errand); a refusal is put on the form (400, or
    the service's 409/429), success says ``sent`` and goes to the errand."""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                errand = submit(form.cleaned_data)
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status_code if exc.status_code in (409, 429) else 400
            else:
                messages.success(request, sent)
                return redirect(detail, pk=errand.pk)
    return render(
        request, template, {"form": form, "subject": person, "is_own": is_own}, status=status
    )


@upload_cap("FAMILY_UPLOAD_MAX_BYTES")
@login_required
@require_http_methods(["GET", "POST"])
def filing_new(request):
    person, is_own = _subject(request)

    def submit(data):
        return services.filing_submit(
            person=person,
            actor=request.user,
            kind=data["kind"],
            destination=data["destination"],
            start_date=data["start_date"],
            end_date=data["end_date"],
            document_kind=data["document_kind"],
            document=request.FILES.get("document"),
            request=request,
        )

    return _submit(
        request,
        FilingForm(request.POST or None, request.FILES or None),
        "errands/filing_new.html",
        submit,
        _("The filing was sent. Staff will review it."),
        "errands:filing",
        person,
        is_own,
    )


@upload_cap("FAMILY_UPLOAD_MAX_BYTES")
@login_required
@require_http_methods(["GET", "POST"])
def chronic_new(request):
    person, is_own = _subject(request)

    def submit(data):
        return services.chronic_submit(
            person=person,
            actor=request.user,
            disease_code=data["disease"],
            document=request.FILES.get("document"),
            request=request,
        )

    return _submit(
        request,
        ChronicForm(
            request.POST or None, request.FILES or None, diseases=list(selectors.diseases())
        ),
        "errands/chronic_new.html",
        submit,
        _("The application was sent. Staff will review it."),
        "errands:chronic",
        person,
        is_own,
    )


def _errand(request, model, pk):
    errand = selectors.errand_for_user(request.user, model, pk)
    if errand.person.user_id != request.user.pk:
        audit_record(
            actor=request.user,
            action=f"errands.{'filing' if model is CrossRegionFiling else 'chronic'}.view",
            subject_person=errand.person,
            target=errand,
            request=request,
        )
    return errand


@login_required
@never_cache
@require_GET
def filing_detail(request, pk: int):
    filing = _errand(request, CrossRegionFiling, pk)
    return render(
        request,
        "errands/filing.html",
        {"filing": filing, "is_own": filing.person.user_id == request.user.pk},
    )


@login_required
@never_cache
@require_GET
def chronic_detail(request, pk: int):
    application = _errand(request, ChronicApplication, pk)
    return render(
        request,
        "errands/chronic.html",
        {"application": application, "is_own": application.person.user_id == request.user.pk},
    )


def _document(request, model, pk):
    errand = _errand(request, model, pk)
    if not errand.document_name:
        raise Http404
    try:
        fh = open(uploads.path_of(errand.document_name), "rb")  # noqa: SIM115 (FileResponse closes)
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    response = FileResponse(fh, content_type=errand.document_type)
    name = "filing" if model is CrossRegionFiling else "chronic"
    ext = EXTENSIONS.get(errand.document_type, "bin")
    response["Content-Disposition"] = f'inline; filename="{name}-document-{errand.pk}.{ext}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@never_cache
@xframe_options_sameorigin
@login_required
@require_GET
def filing_document(request, pk: int):
    return _document(request, CrossRegionFiling, pk)


@never_cache
@xframe_options_sameorigin
@login_required
@require_GET
def chronic_document(request, pk: int):
    return _document(request, ChronicApplication, pk)


REVIEW_URL = "family:review"


def _decide(request, approve, reject, approved: str, rejected: str):
    """A staff decision from the review queue: ``approve()`` (returning False
    when it refused the form and said why) or ``reject(reason)``; the outcome
    or the refusal as a message, back to the queue."""
    decision = request.POST.get("decision")
    try:
        if decision == "approve":
            if approve() is not False:
                messages.success(request, approved)
        elif decision == "reject":
            reject(request.POST.get("reason", ""))
            messages.success(request, rejected)
        else:
            messages.error(request, _("Choose approve or reject."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(REVIEW_URL)


@staff_required
@require_POST
def filing_decide(request, pk: int):
    return _decide(
        request,
        lambda: services.filing_approve(filing_id=pk, reviewer=request.user, request=request),
        lambda reason: services.filing_reject(
            filing_id=pk, reviewer=request.user, reason=reason, request=request
        ),
        _("Filing approved. The member will be notified."),
        _("Filing rejected. The member will be notified."),
    )


@staff_required
@require_POST
def chronic_decide(request, pk: int):
    def approve():
        form = ChronicApproveForm(request.POST)
        if not form.is_valid():
            messages.error(
                request, _("Enter the validity period (first and last day, YYYY-MM-DD).")
            )
            return False
        return services.chronic_approve(
            application_id=pk,
            reviewer=request.user,
            valid_from=form.cleaned_data["valid_from"],
            valid_until=form.cleaned_data["valid_until"],
            request=request,
        )

    return _decide(
        request,
        approve,
        lambda reason: services.chronic_reject(
            application_id=pk, reviewer=request.user, reason=reason, request=request
        ),
        _("Application approved. The member will be notified."),
        _("Application rejected. The member will be notified."),
    )


def review_context() -> dict:
    """The errands section of the family review page."""
    filings, chronic = selectors.review_queue()
    today = timezone.localdate()
    return {
        "errand_filings": filings,
        "errand_chronic": chronic,
        "chronic_default_from": today.isoformat(),
        "chronic_default_until": today.replace(year=today.year + 2).isoformat()
        if not (today.month == 2 and today.day == 29)
        else today.replace(year=today.year + 2, day=28).isoformat(),
    }
