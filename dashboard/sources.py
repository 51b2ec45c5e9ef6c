"""Reads from the apps the member pages show (ledger, contributions, expenses).

The pages call these functions only; each one asks the owning app's selector
(the contracts named in issue 6) and answers ``None`` when that app offers no
such selector, so a section is hidden rather than broken. The caller must have
obtained ``person`` through ``portal.access.person_for_viewer``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from members.models import InsuredPerson


def _selector(module: str, *names: str) -> Callable | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for name in names:
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn
    return None


def balances(person: InsuredPerson):
    from accounts.selectors import pocket_balances

    return pocket_balances(person)


def contributions(
    person: InsuredPerson, *, year=None, status=None, after=None, limit: int = 50
) -> list | None:
    fn = _selector("payments.selectors", "contributions_for")
    if fn is None:
        return None
    return list(fn(person, year=year, status=status, after=after, limit=limit))


def expenses(person: InsuredPerson, *, year=None, after=None, limit: int = 50) -> list | None:
    fn = _selector("claims.selectors", "expenses_for")
    if fn is None:
        return None
    return list(fn(person, year=year, after=after, limit=limit))


def _monthly(module: str, names: tuple[str, ...], person, year: int) -> dict[int, int] | None:
    fn = _selector(module, *names)
    if fn is None:
        return None
    return _as_month_map(fn(person, year=year))


def contribution_monthly_totals(person: InsuredPerson, year: int) -> dict[int, int] | None:
    """{month: fen paid (individual + employer)} for the year."""
    return _monthly(
        "payments.selectors",
        ("monthly_totals", "contribution_monthly_totals", "monthly_totals_for"),
        person,
        year,
    )


def expense_monthly_totals(person: InsuredPerson, year: int) -> dict[int, int] | None:
    """{month: total fen spent} for the year."""
    return _monthly(
        "claims.selectors",
        ("monthly_totals", "expense_monthly_totals", "monthly_totals_for"),
        person,
        year,
    )


def expense_by_care_type(person: InsuredPerson, year: int) -> list[tuple[str, int]] | None:
    """[(care type label, total fen)] for the year."""
    fn = _selector("claims.selectors", "totals_by_care_type", "by_care_type")
    if fn is None:
        return None
    rows = fn(person, year=year)
    if isinstance(rows, dict):
        rows = rows.items()
    out = []
    for row in rows:
        if isinstance(row, dict):  # claims.selectors: {"care_type", "total_fen", ...}
            out.append((str(_care_type_label(row["care_type"])), int(row["total_fen"] or 0)))
        else:
            out.append((str(_label(row[0])), int(_amount(row[1]))))
    return out


def _care_type_label(value: str):
    try:
        from claims.models import CareType
    except ImportError:
        return value
    try:
        return CareType(value).label
    except ValueError:
        return value


def yearly_totals(person: InsuredPerson, year: int) -> dict[str, int] | None:
    fn = _selector("claims.selectors", "yearly_totals")
    if fn is None:
        return None
    totals = fn(person, year=year)
    keys = ("fund_fen", "account_fen", "cash_fen", "self_borne_fen")
    if isinstance(totals, dict):
        return {k: int(totals.get(k) or 0) for k in keys}
    return {k: int(getattr(totals, k, 0) or 0) for k in keys}


def _label(key: Any) -> Any:
    return getattr(key, "label", key)


def _amount(value: Any) -> int:
    if isinstance(value, dict):
        for k in ("total_fen", "amount_fen", "fen"):
            if k in value:
                return value[k] or 0
        # payments.selectors.monthly_totals: employer + individual paid
        return (value.get("employer_fen") or 0) + (value.get("individual_fen") or 0)
    return value or 0


def _as_month_map(rows: Any) -> dict[int, int]:
    """Accept {month: fen}, [(month, fen)] or rows with .month/.period and *_fen."""
    if isinstance(rows, dict):
        rows = rows.items()
    out: dict[int, int] = {}
    for row in rows:
        if isinstance(row, tuple | list):
            month, fen = row[0], row[1]
        elif isinstance(row, dict):
            month = row.get("month") or row.get("period")
            fen = _amount(row)
        else:
            month = getattr(row, "month", None) or getattr(row, "period", None)
            fen = getattr(row, "total_fen", 0)
        month = getattr(month, "month", month)
        out[int(month)] = out.get(int(month), 0) + int(_amount(fen))
    return out
