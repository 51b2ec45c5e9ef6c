"""Reads: policy parameters, the calculator, a member's contributions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from members.models import InsuranceType, InsuredPerson
from members.regions import region_name
from portal.errors import ApplicationError
from portal.money import apply_rate
from portal.replica import reading

from .models import Contribution, ContributionStatus, PolicyYear


def region_candidates(region: str) -> list[str]:
    """The region itself, then its city (``1101xx`` -> ``110100``), then its
    province (``11xxxx`` -> ``110000``): the most specific stored row wins."""
    candidates = [region, region[:4] + "00", region[:2] + "0000"]
    return list(dict.fromkeys(candidates))


def policy_for(*, region: str, year: int) -> PolicyYear | None:
    rows = {
        p.region: p
        for p in PolicyYear.objects.filter(region__in=region_candidates(region), year=year)
    }
    for code in region_candidates(region):
        if code in rows:
            return rows[code]
    return None


class PolicyCache:
    """``policy_for`` memoised per (region, year), for bulk work (one query per
    distinct region and year, not per row)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], PolicyYear | None] = {}
        self._limits: dict[int, tuple[int, int]] = {}

    def clamp(self, policy: PolicyYear, base_fen: int) -> int:
        if policy.pk not in self._limits:
            self._limits[policy.pk] = base_limits(policy)
        floor, cap = self._limits[policy.pk]
        return min(max(base_fen, floor), cap)

    def get(self, region: str, year: int) -> PolicyYear | None:
        key = (region, year)
        if key not in self._cache:
            self._cache[key] = policy_for(region=region, year=year)
        return self._cache[key]


@dataclass(frozen=True)
class Quote:
    """What the calculator answers, all in fen."""

    region: str
    year: int
    declared_base_fen: int
    base_fen: int
    floor_fen: int
    cap_fen: int
    employer_fen: int
    individual_fen: int
    credit_fen: int  # in-service employee: credited to the personal account each month
    retiree_credit_fen: int  # retiree: fixed monthly credit
    employer_rate: object
    individual_rate: object

    @property
    def clamped(self) -> bool:
        return self.base_fen != self.declared_base_fen

    @property
    def total_fen(self) -> int:
        return self.employer_fen + self.individual_fen


def base_limits(policy: PolicyYear) -> tuple[int, int]:
    return (
        apply_rate(policy.average_wage_fen, policy.base_floor_ratio),
        apply_rate(policy.average_wage_fen, policy.base_cap_ratio),
    )


def clamp_base(policy: PolicyYear, base_fen: int) -> int:
    floor, cap = base_limits(policy)
    return min(max(base_fen, floor), cap)


def credit_for(
    policy: PolicyYear, *, insurance_type: str, individual_fen: int, status: str = "paid"
) -> int:
    """What one month's record credits to the personal account (docs/adr/0002)."""
    if status != "paid":
        return 0
    if insurance_type == InsuranceType.EMPLOYEE:
        return apply_rate(individual_fen, policy.credit_rate)
    if insurance_type == InsuranceType.RETIRED:
        return policy.retiree_monthly_credit_fen
    return 0  # the resident scheme has no personal account


def calculate(*, base_fen: int, region: str, year: int) -> Quote:
    """The calculator: a monthly base -> both amounts and the account credit."""
    fields: dict[str, list[str]] = {}
    if base_fen < 0:
        fields["base"] = [_("The base cannot be negative.")]
    if not (len(region) == 6 and region.isascii() and region.isdigit()):
        fields["region"] = [_("A region code is 6 digits, e.g. 110100.")]
    if fields:
        raise ApplicationError(_("Please correct the marked fields."), fields=fields)
    policy = policy_for(region=region, year=year)
    if policy is None:
        raise ApplicationError(
            _("There are no policy parameters for %(place)s (%(region)s) in %(year)s.")
            % {"place": region_name(region), "region": region, "year": year},
            code="no_policy",
            fields={"year": [_("No policy parameters for this region and year.")]},
            status_code=404,
        )
    floor, cap = base_limits(policy)
    base = min(max(base_fen, floor), cap)
    individual = apply_rate(base, policy.individual_rate)
    return Quote(
        region=policy.region,
        year=year,
        declared_base_fen=base_fen,
        base_fen=base,
        floor_fen=floor,
        cap_fen=cap,
        employer_fen=apply_rate(base, policy.employer_rate),
        individual_fen=individual,
        credit_fen=apply_rate(individual, policy.credit_rate),
        retiree_credit_fen=policy.retiree_monthly_credit_fen,
        employer_rate=policy.employer_rate,
        individual_rate=policy.individual_rate,
    )


# --- A member's contributions (the dashboard uses these) ---------------------


def contributions_for(
    person: InsuredPerson,
    *,
    year: int | None = None,
    status: str | None = None,
    after: tuple[dt.date, int] | None = None,
    limit: int = 50,
) -> list[Contribution]:
    """Newest first, keyset-paginated by (period, id): pass the last row's
    ``(period, id)`` as ``after`` for the next page. One query.

    The caller has already checked the viewer may see ``person``
    (``access.lookups.person_access``)."""
    qs = Contribution.objects.filter(person=person)
    if year is not None:
        qs = qs.filter(period__year=year)
    if status is not None:
        qs = qs.filter(status=status)
    if after is not None:
        period, pk = after
        qs = qs.filter(Q(period__lt=period) | Q(period=period, id__lt=pk))
    return list(qs.order_by("-period", "-id")[:limit])


@dataclass(frozen=True)
class RecentContribution:
    """A row of the dashboard's "latest contributions" (what the table shows)."""

    id: int
    period: dt.date
    employer_fen: int
    individual_fen: int
    credited_fen: int
    status: str

    def get_status_display(self) -> str:
        return str(ContributionStatus(self.status).label)


_LATEST_CONTRIBUTIONS_SQL = (
    "SELECT id, period, employer_fen, individual_fen, credited_fen, status "
    "FROM payments_contribution WHERE person_id = %s ORDER BY period DESC, id DESC LIMIT %s"
)


def latest_contributions(person: InsuredPerson, *, limit: int = 5) -> list[RecentContribution]:
    """The newest ``limit`` contributions, as ``contributions_for`` orders them.

    Read on every dashboard request: plain SQL on the (person, period, id)
    index, no model instances (a fifth of the ORM's cost for five rows)."""
    with reading(Contribution).cursor() as cursor:  # the replica on member pages
        cursor.execute(_LATEST_CONTRIBUTIONS_SQL, [person.pk, limit])
        return [RecentContribution(*row) for row in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A row of the payment record page (what its table shows)."""

    id: int
    period: dt.date
    base_fen: int
    employer_fen: int
    individual_fen: int
    credited_fen: int
    payer: str
    paid_on: dt.date | None
    status: str

    @property
    def pk(self) -> int:
        return self.id


def record_rows(
    person: InsuredPerson,
    *,
    year: int | None = None,
    status: str | None = None,
    after: tuple[dt.date, int] | None = None,
    limit: int = 50,
) -> list[RecordRow]:
    """``contributions_for`` as plain rows (same filter, order and keyset),
    for the payment record page: one query on the (person, period, id) index,
    no model instances."""
    sql = [
        "SELECT id, period, base_fen, employer_fen, individual_fen, credited_fen, payer, "
        "paid_on, status FROM payments_contribution WHERE person_id = %s"
    ]
    params: list = [person.pk]
    if year is not None:
        sql.append("AND period >= %s AND period <= %s")
        params += [dt.date(year, 1, 1), dt.date(year, 12, 31)]
    if status is not None:
        sql.append("AND status = %s")
        params.append(status)
    if after is not None:
        period, pk = after
        sql.append("AND (period < %s OR (period = %s AND id < %s))")
        params += [period, period, pk]
    sql.append("ORDER BY period DESC, id DESC LIMIT %s")
    params.append(limit)
    with reading(Contribution).cursor() as cursor:  # the replica on member pages
        cursor.execute(" ".join(sql), params)
        return [RecordRow(*row) for row in cursor.fetchall()]


def monthly_totals(person: InsuredPerson, *, year: int) -> list[dict]:
    """Per month of ``year`` (paid records): employer, individual and credited
    sums in fen, oldest first. One query; months without records are absent."""
    return list(
        Contribution.objects.filter(person=person, period__year=year, status="paid")
        .annotate(month=TruncMonth("period"))
        .values("month")
        .annotate(
            employer_fen=Sum("employer_fen"),
            individual_fen=Sum("individual_fen"),
            credited_fen=Sum("credited_fen"),
            records=Count("id"),
        )
        .order_by("month")
    )


def yearly_totals(person: InsuredPerson) -> list[dict]:
    """Per year (paid records): sums in fen, newest first. One query."""
    return list(
        Contribution.objects.filter(person=person, status="paid")
        .values("period__year")
        .annotate(
            employer_fen=Sum("employer_fen"),
            individual_fen=Sum("individual_fen"),
            credited_fen=Sum("credited_fen"),
            months=Count("id"),
        )
        .order_by("-period__year")
    )


@dataclass(frozen=True)
class ContributionHistory:
    """What members look for first: how long they have paid, and whether
    their contributions are up to date."""

    months_paid: int
    first_paid: dt.date | None
    last_paid: dt.date | None
    months_in_arrears: int

    @property
    def years_and_months(self) -> tuple[int, int]:
        return divmod(self.months_paid, 12)


def contribution_history(person: InsuredPerson) -> ContributionHistory:
    """Cumulative paid months, the first and latest paid month and the months
    in arrears, in one aggregate query (plain SQL: read on every dashboard
    request, and compiling the ORM aggregate cost more than running it)."""
    with reading(Contribution).cursor() as cursor:  # the replica on member pages
        cursor.execute(_HISTORY_SQL, [person.pk])
        months_paid, first_paid, last_paid, months_in_arrears = cursor.fetchone()
    return ContributionHistory(
        months_paid=months_paid or 0,
        first_paid=_as_date(first_paid),
        last_paid=_as_date(last_paid),
        months_in_arrears=months_in_arrears or 0,
    )


# CASE rather than FILTER (...): the embedded default is SQLite.
_HISTORY_SQL = (
    "SELECT SUM(CASE WHEN status = 'paid' THEN 1 ELSE 0 END), "
    "MIN(CASE WHEN status = 'paid' THEN period END), "
    "MAX(CASE WHEN status = 'paid' THEN period END), "
    "SUM(CASE WHEN status = 'arrears' THEN 1 ELSE 0 END) "
    "FROM payments_contribution WHERE person_id = %s"
)


def _as_date(value) -> dt.date | None:
    """SQLite hands a MIN/MAX of dates back as text."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value
