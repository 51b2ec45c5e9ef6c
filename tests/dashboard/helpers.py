"""Test data for the member pages, written through production paths:
contributions through the import (so every credited month has its ledger
transaction), balances through the ledger's services, links through the
family-account flow (no mocks)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from accounts.services import ledger_post, member_pockets, system_account
from family.models import FamilyLink, LinkStatus
from payments.models import Contribution, PolicyYear
from payments.selectors import calculate
from payments.services import COLUMNS, contributions_import, import_report_text
from portal.money import fen_to_yuan

_seq = itertools.count(1)


def credit(person, *, current_fen: int = 0, prior_fen: int = 0, key: str = "t") -> None:
    cur, prior = member_pockets(person)
    fund = system_account("pooled_fund")
    postings = [(fund, -(current_fen + prior_fen))]
    if current_fen:
        postings.append((cur, current_fen))
    if prior_fen:
        postings.append((prior, prior_fen))
    ledger_post(idempotency_key=f"test:{person.pk}:{key}", kind="test.credit", postings=postings)


# The member pages' tests read amounts off the pages: their people's own
# district has its own policy, as staff would enter it in the admin (a
# district's row wins over its city's): average wage 10,000 yuan, base 60% to
# 300%, employer 9%, individual 2%, all of it credited. A base of 8,000 yuan
# then costs 720 + 160 yuan a month and credits 160.
TEST_POLICY = {
    "average_wage_fen": 1_000_000,
    "base_floor_ratio": Decimal("0.6"),
    "base_cap_ratio": Decimal("3"),
    "employer_rate": Decimal("0.09"),
    "individual_rate": Decimal("0.02"),
    "credit_rate": Decimal("1"),
    "retiree_monthly_credit_fen": 10000,
}


def _policy(person, year: int) -> PolicyYear:
    policy, _created = PolicyYear.objects.get_or_create(
        region=person.insured_region, year=year, defaults=TEST_POLICY
    )
    return policy


def _line(person, period: dt.date, status: str, base_fen: int) -> str:
    policy = _policy(person, period.year)
    quote = calculate(base_fen=base_fen, region=policy.region, year=period.year)
    employer, individual = quote.employer_fen, quote.individual_fen
    if person.insurance_type == "retired":
        employer = individual = 0
    paid_on = f"{period + dt.timedelta(days=14):%Y-%m-%d}" if status == "paid" else ""
    return ",".join(
        [
            person.id_number,
            f"{period:%Y-%m}",
            *(str(fen_to_yuan(x)) for x in (base_fen, employer, individual)),
            "employer",
            paid_on,
            status,
        ]
    )


def _import(lines: list[str]) -> None:
    data = ("\n".join([",".join(COLUMNS), *lines]) + "\n").encode()
    batch = contributions_import(data=data, file_name=f"test-{next(_seq)}.csv")
    assert batch.rows_bad == 0 and not batch.refused, import_report_text(batch) or batch.refused


def contributions(
    person, periods: list[dt.date], *, status: str = "paid", base_fen: int = 800000
) -> list[Contribution]:
    """Months of ``person`` written through the import (amounts from the
    policy, paid ones credited by their ledger transaction). ``refunded``:
    paid, then refunded by a second import (the credit is reversed)."""
    first = "paid" if status == "refunded" else status
    _import([_line(person, p, first, base_fen) for p in periods])
    if status == "refunded":
        _import([_line(person, p, "refunded", base_fen) for p in periods])
    found = {
        c.period: c
        for c in Contribution.objects.filter(
            person=person, period__in=periods, status=status
        ).order_by("id")
    }
    return [found[p] for p in periods]


def contribution(
    person, period: dt.date, *, status: str = "paid", base_fen: int = 800000
) -> Contribution:
    return contributions(person, [period], status=status, base_fen=base_fen)[0]


def months(n: int, *, last: dt.date = dt.date(2025, 12, 1)) -> list[dt.date]:
    out, y, m = [], last.year, last.month
    for _ in range(n):
        out.append(dt.date(y, m, 1))
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out


def link(
    member,
    relative,
    *,
    relationship: str = "spouse",
    balance=True,
    records=True,
    pay=False,
    errands=False,
    status=LinkStatus.APPROVED,
) -> FamilyLink:
    """A family link made the way members and staff make one: the member's
    request (agreement, the relative's details checked against the register,
    a real document), then staff review; ``status`` says how far it went
    (pending, approved, rejected, or approved and then ended by the member)."""
    from family import services
    from members.models import User
    from tests.family.conftest import request_link

    link = request_link(
        member,
        relative,
        relationship=relationship,
        scope_balance=balance,
        scope_records=records,
        scope_pay=pay,
        scope_errands=errands,
    )
    if status != LinkStatus.PENDING:
        reviewer, _created = User.objects.get_or_create(
            username="helpers-reviewer", defaults={"is_staff": True}
        )
        if status == LinkStatus.REJECTED:
            services.link_reject(link_id=link.pk, reviewer=reviewer, reason="unreadable")
        else:
            services.link_approve(link_id=link.pk, reviewer=reviewer)
            if status == LinkStatus.ENDED:
                link.refresh_from_db()
                services.link_end(link=link, user=member.user)
    link.refresh_from_db()
    assert link.status == status
    return link
