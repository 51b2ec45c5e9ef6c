"""Pages: the contribution calculator (public) and the staff import."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from portal.errors import ApplicationError
from portal.security import staff_required

from .forms import CalculatorForm, ImportForm
from .models import ImportBatch
from .selectors import calculate
from .services import contributions_import


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
            for name, messages in exc.fields.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
            if not exc.fields:
                form.add_error(None, exc.message)
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
        batch = contributions_import(
            data=upload.read(), file_name=upload.name, uploaded_by=request.user, request=request
        )
        return redirect("payments:import_batch", pk=batch.pk)
    batches = ImportBatch.objects.select_related("uploaded_by").defer("report_csv")[:20]
    return render(request, "payments/import.html", {"form": form, "batches": batches})


@staff_required
def import_batch(request, pk: int):
    batch = get_object_or_404(ImportBatch.objects.defer("report_csv"), pk=pk)
    return render(request, "payments/import_batch.html", {"batch": batch})


@staff_required
def import_report(request, pk: int):
    batch = get_object_or_404(ImportBatch, pk=pk)
    if not batch.report_csv:
        raise Http404
    response = HttpResponse(
        "\ufeff" + batch.report_csv, content_type="text/csv; charset=utf-8"
    )  # BOM: spreadsheet programs then read it as UTF-8
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-report.csv"'
    return response
