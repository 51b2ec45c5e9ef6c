"""Reads of expenses and settlement batches.

Member-facing reads take a person the caller obtained through
the access layer (``access.lookups.person_access``, scope ``records``).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import ExtractMonth

from members.models import InsuredPerson
from portal.prepared import prepared_cursor
from portal.replica import reading

from .models import (
    BenefitPool,
    Expense,
    ExpensePart,
    ExpenseStatus,
    Institution,
    Payer,
    SettlementBatch,
    SettlementEntry,
    SettlementWork,
)

_INSTITUTION_BY_HASH_SQL = (
    "SELECT i.id, i.name, i.kind, i.region, i.active FROM claims_institutiontoken t"
    " JOIN claims_institution i ON i.id = t.institution_id"
    " WHERE t.token_sha256 = %s AND t.revoked_at IS NULL AND i.active"
)
_INSTITUTION_FIELDS = ("id", "name", "kind", "region", "active")


def institution_for_token_hash(token_sha256: str) -> Institution | None:
    """The active institution holding this unrevoked token. Asked on every
    institution API request: plain SQL on the unique token index (compiling
    the ORM query cost more than running it); from the primary, so a
    revocation counts from the next request. ``created_at`` is left deferred."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_INSTITUTION_BY_HASH_SQL, [token_sha256])
        row = cursor.fetchone()
    return Institution.from_db(connection.alias, _INSTITUTION_FIELDS, row) if row else None


def _with_parts(qs: QuerySet[Expense]) -> QuerySet[Expense]:
    return qs.select_related("institution").prefetch_related(
        Prefetch("parts", queryset=ExpensePart.objects.select_related("grantor")),
        "lines",
    )


def expenses_for(
    person: InsuredPerson,
    *,
    year: int | None = None,
    after: tuple[dt.date, int] | str | None = None,
    limit: int = 50,
) -> list[Expense]:
    """The person's expenses, newest first, each with its parts and lines
    (three queries whatever the count). Keyset pagination: pass the last
    expense's ``(service_date, id)`` (or ``keyset(expense)``) as ``after``."""
    qs = Expense.objects.filter(patient=person)
    if year is not None:
        qs = qs.filter(service_date__year=year)
    if after:
        if isinstance(after, str):
            after = parse_keyset(after)
        day, pk = after
        qs = qs.filter(Q(service_date__lt=day) | Q(service_date=day, id__lt=pk))
    return list(_with_parts(qs).order_by("-service_date", "-id")[:limit])


@dataclass(frozen=True)
class RecentExpense:
    """A row of the dashboard's "latest expenses": where, and the split."""

    id: int
    service_date: dt.date
    institution_name: str
    total_fen: int
    fund_fen: int
    account_fen: int
    cash_fen: int
    status: str


_LATEST_EXPENSES_SQL = (
    "SELECT e.id, e.service_date, i.name, e.total_fen, e.fund_fen, e.account_fen, e.cash_fen, "
    "e.status FROM claims_expense e JOIN claims_institution i ON i.id = e.institution_id "
    "WHERE e.patient_id = %s ORDER BY e.service_date DESC, e.id DESC LIMIT %s"
)


def latest_expenses(person: InsuredPerson, *, limit: int = 5) -> list[RecentExpense]:
    """The newest ``limit`` expenses, as ``expenses_for`` orders them, without
    parts and lines. Read on every dashboard request: plain SQL on the
    ``claims_patient_recent`` index, no model instances."""
    with reading(Expense).cursor() as cursor:  # the replica on member pages
        cursor.execute(_LATEST_EXPENSES_SQL, [person.pk, limit])
        return [RecentExpense(*row) for row in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class RecordPart:
    """A part of an expense as the payment record page shows it."""

    payer: str
    amount_fen: int
    grantor_name: str | None
    reason_code: str
    reason_params: dict

    def get_payer_display(self) -> str:
        return str(Payer(self.payer).label)

    @property
    def reason(self) -> str:
        from .split import reason_text

        return reason_text(self.reason_code, self.reason_params)


@dataclass(frozen=True, slots=True)
class RecordExpense:
    """An expense as the payment record page shows it, with its parts."""

    id: int
    service_date: dt.date
    institution_name: str
    care_type: str
    status: str
    total_fen: int
    fund_fen: int
    account_fen: int
    cash_fen: int
    balance_current_after_fen: int | None
    balance_prior_after_fen: int | None
    parts: list

    @property
    def pk(self) -> int:
        return self.id


_RECORD_EXPENSES_SQL = (
    "SELECT e.id, e.service_date, i.name, e.care_type, e.status, e.total_fen, e.fund_fen, "
    "e.account_fen, e.cash_fen, e.balance_current_after_fen, e.balance_prior_after_fen "
    "FROM claims_expense e JOIN claims_institution i ON i.id = e.institution_id "
    "WHERE e.patient_id = %s"
)
_RECORD_PARTS_SQL = (
    "SELECT p.expense_id, p.payer, p.amount_fen, g.name, p.reason_code, p.reason_params "
    "FROM claims_expensepart p LEFT JOIN members_insuredperson g ON g.id = p.grantor_id "
    "WHERE p.expense_id IN ({}) ORDER BY p.expense_id, p.position, p.id"
)


def record_expenses(
    person: InsuredPerson,
    *,
    year: int | None = None,
    after: tuple[dt.date, int] | None = None,
    limit: int = 50,
) -> list[RecordExpense]:
    """``expenses_for`` as plain rows (same filter, order and keyset) with
    each expense's parts, for the payment record page: two queries whatever
    the count, no model instances."""
    sql, params = [_RECORD_EXPENSES_SQL], [person.pk]
    if year is not None:
        sql.append("AND e.service_date >= %s AND e.service_date <= %s")
        params += [dt.date(year, 1, 1), dt.date(year, 12, 31)]
    if after:
        day, pk = after
        sql.append("AND (e.service_date < %s OR (e.service_date = %s AND e.id < %s))")
        params += [day, day, pk]
    sql.append("ORDER BY e.service_date DESC, e.id DESC LIMIT %s")
    params.append(limit)
    with reading(Expense).cursor() as cursor:  # the replica on member pages
        cursor.execute(" ".join(sql), params)
        expenses = [RecordExpense(*row, parts=[]) for row in cursor.fetchall()]
        if not expenses:
            return expenses
        by_id = {e.id: e for e in expenses}
        # IN (...) rather than = ANY(%s): the embedded default is SQLite.
        cursor.execute(_RECORD_PARTS_SQL.format(", ".join(["%s"] * len(by_id))), list(by_id))
        for expense_id, payer, amount, grantor, code, params_ in cursor.fetchall():
            if isinstance(params_, str | bytes):
                params_ = json.loads(params_)
            by_id[expense_id].parts.append(RecordPart(payer, amount, grantor, code, params_ or {}))
    return expenses


def keyset(expense: Expense) -> str:
    return f"{expense.service_date.isoformat()}_{expense.pk}"


def parse_keyset(value: str) -> tuple[dt.date, int] | None:
    try:
        day, pk = value.split("_", 1)
        return dt.date.fromisoformat(day), int(pk)
    except (ValueError, TypeError):
        return None


def expense_for_institution(institution: Institution, expense_id) -> Expense | None:
    try:
        pk = int(expense_id)
    except (TypeError, ValueError):
        return None
    return (
        _with_parts(Expense.objects.filter(institution=institution, pk=pk))
        .select_related("patient")
        .first()
    )


def _accepted(person: InsuredPerson, year: int) -> QuerySet[Expense]:
    return Expense.objects.filter(
        patient=person, service_date__year=year, status=ExpenseStatus.ACCEPTED
    )


def yearly_totals(person: InsuredPerson, year: int) -> dict:
    """One year's medical expenses split fund / account / cash, and the
    self-borne part of covered expenses (for the serious-illness deduction).
    Reversed (refunded) expenses do not count."""
    row = _accepted(person, year).aggregate(
        count=Count("id"),
        total_fen=Sum("total_fen"),
        fund_fen=Sum("fund_fen"),
        account_fen=Sum("account_fen"),
        cash_fen=Sum("cash_fen"),
        self_borne_fen=Sum("self_borne_fen"),
        self_funded_fen=Sum("self_funded_fen"),
    )
    return {k: (v or 0) for k, v in row.items()}


def monthly_totals(person: InsuredPerson, year: int) -> list[dict]:
    """Twelve rows (month 1..12) with total, fund, account and cash, for charts."""
    rows = {
        r["month"]: r
        for r in _accepted(person, year)
        .annotate(month=ExtractMonth("service_date"))
        .values("month")
        .annotate(
            total_fen=Sum("total_fen"),
            fund_fen=Sum("fund_fen"),
            account_fen=Sum("account_fen"),
            cash_fen=Sum("cash_fen"),
        )
    }
    empty = {"total_fen": 0, "fund_fen": 0, "account_fen": 0, "cash_fen": 0}
    return [{**empty, **rows.get(m, {}), "month": m} for m in range(1, 13)]


def totals_by_care_type(person: InsuredPerson, year: int) -> list[dict]:
    return list(
        _accepted(person, year)
        .values("care_type")
        .annotate(count=Count("id"), total_fen=Sum("total_fen"), fund_fen=Sum("fund_fen"))
        .order_by("care_type")
    )


# --- Staff: settlement --------------------------------------------------------


def batch_list(*, before: int | None = None, limit: int = 50) -> list[SettlementBatch]:
    qs = SettlementBatch.objects.select_related("institution").order_by("-id")
    if before:
        qs = qs.filter(id__lt=before)
    return list(qs[:limit])


def _settled_expenses(batch: SettlementBatch, after: int | None) -> QuerySet[Expense]:
    """The expenses (not reversals) the batch settled, in id order, from the
    keyset ``after``: the institution's expenses between the batch's lowest
    and highest settled id (index claims_expense_institution) whose entry
    (the entries' primary key) names this batch. Nearly every expense of that
    range is the batch's own; the others (refunded before settlement, or
    settled by the institution's previous or next batch) are skipped.

    The entry is read by a scalar subquery, which PostgreSQL runs once per
    expense in index order and never turns into a join: a page stops after
    ``limit`` expenses even when the table's statistics are stale (as an
    EXISTS, a batch settled since the last ANALYZE was planned as a hash
    join over every entry: seconds instead of a millisecond)."""
    if batch.lowest_expense_id is None:
        return Expense.objects.none()
    lowest = max(batch.lowest_expense_id, (after or 0) + 1)
    settled_by = SettlementEntry.objects.filter(expense=OuterRef("pk"), reversal=False)
    return (
        Expense.objects.filter(
            institution_id=batch.institution_id,
            pk__gte=lowest,
            pk__lte=batch.highest_expense_id,
        )
        .alias(settled_by=Subquery(settled_by.values("batch_id")[:1]))
        .filter(settled_by=batch.pk)
        .order_by("pk")
    )


def _settled_reversals(batch: SettlementBatch, after: int | None) -> QuerySet[SettlementEntry]:
    """The reversals the batch settled, in expense order (claims_entry_batch_reversals)."""
    entries = SettlementEntry.objects.filter(batch=batch, reversal=True)
    if after:
        entries = entries.filter(expense_id__gt=after)
    return entries.order_by("expense_id")


def batch_expenses(
    batch: SettlementBatch, *, after: int | None = None, limit: int = 100
) -> list[Expense]:
    """The batch's expenses and reversals (keyset by expense id), each marked
    ``settled_here`` / ``reversal_settled_here`` (both when the batch settled
    an expense and then its reversal). At most three queries, whatever the page."""
    settled = {e.pk: e for e in _settled_expenses(batch, after).select_related("patient")[:limit]}
    reversed_here = set(
        _settled_reversals(batch, after).values_list("expense_id", flat=True)[:limit]
    )
    ids = sorted(settled.keys() | reversed_here)[:limit]
    missing = [pk for pk in ids if pk not in settled]
    others = Expense.objects.select_related("patient").in_bulk(missing) if missing else {}
    expenses = [settled.get(pk) or others[pk] for pk in ids]
    for e in expenses:
        e.settled_here = e.pk in settled
        e.reversal_settled_here = e.pk in reversed_here
    return expenses


_CSV_FIELDS = (
    "service_date",
    "care_type",
    "status",
    "total_fen",
    "fund_fen",
    "account_fen",
    "cash_fen",
)


def batch_expense_rows(batch: SettlementBatch):
    """Every entry of a batch, for the CSV export (streamed, not loaded), in
    expense order, an expense's own entry before its reversal's: tuples of
    (id, service date, care type, status, reversal, total, fund, account, cash)."""
    settled = (
        (pk, *rest[:3], False, *rest[3:])
        for pk, *rest in _settled_expenses(batch, None)
        .values_list("pk", *_CSV_FIELDS)
        .iterator(chunk_size=2000)
    )
    reversals = (
        (pk, *rest[:3], True, *rest[3:])
        for pk, *rest in _settled_reversals(batch, None)
        .values_list("expense_id", *(f"expense__{f}" for f in _CSV_FIELDS))
        .iterator(chunk_size=2000)
    )
    return heapq.merge(settled, reversals, key=lambda row: (row[0], row[4]))


def expense_is_settled(expense: Expense) -> bool:
    return SettlementEntry.objects.filter(expense=expense, reversal=False).exists()


def totals_per_institution() -> list[dict]:
    return list(
        SettlementBatch.objects.values("institution_id", "institution__name")
        .annotate(
            batches=Count("id"),
            expenses=Sum("expense_count"),
            reversals=Sum("reversal_count"),
            fund_fen=Sum("fund_fen"),
            reversed_fen=Sum("reversed_fen"),
        )
        .order_by("institution__name")
    )


def due_work_by_institution(*, cutoff) -> list[dict]:
    """What "Settle now" would settle: per institution (by name), the expenses
    and reversals queued before ``cutoff``. One grouped query over the queue."""
    rows = (
        SettlementWork.objects.filter(due_at__lt=cutoff)
        .values("institution_id")
        .annotate(
            expenses=Count("pk", filter=Q(kind=SettlementWork.Kind.EXPENSE)),
            reversals=Count("pk", filter=Q(kind=SettlementWork.Kind.REVERSAL)),
        )
    )
    names = dict(
        Institution.objects.filter(pk__in=[r["institution_id"] for r in rows]).values_list(
            "pk", "name"
        )
    )
    return sorted(
        ({**r, "name": names.get(r["institution_id"], "")} for r in rows),
        key=lambda r: r["name"],
    )


# --- what is left this year ---------------------------------------------------


def policy_region(person: InsuredPerson) -> str:
    """Policies are set per city: the person's district code with its last two
    digits zeroed (110105 -> 110100)."""
    return person.insured_region[:4] + "00"


@dataclass(frozen=True)
class BenefitRoom:
    """One benefit pool's year for a person: the deductible met so far and the
    room left under the annual ceiling (the fund's part, not the member's)."""

    pool: str
    label: str
    deductible_fen: int
    deductible_used_fen: int
    ceiling_fen: int
    fund_paid_fen: int

    @property
    def deductible_left_fen(self) -> int:
        return max(self.deductible_fen - self.deductible_used_fen, 0)

    @property
    def deductible_met(self) -> bool:
        return self.deductible_used_fen >= self.deductible_fen

    @property
    def ceiling_left_fen(self) -> int:
        return max(self.ceiling_fen - self.fund_paid_fen, 0)


# The policy of each pool's main care type (a pool's care types share one
# deductible and one ceiling) joined to the person's accumulator of the year.
_ROOM_SQL = """
SELECT bp.pool, bp.deductible_fen, bp.ceiling_fen,
       COALESCE(fa.deductible_used_fen, 0), COALESCE(fa.fund_paid_fen, 0)
FROM claims_benefitpolicy bp
LEFT JOIN claims_fundaccumulator fa
       ON fa.person_id = %s AND fa.year = bp.year AND fa.pool = bp.pool
WHERE bp.region = %s AND bp.scheme = %s AND bp.year = %s
  AND bp.care_type IN ('outpatient', 'inpatient')
ORDER BY bp.pool DESC
"""


def benefit_room(person: InsuredPerson, year: int) -> list[BenefitRoom]:
    """Per benefit pool (outpatient, inpatient): the year's deductible and
    ceiling from the policy and what the person's expenses used of them, in one
    query. Empty when no policy covers the person's region and year."""
    with reading(Expense).cursor() as cursor:
        cursor.execute(_ROOM_SQL, [person.pk, policy_region(person), person.insurance_type, year])
        rows = cursor.fetchall()
    return [
        BenefitRoom(
            pool=pool,
            label=str(BenefitPool(pool).label),
            deductible_fen=deductible,
            deductible_used_fen=min(used, deductible),
            ceiling_fen=ceiling,
            fund_paid_fen=paid,
        )
        for pool, deductible, ceiling, used, paid in rows
    ]
