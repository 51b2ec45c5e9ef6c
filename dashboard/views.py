"""Member pages: dashboard, payment record, yearly summary, certificates.

Thin: resolve the person through the permission layer, call selectors,
render. A relative reaches a granting member's pages with ``?person=<id>`` (or
/dashboard/<id>/) and sees only the granted scopes.
"""

from __future__ import annotations

import datetime as dt

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access.lookups import ecert_subject, ecert_subjects, person_access
from access.middleware import NotVisible
from access.rules import Scope
from access.viewer import viewer_for
from accounts.selectors import pocket_balances, pocket_ledger
from audit.services import audit_record
from claims.selectors import benefit_room
from claims.selectors import record_expenses as claims_record_expenses
from errands import selectors as errands_selectors
from family import resident as resident_payments
from members.models import InsuranceType, InsuredPerson
from members.regions import region_name
from payments.models import ContributionStatus
from payments.selectors import contribution_history
from payments.selectors import record_rows as payments_record_rows
from portal.csvsafe import csv_writer
from portal.errors import ApplicationError
from portal.money import format_yuan

from . import certificates, charts, display, pagecache, selectors
from . import services as dashboard_services
from .deduction import serious_illness_deduction_fen
from .models import CertificateKind, IssuedCertificate

PAGE_SIZE = 50


# --- helpers -----------------------------------------------------------------


def _today() -> dt.date:
    return timezone.localdate()


def _subject(request, scope: str, person_id=None) -> tuple[InsuredPerson, bool]:
    """(person, is_own): the signed-in member, or ``?person=`` as the access
    layer allows (404 otherwise; audited when not the owner)."""
    viewer = viewer_for(request)
    own = viewer.person
    pid = person_id if person_id is not None else request.GET.get("person")
    if pid in (None, "") or (own is not None and str(pid) == str(own.pk)):
        if own is None:
            raise NotVisible
        return own, True
    access = person_access(viewer, pid, record=(str(scope),), request=request)
    person = access.require(scope)
    access.audit(request)
    return person, False


def _year(request, default: int) -> int:
    try:
        year = int(request.GET.get("year") or default)
    except ValueError:
        return default
    return year if 1990 <= year <= 2100 else default


def _cursor(value: str | None) -> tuple[dt.date, int] | None:
    """ "2025-06-01_123" -> (date(2025, 6, 1), 123); anything else -> None."""
    try:
        day, pk = (value or "").split("_", 1)
        return dt.date.fromisoformat(day), int(pk)
    except ValueError:
        return None


def _cursor_of(day: dt.date, pk: int) -> str:
    return f"{day.isoformat()}_{pk}"


def _months_chart(chart_id: str, title: str, totals: dict[int, int], *, empty_text: str) -> dict:
    return charts.bar_chart(
        chart_id,
        title,
        [(str(MONTHS[m]), totals.get(m, 0)) for m in range(1, 13)],
        empty_text=empty_text,
    )


# --- dashboard ---------------------------------------------------------------


def _dashboard_context(request, person: InsuredPerson, *, show_balance: bool, show_records: bool):
    ctx: dict = {"subject": person, "show_balance": show_balance, "show_records": show_records}
    if show_balance and person.has_personal_account:
        account = selectors.account(person)
        ctx["balances"] = account.balances
        ctx["rollover"] = account.rollover
    if show_records:
        ctx["contributions"] = selectors.latest_contributions(person, limit=5)
        ctx["expenses"] = selectors.latest_expenses(person, limit=5)
    return ctx


@login_required
@never_cache
@require_GET
def home(request):
    """The signed-in member's home is the dashboard; staff keep the plain home."""
    person = viewer_for(request).person
    if person is None:
        return render(request, "home.html", {"person": None})

    def build() -> str:
        ctx = _dashboard_context(request, person, show_balance=True, show_records=True)
        today = _today()
        ctx.update(
            person=person,
            is_own=True,
            granted=selectors.granted_members(person),
            history=contribution_history(person),
            room=benefit_room(person, today.year),
            room_year=today.year,
            errands=errands_selectors.current_errands(person, today),
            id_number_slot=mark_safe(pagecache.ID_NUMBER_SLOT),  # noqa: S308 - a fixed comment
        )
        return render_to_string("dashboard/_home_content.html", ctx, request)

    content = pagecache.content_block(
        request, page="home", subject_id=person.pk, build=build, id_number=lambda: person.id_number
    )
    return pagecache.render_page(request, "dashboard/home.html", content)


@login_required
@never_cache
@require_GET
def member_dashboard(request, person_id: int):
    """A member as a relative (or verified staff) sees them: the one relative
    view (``/family/view/<id>/`` and the account switcher lead here), with
    the granted scopes only, each use audited."""
    viewer = viewer_for(request)
    own = viewer.person
    if own is not None and own.pk == person_id:
        return home(request)
    # Every scope held is shown: their views are recorded by the link's
    # look-up itself (``audit`` below records those of staff).
    scopes = (Scope.BALANCE, Scope.RECORDS, Scope.PAY)
    access = person_access(viewer, person_id, record=tuple(map(str, scopes)), request=request)
    person = access.require()
    shown = [s for s in scopes if access.may(s)]
    access.audit(request, *shown)  # audited once per scope shown
    link = access.link

    def build() -> str:
        ctx = _dashboard_context(
            request,
            person,
            show_balance=access.may(Scope.BALANCE),
            show_records=access.may(Scope.RECORDS),
        )
        ctx.update(
            is_own=False,
            show_pay=access.may(Scope.PAY),
            pay_not_eligible=access.pay_granted_not_eligible,
            grant=link,
        )
        return render_to_string("dashboard/_member_content.html", ctx, request)

    content = pagecache.content_block(
        request,
        page="member",
        subject_id=person.pk,
        params=(
            tuple(str(s) for s in shown),
            bool(access.pay_granted_not_eligible),
            getattr(link, "pk", None),
            viewer.is_verified_staff,
        ),
        build=build,
    )
    return render(request, "dashboard/member.html", {"content": content, "subject": person})


# --- personal-account ledger -------------------------------------------------


@login_required
@never_cache
@require_GET
def ledger(request):
    """Every credit, spend, refund and rollover of the personal account, with
    both pockets after each, newest first, and the time the page was read."""
    person, is_own = _subject(request, Scope.RECORDS)
    year_int = _year(request, 0) or None
    raw_after = request.GET.get("after") or ""
    after = int(raw_after) if raw_after.isdigit() and len(raw_after) <= 18 else None
    entries = []
    if person.has_personal_account:
        entries = pocket_ledger(person, year=year_int, after=after, limit=PAGE_SIZE + 1)
    next_cursor = None
    if len(entries) > PAGE_SIZE:
        entries = entries[:PAGE_SIZE]
        next_cursor = entries[-1].cursor
    this_year = _today().year
    return render(
        request,
        "dashboard/ledger.html",
        {
            "subject": person,
            "is_own": is_own,
            "entries": entries,
            "balances": pocket_balances(person) if person.has_personal_account else None,
            "as_of": timezone.now(),
            "next_cursor": next_cursor,
            "paged": bool(after),
            "year": str(year_int or ""),
            "years": list(range(this_year, this_year - 10, -1)),
        },
    )


# --- payment record ----------------------------------------------------------


def _status_choices():
    return list(ContributionStatus.choices)


@login_required
@never_cache
@require_GET
def records(request):
    person, is_own = _subject(request, Scope.RECORDS)
    year_int = _year(request, 0) or None
    statuses = dict(_status_choices())
    status = request.GET.get("status") or ""
    status = status if status in statuses else ""
    after_c = _cursor(request.GET.get("after"))
    after_e = _cursor(request.GET.get("after_expense"))
    staff = viewer_for(request).is_verified_staff

    def build() -> str:
        contribs = payments_record_rows(
            person, year=year_int, status=status or None, after=after_c, limit=PAGE_SIZE + 1
        )
        expenses = claims_record_expenses(person, year=year_int, after=after_e, limit=PAGE_SIZE + 1)
        next_c = next_e = None
        if len(contribs) > PAGE_SIZE:
            contribs = contribs[:PAGE_SIZE]
            next_c = _cursor_of(contribs[-1].period, contribs[-1].pk)
        if len(expenses) > PAGE_SIZE:
            expenses = expenses[:PAGE_SIZE]
            next_e = _cursor_of(expenses[-1].service_date, expenses[-1].pk)
        this_year = _today().year
        surplus_paid, paid_for_subject = resident_payments.surplus_lines(person, year=year_int)
        ctx = {
            "subject": person,
            "is_own": is_own,
            "contributions": contribs,
            "expenses": expenses,
            "next_contribution": next_c,
            "next_expense": next_e,
            "year": str(year_int or ""),
            "status": status,
            "statuses": statuses.items(),
            "years": list(range(this_year, this_year - 10, -1)),
            "paged": bool(after_c or after_e),
            # Resident contributions paid from a surplus (docs/adr/0018): the
            # subject's debit lines, and what relatives paid for the subject.
            "surplus_paid": surplus_paid,
            "paid_for_subject": paid_for_subject,
        }
        return render_to_string("dashboard/_records_content.html", ctx, request)

    content = pagecache.content_block(
        request,
        page="records",
        subject_id=person.pk,
        params=(is_own, staff, year_int, status, after_c, after_e),
        build=build,
    )
    return pagecache.render_page(request, "dashboard/records.html", content)


@login_required
@never_cache
@require_GET
def records_csv(request):
    """The payment record as CSV (contributions, newest first), streamed page by page."""
    person, _is_own = _subject(request, Scope.RECORDS)
    year = _year(request, 0) or None
    status = request.GET.get("status") or None
    if status not in dict(_status_choices()):
        status = None
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="payment-record.csv"'
    response.write("\ufeff")  # so spreadsheet programs read UTF-8
    writer = csv_writer(response)
    writer.writerow(
        [
            _("Month"),
            _("Contribution base (yuan)"),
            _("Employer (yuan)"),
            _("Individual (yuan)"),
            _("Credited to the personal account (yuan)"),
            _("Payer"),
            _("Date paid"),
            _("Status"),
        ]
    )
    after = None
    while True:
        rows = selectors.contributions(person, year=year, status=status, after=after, limit=500)
        if not rows:
            break
        for c in rows:
            writer.writerow(
                [
                    c.period.strftime("%Y-%m"),
                    format_yuan(c.base_fen),
                    format_yuan(c.employer_fen),
                    format_yuan(c.individual_fen),
                    format_yuan(c.credited_fen),
                    c.get_payer_display(),
                    c.paid_on.isoformat() if c.paid_on else "",
                    c.get_status_display(),
                ]
            )
        if len(rows) < 500:
            break
        after = (rows[-1].period, rows[-1].pk)
    return response


# --- yearly summary ----------------------------------------------------------


@login_required
@never_cache
@require_GET
def summary(request):
    person, is_own = _subject(request, Scope.RECORDS)
    today = _today()
    year = _year(request, today.year)
    contrib_months, contrib_totals = selectors.contribution_year(person, year)
    spend_months = selectors.expense_monthly_totals(person, year)
    by_care = selectors.expense_by_care_type(person, year)
    totals = selectors.yearly_totals(person, year)
    people = []
    if is_own:
        for c in selectors.claimable_people(person, year):
            row = {"claimable": c, "totals": None}
            if c.person.pk == person.pk:
                row["totals"] = totals
            else:
                seen = person_access(viewer_for(request), c.person.pk, person=c.person)
                if seen.may(Scope.RECORDS):
                    row["totals"] = selectors.yearly_totals(seen.require(Scope.RECORDS), year)
                    seen.audit(request)
            if row["totals"] is not None:
                row["deduction_fen"] = serious_illness_deduction_fen(
                    row["totals"]["self_borne_fen"]
                )
            people.append(row)
    chart_list = [
        _months_chart(
            "chart-contrib",
            _("Contributions paid per month, employer's and own share"),
            contrib_months,
            empty_text=_("No contributions were paid in %(year)s.") % {"year": year},
        ),
        _months_chart(
            "chart-spend",
            _("Medical spending per month (yuan)"),
            spend_months,
            empty_text=_("No medical expenses in %(year)s.") % {"year": year},
        ),
    ]
    if by_care:
        chart_list.append(
            charts.bar_chart(
                "chart-care",
                _("Spending by care type (yuan)"),
                by_care,
                empty_text=_("No medical expenses in %(year)s.") % {"year": year},
            )
        )
    return render(
        request,
        "dashboard/summary.html",
        {
            "subject": person,
            "is_own": is_own,
            "year": year,
            "years": list(range(today.year, today.year - 10, -1)),
            "totals": totals,
            "contributions": contrib_totals,
            "people": people,
            "charts": chart_list,
            "room": benefit_room(person, year),
            "room_year": year,
        },
    )


# --- payment-record certificate ---------------------------------------------


def _month(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except (TypeError, ValueError):
        return None


def _certificate_rows(person: InsuredPerson, start: dt.date, end: dt.date) -> list[dict]:
    rows, after = [], None
    while True:
        page = selectors.contributions(person, after=after, limit=500)
        for c in page:
            if start <= c.period <= end:
                rows.append(
                    {
                        "period": c.period.strftime("%Y-%m"),
                        "status": c.status,
                        "total_fen": c.employer_fen + c.individual_fen,
                        "credited_fen": c.credited_fen,
                    }
                )
        if len(page) < 500 or page[-1].period < start:
            return rows
        after = (page[-1].period, page[-1].pk)


@login_required
@never_cache
@require_GET
def certificate(request):
    """Choose a period; the form downloads the PDF."""
    person, is_own = _subject(request, Scope.RECORDS)
    today = _today()
    start = request.GET.get("start") or f"{today.year - 1}-01"
    end = request.GET.get("end") or today.strftime("%Y-%m")
    return render(
        request,
        "dashboard/certificate.html",
        {"subject": person, "is_own": is_own, "start": start, "end": end},
    )


@login_required
@never_cache
@require_GET
def certificate_pdf(request):
    person, is_own = _subject(request, Scope.RECORDS)
    start, end = _month(request.GET.get("start")), _month(request.GET.get("end"))
    errors = {}
    if start is None:
        errors["start"] = [_("Choose the first month (YYYY-MM).")]
    if end is None:
        errors["end"] = [_("Choose the last month (YYYY-MM).")]
    if start and end and start > end:
        errors["end"] = [_("The last month is before the first month.")]
    if errors:
        return render(
            request,
            "dashboard/certificate.html",
            {
                "subject": person,
                "is_own": is_own,
                "start": request.GET.get("start", ""),
                "end": request.GET.get("end", ""),
                "errors": errors,
            },
            status=400,
        )
    issued_at = timezone.now()
    try:
        content = certificates.certificate_content(
            person=person,
            start=start.strftime("%Y-%m"),
            end=end.strftime("%Y-%m"),
            rows=_certificate_rows(person, start, end),
            issued_at=issued_at,
            issuer=settings.CERTIFICATE_ISSUER or _("Medical insurance portal (demonstration)"),
        )
    except ApplicationError as exc:
        return render(
            request,
            "dashboard/certificate.html",
            {
                "subject": person,
                "is_own": is_own,
                "start": request.GET.get("start", ""),
                "end": request.GET.get("end", ""),
                "errors": exc.fields,
                "form_error": exc.message,
            },
            status=400,
        )
    issued = dashboard_services.certificate_issue(
        person=person,
        kind=CertificateKind.PAYMENT_RECORD,
        content=content,
        issued_by=request.user,
    )
    return _certificate_pdf(
        request,
        issued,
        content,
        title=_("Payment record certificate"),
        facts=certificates.certificate_facts(
            content, type_label=str(InsuranceType(content["type"]).label), with_issue=False
        ),
        statement=_(
            "This certifies the basic medical insurance contributions recorded for the "
            "person above in the period shown."
        ),
        file_stem="payment-record",
    )


# --- insurance certificate (参保凭证) -------------------------------------------


def _paid_periods(person: InsuredPerson) -> list[str]:
    """Every paid month of the person ("YYYY-MM"), newest first."""
    periods, after = [], None
    while True:
        page = selectors.contributions(
            person, status=ContributionStatus.PAID, after=after, limit=500
        )
        periods += [c.period.strftime("%Y-%m") for c in page]
        if len(page) < 500:
            return periods
        after = (page[-1].period, page[-1].pk)


def _insurance_form(request, person, is_own, *, status=200, **extra):
    today = _today()
    ctx = {
        "subject": person,
        "is_own": is_own,
        "start": request.GET.get("start") or f"{today.year - 1}-01",
        "end": request.GET.get("end") or today.strftime("%Y-%m"),
        "region_name": region_name(person.insured_region),
        **extra,
    }
    return render(request, "dashboard/insurance_certificate.html", ctx, status=status)


@login_required
@never_cache
@require_GET
def insurance_certificate(request):
    """Choose the months to list; the form downloads the PDF."""
    person, is_own = _subject(request, Scope.RECORDS)
    return _insurance_form(request, person, is_own)


@login_required
@never_cache
@require_GET
def insurance_certificate_pdf(request):
    """The insurance certificate (参保凭证): for the member, or for a relative
    holding the records scope (the download is audited)."""
    person, is_own = _subject(request, Scope.RECORDS)
    start, end = _month(request.GET.get("start")), _month(request.GET.get("end"))
    errors = {}
    if start is None:
        errors["start"] = [_("Choose the first month (YYYY-MM).")]
    if end is None:
        errors["end"] = [_("Choose the last month (YYYY-MM).")]
    if start and end and start > end:
        errors["end"] = [_("The last month is before the first month.")]
    if errors:
        return _insurance_form(request, person, is_own, status=400, errors=errors)
    try:
        content = certificates.insurance_content(
            person=person,
            region_name=region_name(person.insured_region),
            start=start.strftime("%Y-%m"),
            end=end.strftime("%Y-%m"),
            rows=_certificate_rows(person, start, end),
            paid_periods=_paid_periods(person),
            issued_at=timezone.now(),
            issuer=settings.CERTIFICATE_ISSUER or _("Medical insurance portal (demonstration)"),
        )
    except ApplicationError as exc:
        return _insurance_form(
            request, person, is_own, status=400, errors=exc.fields, form_error=exc.message
        )
    issued = dashboard_services.certificate_issue(
        person=person, kind=CertificateKind.INSURANCE, content=content, issued_by=request.user
    )
    if not is_own:
        audit_record(
            actor=request.user,
            action="dashboard.certificate.insurance.download",
            subject_person=person,
            target=issued,
            detail={"start": content["start"], "end": content["end"]},
            request=request,
        )
    return _certificate_pdf(
        request,
        issued,
        content,
        title=_("Insurance certificate"),
        facts=certificates.insurance_facts(
            content, type_label=str(InsuranceType(content["type"]).label), with_issue=False
        ),
        statement=_(
            "This certifies that the person above is insured in the basic medical insurance "
            "as shown, with the contributions recorded for the period shown."
        ),
        file_stem="insurance-certificate",
    )


def _certificate_pdf(request, issued, content, *, title, facts, statement, file_stem):
    """The PDF of an issued certificate: its facts, the month table, the
    issuer line, the QR code and the verification address and code."""
    labels = {
        "title": title,
        "issuer_line": _("Issued by %(issuer)s on %(time)s")
        % {"issuer": content["issuer"], "time": content["issued_at"]},
        "facts": facts,
        "table_head": [_("Month"), _("Status"), _("Paid"), _("Credited")],
        "table": certificates.certificate_table(content, status_labels=_status_labels()),
        "statement": statement,
        "verify_hint": _(
            "Anyone can check this certificate: scan the QR code, or open the address "
            "below and compare what it shows with this paper."
        ),
        "code_label": _("Verification code:"),
    }
    try:
        body = certificates.certificate_pdf(
            payload=content,
            code=issued.code,
            verify_url=_verify_url(request, issued.code),
            labels=labels,
        )
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=exc.status_code, content_type="text/plain")
    response = HttpResponse(body, content_type="application/pdf")
    name = f"{file_stem}-{content['start']}-{content['end']}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Verification-Code"] = issued.code
    return response


def _status_labels() -> dict[str, str]:
    return {value: str(label) for value, label in ContributionStatus.choices}


def _verify_url(request, code: str) -> str:
    path = reverse("verify_code", args=[certificates.format_code(code)])
    base = settings.PORTAL_PUBLIC_URL
    return f"{base}{path}" if base else request.build_absolute_uri(path)


@never_cache
@require_GET
def verify(request, code: str | None = None):
    """Public: shows what a certificate printed, if its code was issued here."""
    raw = (code or request.GET.get("code") or "").strip()[:2000]
    content, problem = None, ""
    if raw:
        parsed, problem = certificates.parse_code(raw)
        if parsed is not None:
            issued = IssuedCertificate.objects.filter(code=parsed).first()
            content = issued.content if issued is not None else None
            problem = "" if issued is not None else "unknown"
        elif problem == "shape":
            content = certificates.legacy_certificate_verify(raw)
            problem = "" if content is not None else "unknown"
    facts = table = None
    if content is not None:
        facts_of = (
            certificates.insurance_facts
            if content.get("kind") == certificates.INSURANCE_KIND
            else certificates.certificate_facts
        )
        facts = facts_of(content, type_label=str(InsuranceType(content["type"]).label))
        table = certificates.certificate_table(content, status_labels=_status_labels())
    return render(
        request,
        "dashboard/verify.html",
        {
            "code": raw,
            "facts": facts,
            "table": table,
            "checked": bool(raw),
            "problem": problem,
            "kind_label": _kind_label(content),
        },
        status=200 if (content is not None or not raw) else 404,
    )


def _kind_label(content: dict | None) -> str:
    if content is None:
        return ""
    if content.get("kind") == certificates.INSURANCE_KIND:
        return str(CertificateKind.INSURANCE.label)
    return str(CertificateKind.PAYMENT_RECORD.label)


# --- electronic certificate --------------------------------------------------


@login_required
@never_cache
@require_GET
def ecert(request):
    viewer = viewer_for(request)
    if viewer.person is None:
        raise NotVisible
    return render(
        request,
        "dashboard/ecert.html",
        {
            "people": ecert_subjects(viewer),
            "max_age": certificates.ECERT_MAX_AGE,
        },
    )


@login_required
@never_cache
@require_GET
def ecert_token(request, person_id: int):
    """{"token", "svg", "expires_in"}: a fresh QR for the member or a relative
    they may pay for; the page's script asks again before it expires."""
    subject = ecert_subject(viewer_for(request), person_id)
    token = certificates.ecert_token(subject)
    qr = segno.make(token, error="m")
    return JsonResponse(
        {
            "token": token,
            "svg": qr.svg_data_uri(scale=5, border=2),
            "expires_in": certificates.ECERT_MAX_AGE,
        }
    )


# --- display: the elderly mode -------------------------------------------------


@require_POST
def display_mode(request):
    """Switch the elderly mode on or off (from the header of every page) and
    go back where the switch was pressed."""
    on = request.POST.get("elderly") == "1"
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = redirect(target)
    display.remember(request, response, on=on)
    return response
