"""Test data for the member pages, written through the owning apps' models and
the ledger's services (no mocks)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

from django.utils import timezone

from accounts.services import ledger_post, member_pockets, system_account
from family.models import FamilyLink, LinkStatus
from payments.models import Contribution

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


def contribution(
    person,
    period: dt.date,
    *,
    status: str = "paid",
    individual_fen: int = 16000,
    employer_fen: int = 72000,
    credited_fen: int = 16000,
) -> Contribution:
    return Contribution.objects.create(
        person=person,
        period=period,
        declared_base_fen=800000,
        base_fen=800000,
        employer_fen=employer_fen,
        individual_fen=individual_fen,
        credited_fen=credited_fen if status == "paid" else 0,
        payer="employer",
        paid_on=period + dt.timedelta(days=14) if status == "paid" else None,
        status=status,
    )


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
    status=LinkStatus.APPROVED,
) -> FamilyLink:
    n = next(_seq)
    return FamilyLink.objects.create(
        member=member,
        relative=relative,
        relationship=relationship,
        status=status,
        scope_balance=balance,
        scope_records=records,
        scope_pay=pay,
        consent_version="v1",
        consent_at=timezone.now(),
        document_kind="commitment_letter",
        document_name=f"test-{n}-{member.pk}-{relative.pk}",
        document_type="application/pdf",
        document_size=10,
        document_sha256=hashlib.sha256(str(n).encode()).hexdigest(),
    )
