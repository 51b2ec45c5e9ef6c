"""The payment record page's repeated rows, built once in Python.

The page shows up to 50 contributions and 50 expenses with their parts; as
template loops (a ``{% translate %}``, a filter chain and an attribute lookup
per cell) they were most of the page's cost (docs/adr/0006-hot-read-paths.md).
Here each row is one f-string: every text that comes from the database or a
translation goes through ``escape`` (autoescaping, by hand), numbers and dates
are formatted from integers. The markup is the template's, unchanged.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from claims.models import CareType, ExpenseStatus
from payments.models import ContributionStatus
from payments.models import Payer as ContributionPayer
from portal.money import format_money


def _labels(choices) -> dict[str, str]:
    return {value: escape(str(label)) for value, label in choices}


def _status_badges(unknown: str):
    """A function giving a contribution's status badge: a retiree's credit
    with nothing paid says so (not "paid 0.00"); others show their status,
    paid green, arrears amber, anything else ``unknown``'s class."""
    retiree = escape(_("Retiree credit (nothing to pay)"))
    statuses = _labels(ContributionStatus.choices)
    badge = {"paid": "ok", "arrears": "warn"}

    def state(c) -> str:
        if c.status == "paid" and not c.employer_fen and not c.individual_fen and c.credited_fen:
            return f'<span class="badge ok">{retiree}</span>'
        label = statuses.get(c.status) or escape(c.status)
        return f'<span class="badge {badge.get(c.status, unknown)}">{label}</span>'

    return state


def contribution_rows(rows) -> SafeString:
    """The ``<tr>`` of each contribution (``payments.selectors.RecordRow``)."""
    if not rows:
        return mark_safe("")
    month, base = escape(_("Month")), escape(_("Base"))
    employer, individual = escape(_("Employer")), escape(_("Individual"))
    credited, payer_l = escape(_("Credited")), escape(_("Payer"))
    paid_l, status_l = escape(_("Date paid")), escape(_("Status"))
    payers = _labels(ContributionPayer.choices)
    status_badge = _status_badges("bad")
    out = []
    for c in rows:
        state = status_badge(c)
        paid = c.paid_on.isoformat() if c.paid_on else "—"
        out.append(
            f'<tr data-testid="contribution-row">'
            f'<th scope="row" data-label="{month}">{c.period.year:04d}-{c.period.month:02d}</th>'
            f'<td class="num" data-label="{base}">{format_money(c.base_fen)}</td>'
            f'<td class="num" data-label="{employer}">{format_money(c.employer_fen)}</td>'
            f'<td class="num" data-label="{individual}">{format_money(c.individual_fen)}</td>'
            f'<td class="num" data-label="{credited}">{format_money(c.credited_fen)}</td>'
            f'<td data-label="{payer_l}">{payers.get(c.payer) or escape(c.payer)}</td>'
            f'<td data-label="{paid_l}">{paid}</td>'
            f'<td data-label="{status_l}">{state}</td></tr>\n'
        )
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def expense_articles(expenses) -> SafeString:
    """The ``<article>`` of each expense (``claims.selectors.RecordExpense``)."""
    if not expenses:
        return mark_safe("")
    total, fund = escape(_("Total")), escape(_("Pooled fund"))
    account, cash = escape(_("Personal account")), escape(_("Cash"))
    after = escape(_("Balance after (current-year / prior-years)"))
    paid_by, amount, why = escape(_("Paid by")), escape(_("Amount")), escape(_("Why"))
    care_types = _labels(CareType.choices)
    reversed_label = escape(str(ExpenseStatus.REVERSED.label))
    out = []
    for e in expenses:
        head = (
            f"{e.service_date.isoformat()} · {escape(e.institution_name)} · "
            f"{care_types.get(e.care_type) or escape(e.care_type)}"
        )
        if e.status == ExpenseStatus.REVERSED:
            head += f' <span class="badge bad">{reversed_label}</span>'
        balance = ""
        if e.balance_current_after_fen is not None:
            balance = (
                f'<dt>{after}</dt><dd class="money">{format_money(e.balance_current_after_fen)}'
                f" / {format_money(e.balance_prior_after_fen)}</dd>"
            )
        parts = ""
        if e.parts:
            lines = []
            for p in e.parts:
                who = escape(p.get_payer_display())
                if p.grantor_name:
                    who += f" ({escape(p.grantor_name)})"
                lines.append(
                    f'<tr><th scope="row" data-label="{paid_by}">{who}</th>'
                    f'<td class="num" data-label="{amount}">{format_money(p.amount_fen)}</td>'
                    f'<td data-label="{why}">{escape(p.reason)}</td></tr>'
                )
            parts = (
                '<div class="table-wrap"><table class="stack">'
                f'<thead><tr><th scope="col">{paid_by}</th><th scope="col" class="num">{amount}'
                f'</th><th scope="col">{why}</th></tr></thead><tbody>{"".join(lines)}</tbody>'
                "</table></div>"
            )
        out.append(
            f'<article class="expense" data-testid="expense"><h3>{head}</h3>'
            f'<dl class="facts"><dt>{total}</dt><dd class="money">{format_money(e.total_fen)}</dd>'
            f'<dt>{fund}</dt><dd class="money">{format_money(e.fund_fen)}</dd>'
            f'<dt>{account}</dt><dd class="money">{format_money(e.account_fen)}</dd>'
            f'<dt>{cash}</dt><dd class="money">{format_money(e.cash_fen)}</dd>{balance}</dl>'
            f"{parts}</article>\n"
        )
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def latest_contribution_rows(rows) -> SafeString:
    """The dashboard's "latest contributions" ``<tr>`` (``RecentContribution``)."""
    if not rows:
        return mark_safe("")
    month, paid_l = escape(_("Month")), escape(_("Paid"))
    credited, status_l = escape(_("Credited")), escape(_("Status"))
    status_badge = _status_badges("")
    out = []
    for c in rows:
        state = status_badge(c)
        out.append(
            f'<tr><th scope="row" data-label="{month}">{c.period.year:04d}-{c.period.month:02d}'
            f'</th><td class="num" data-label="{paid_l}">'
            f"{format_money(c.individual_fen + c.employer_fen)}</td>"
            f'<td class="num" data-label="{credited}">{format_money(c.credited_fen)}</td>'
            f'<td data-label="{status_l}">{state}</td></tr>\n'
        )
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def latest_expense_rows(rows) -> SafeString:
    """The dashboard's "latest medical expenses" ``<tr>`` (``RecentExpense``)."""
    if not rows:
        return mark_safe("")
    date_l, where = escape(_("Date")), escape(_("Where"))
    total, fund = escape(_("Total (yuan)")), escape(_("Fund"))
    account, cash = escape(_("Account")), escape(_("Cash"))
    out = []
    for e in rows:
        out.append(
            f'<tr><th scope="row" data-label="{date_l}">{e.service_date.isoformat()}</th>'
            f'<td data-label="{where}">{escape(e.institution_name)}</td>'
            f'<td class="num" data-label="{total}">{format_money(e.total_fen)}</td>'
            f'<td class="num" data-label="{fund}">{format_money(e.fund_fen)}</td>'
            f'<td class="num" data-label="{account}">{format_money(e.account_fen)}</td>'
            f'<td class="num" data-label="{cash}">{format_money(e.cash_fen)}</td></tr>\n'
        )
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped
