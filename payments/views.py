"""Pages: the contribution calculator (public), the staff import and the staff
corrections of a month (arrears paid later, refunds), and a member paying a
relative's resident-scheme contribution from their surplus (docs/adr/0018)."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from family import resident
from members.idnumber import normalise
from members.selectors import person_for_user, persons_by_id_numbers
from portal.errors import ApplicationError
from portal.security import staff_required

from .forms import CalculatorForm, CorrectionForm, ImportForm
from .models import Contribution, ContributionStatus, ImportBatch, ResidentContributionPayment
from .selectors import calculate
from .services import (
    contribution_mark_paid,
    contribution_refund,
    contributions_import,
    import_max_bytes,
    import_report_rows,
    import_report_text,
    report_header,
)


def _form_errors(form, exc: ApplicationError) -> None:
    for name, errors in exc.fields.items():
        for message in errors:
            form.add_error(name if name in form.fields else None, message)
    if not exc.fields:
        form.add_error(None, exc.message)


@require_http_methods(["GET"])
def calculator(request):
    """Public: the answer depends only on published policy parameters, and
    people ask it before they are insured or signed up."""
    quote = None
    form = CalculatorForm(request.GET or None, initial=CalculatorForm.defaults())
    if form.is_valid():
        try:
            quote = calculate(
                base_fen=form.cleaned_data["base"],
                region=form.cleaned_data["region"],
                year=form.cleaned_data["year"],
            )
        except ApplicationError as exc:
            _form_errors(form, exc)
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "payments/calculator.html", {"form": form, "quote": quote}, status=status
    )


@staff_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = contributions_import(
                data=upload, file_name=upload.name, uploaded_by=request.user, request=request
            )
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("payments:import_batch", pk=batch.pk)
    batches = ImportBatch.objects.select_related("uploaded_by")[:20]
    status = 400 if form.errors else 200
    context = {"form": form, "batches": batches, "max_mb": import_max_bytes() // (1024 * 1024)}
    return render(request, "payments/import.html", context, status=status)


REPORT_ROWS_ON_PAGE = 50


@staff_required
def import_batch(request, pk: int):
    batch = get_object_or_404(ImportBatch, pk=pk)
    try:
        rows = import_report_rows(batch, limit=REPORT_ROWS_ON_PAGE)
    except OSError:
        rows = []
    return render(
        request,
        "payments/import_batch.html",
        {"batch": batch, "bad_rows": rows, "bad_rows_shown": len(rows)},
    )


@staff_required
def import_report(request, pk: int):
    batch = get_object_or_404(ImportBatch, pk=pk)
    try:
        text = import_report_text(batch)
    except OSError:
        raise Http404 from None
    if not text:
        raise Http404
    # The header in the reader's language; the rows as stored.
    rows = text.split("\n", 1)[1] if "\n" in text else ""
    body = ",".join(report_header()) + "\r\n" + rows
    response = HttpResponse(
        "\ufeff" + body, content_type="text/csv; charset=utf-8"
    )  # BOM: spreadsheet programs then read it as UTF-8
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-report.csv"'
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def correction(request):
    """Staff: mark an arrears month paid (it is credited) or refund a paid
    month (its credit is reversed), with a reason; each is audited."""
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        number = normalise(data["id_number"])
        person = persons_by_id_numbers({number}).get(number)
        year, month = (int(x) for x in data["period"].split("-"))
        record = (
            Contribution.objects.filter(person=person, period__year=year, period__month=month)
            .exclude(status=ContributionStatus.REFUNDED)
            .first()
            if person is not None
            else None
        )
        if record is None:
            form.add_error(
                None, _("No arrears or paid record is stored for this person and month.")
            )
        else:
            try:
                if data["action"] == CorrectionForm.MARK_PAID:
                    contribution_mark_paid(
                        contribution_id=record.pk,
                        paid_on=data["paid_on"],
                        reason=data["reason"],
                        actor=request.user,
                        request=request,
                    )
                    messages.success(request, _("The month is now paid and credited."))
                else:
                    contribution_refund(
                        contribution_id=record.pk,
                        reason=data["reason"],
                        actor=request.user,
                        request=request,
                    )
                    messages.success(request, _("The month is refunded and its credit reversed."))
            except ApplicationError as exc:
                _form_errors(form, exc)
            else:
                return redirect("payments:correction")
    status = 400 if form.errors else 200
    return render(request, "payments/correction.html", {"form": form}, status=status)


# --- A relative's resident-scheme contribution (docs/adr/0018) -----------------


def _member(request):
    person = person_for_user(request.user)
    if person is None:
        raise Http404
    return person


def _choose(request, member, *, error: str = "", status: int = 200):
    return render(
        request,
        "payments/resident_choose.html",
        {
            "choices": resident.choices_for(member),
            "years": resident.payable_years(),
            "paid": resident.paid_by_member(member, limit=10),
            "error": error,
            "selected_relative": request.GET.get("relative") or request.POST.get("relative"),
            "selected_year": request.GET.get("year") or request.POST.get("year"),
        },
        status=status,
    )


@login_required
@never_cache
@require_GET
def resident_choose(request):
    """Choose the relative and the year; nothing is paid from this page."""
    return _choose(request, _member(request))


@login_required
@never_cache
@require_GET
def resident_confirm(request):
    """What paying would do, and the one button that pays (it cannot be undone)."""
    member = _member(request)
    try:
        quote = resident.resident_contribution_quote(
            member=member,
            relative_id=request.GET.get("relative"),
            year=request.GET.get("year"),
        )
    except ApplicationError as exc:
        return _choose(request, member, error=exc.message, status=exc.status_code)
    return render(
        request,
        "payments/resident_confirm.html",
        {"quote": quote, "submission": secrets.token_hex(16)},
    )


@login_required
@never_cache
@require_POST
def resident_pay(request):
    member = _member(request)
    if request.POST.get("confirm") != "yes":
        return _choose(
            request, member, error=_("Nothing was paid: confirm the payment first."), status=400
        )
    try:
        payment, created = resident.resident_contribution_pay(
            member=member,
            actor=request.user,
            relative_id=request.POST.get("relative"),
            year=request.POST.get("year"),
            submission=request.POST.get("submission"),
            request=request,
        )
    except ApplicationError as exc:
        return _choose(request, member, error=exc.message, status=exc.status_code)
    if created:
        messages.success(request, _("Paid. The contribution is recorded for your relative."))
    return redirect("payments:resident_paid", pk=payment.pk)


@login_required
@never_cache
@require_GET
def resident_paid(request, pk: int):
    """The receipt: to the member who paid only."""
    member = _member(request)
    payment = get_object_or_404(
        ResidentContributionPayment.objects.select_related("relative", "contribution"),
        pk=pk,
        member=member,
    )
    return render(request, "payments/resident_paid.html", {"payment": payment})
