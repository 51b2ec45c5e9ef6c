"""Reads from the apps the member pages show (ledger, contributions, expenses),
shaped for the pages: lists of rows, ``{month: fen}`` for charts.

The caller must have obtained ``person`` through ``portal.access.person_for_viewer``.
"""

from __future__ import annotations

from accounts.selectors import AccountSummary, Balances, account_summary, pocket_balances
from claims import selectors as claims_selectors
from claims.models import CareType
from members.models import InsuredPerson
from payments import selectors as payments_selectors


def balances(person: InsuredPerson) -> Balances:
    return pocket_balances(person)


def account(person: InsuredPerson) -> AccountSummary:
    """Both pockets and the latest year-end rollover, in one query."""
    return account_summary(person)


def contributions(
    person: InsuredPerson, *, year=None, status=None, after=None, limit: int = 50
) -> list:
    return list(
        payments_selectors.contributions_for(
            person, year=year, status=status, after=after, limit=limit
        )
    )


def expenses(person: InsuredPerson, *, year=None, after=None, limit: int = 50) -> list:
    return list(claims_selectors.expenses_for(person, year=year, after=after, limit=limit))


def latest_contributions(person: InsuredPerson, *, limit: int = 5) -> list:
    return payments_selectors.latest_contributions(person, limit=limit)


def latest_expenses(person: InsuredPerson, *, limit: int = 5) -> list:
    return claims_selectors.latest_expenses(person, limit=limit)


def contribution_year(person: InsuredPerson, year: int) -> tuple[dict[int, int], dict[str, int]]:
    """For the year's paid records, from one query: ``{month: fen paid
    (employer + own share)}`` and the year's totals ``{"own_fen",
    "employer_fen", "credited_fen", "months"}``."""
    rows = payments_selectors.monthly_totals(person, year=year)
    by_month = {
        row["month"].month: (row["employer_fen"] or 0) + (row["individual_fen"] or 0)
        for row in rows
    }
    totals = {
        "own_fen": sum(row["individual_fen"] or 0 for row in rows),
        "employer_fen": sum(row["employer_fen"] or 0 for row in rows),
        "credited_fen": sum(row["credited_fen"] or 0 for row in rows),
        "months": sum(row["records"] for row in rows),
    }
    return by_month, totals


def expense_monthly_totals(person: InsuredPerson, year: int) -> dict[int, int]:
    """{month: total fen spent} for the year."""
    return {
        row["month"]: row["total_fen"] or 0 for row in claims_selectors.monthly_totals(person, year)
    }


def expense_by_care_type(person: InsuredPerson, year: int) -> list[tuple[str, int]]:
    """[(care type label, total fen)] for the year."""
    return [
        (str(CareType(row["care_type"]).label), row["total_fen"] or 0)
        for row in claims_selectors.totals_by_care_type(person, year)
    ]


def yearly_totals(person: InsuredPerson, year: int) -> dict[str, int]:
    totals = claims_selectors.yearly_totals(person, year)
    return {k: totals[k] or 0 for k in ("fund_fen", "account_fen", "cash_fen", "self_borne_fen")}
