"""Staff pages for settlement (behind portal.security.staff_required)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from audit.services import audit_record, audit_view
from portal.csvsafe import csv_writer
from portal.errors import ApplicationError
from portal.money import format_money, format_yuan
from portal.security import staff_required

from . import selectors
from .models import SettlementBatch
from .settlement import settlement_start


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@staff_required
def batch_list(request):
    batches = selectors.batch_list(before=_int(request.GET.get("before")), limit=50)
    return render(
        request,
        "claims/batch_list.html",
        {"batches": batches, "next_before": batches[-1].pk if len(batches) == 50 else None},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def settle_now(request):
    """Open today's batches for everything submitted until now; the tasks are
    sent after the transaction commits. Paying institutions cannot be undone,
    so a GET, or a POST without ``confirm``, first shows what would be settled."""
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        due = selectors.due_work_by_institution(cutoff=timezone.now())
        return render(request, "claims/settle_confirm.html", {"due": due})
    try:
        batches = settlement_start(period=timezone.localdate(), cutoff=timezone.now())
    except ApplicationError as exc:  # Busy: nothing was started
        messages.error(request, exc.message)
        return redirect("claims:batches")
    audit_record(
        actor=request.user,
        action="settlement.start",
        detail={"batches": [b.pk for b in batches]},
        request=request,
    )
    if not batches:
        messages.info(request, _("Nothing to settle."))
        return redirect("claims:batches")
    # Without a broker the tasks ran in-process on commit: say what happened.
    done = SettlementBatch.objects.filter(
        pk__in=[b.pk for b in batches], status=SettlementBatch.Status.DONE
    ).count()
    if done == len(batches):
        messages.success(
            request, _("Settled: %(n)d institutions, every batch done.") % {"n": len(batches)}
        )
    else:
        messages.success(
            request,
            _("Settlement started for %(n)d institutions; the progress below updates by itself.")
            % {"n": len(batches)},
        )
    if len(batches) == 1:
        return redirect("claims:batch", batch_id=batches[0].pk)
    return redirect("claims:batches")


@staff_required
def batch_detail(request, batch_id: int):
    batch = get_object_or_404(SettlementBatch.objects.select_related("institution"), pk=batch_id)
    expenses = selectors.batch_expenses(batch, after=_int(request.GET.get("after")), limit=100)
    audit_view(  # the page names patients with their amounts
        actor=request.user,
        action="settlement.batch.view",
        persons=[e.patient_id for e in expenses],
        target=batch,
        detail={"expenses": [e.pk for e in expenses]},
        request=request,
    )
    return render(
        request,
        "claims/batch_detail.html",
        {
            "batch": batch,
            "expenses": expenses,
            "next_after": expenses[-1].pk if len(expenses) == 100 else None,
        },
    )


def progress_of(batch: SettlementBatch) -> dict:
    return {
        "status": batch.status,
        "status_label": batch.status_label,
        "done": batch.done_count,
        "expected": batch.expected_count,
        "percent": batch.progress_percent,
        "expense_count": batch.expense_count,
        "reversal_count": batch.reversal_count,
        # Shown as they are on the page (the page's one money format).
        "fund": format_money(batch.fund_fen),
        "net": format_money(batch.net_fen),
    }


@staff_required
def batch_progress(request, batch_id: int):
    batch = SettlementBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise Http404
    return JsonResponse(progress_of(batch))


class _Echo:
    def write(self, value):
        return value


@staff_required
def batch_csv(request, batch_id: int):
    batch = get_object_or_404(SettlementBatch, pk=batch_id)
    audit_record(actor=request.user, action="settlement.export", target=batch, request=request)
    writer = csv_writer(_Echo())

    def rows():
        yield "\ufeff" + writer.writerow(
            [
                _("expense"),
                _("date"),
                _("care type"),
                _("status"),
                _("entry"),
                _("total"),
                _("pooled fund"),
                _("personal account"),
                _("cash"),
                _("settled amount"),
            ]
        )
        previous = None
        for (
            pk,
            day,
            care,
            status,
            reversal,
            total,
            fund,
            account,
            cash,
        ) in selectors.batch_expense_rows(batch):
            # An expense settled here is a positive entry; a reversal of an
            # expense settled earlier is a negative one, and a reversal of an
            # expense settled by this same batch a bare negative line after it.
            if reversal and previous == pk:
                blank = ["", "", "", ""]
                yield writer.writerow(
                    [pk, day.isoformat(), care, status, "reversal", *blank, format_yuan(-fund)]
                )
                continue
            previous = pk
            sign = -1 if reversal else 1
            yield writer.writerow(
                [
                    pk,
                    day.isoformat(),
                    care,
                    status,
                    "reversal" if reversal else "expense",
                    format_yuan(total),
                    format_yuan(fund),
                    format_yuan(account),
                    format_yuan(cash),
                    format_yuan(sign * fund),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="settlement-{batch.institution_id}-{batch.period}.csv"'
    )
    return response


@staff_required
def institution_totals(request):
    return render(request, "claims/totals.html", {"totals": selectors.totals_per_institution()})
