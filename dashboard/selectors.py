"""Reads for the member pages: who the member may see and claim for, and the
figures the pages show (ledger, contributions, expenses), shaped for them:
lists of rows, ``{month: fen}`` for charts.

Which links count, and who may see whom, is decided by the ``access`` app;
member-owned figures are read only for a person it returned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from access import lookups as access
from access.rules import pay_eligible
from accounts.selectors import AccountSummary, Balances, account_summary, pocket_balances
from claims import selectors as claims_selectors
from claims.models import CareType
from family.models import Relationship
from members.models import InsuredPerson
from payments import selectors as payments_selectors

ADULT_AGE = 18


@dataclass(frozen=True)
class Claimable:
    person: InsuredPerson
    relation: str  # "self", "spouse" or "child"

    @property
    def relation_label(self):
        return {"self": _("Self"), "spouse": _("Spouse"), "child": _("Minor child")}[self.relation]


@dataclass(frozen=True)
class GrantCard:
    """A member who granted the signed-in relative access: one dashboard card."""

    member_id: int
    member_name: str
    relationship: str
    scope_balance: bool
    scope_records: bool
    scope_pay: bool
    scope_errands: bool

    def get_relationship_display(self) -> str:
        return str(Relationship(self.relationship).label)


def granted_members(person: InsuredPerson) -> list[GrantCard]:
    """Links in effect whose relative is ``person`` (the signed-in member): one
    card each, in one query. ``scope_pay`` is what they may do now
    (``access.rules.pay_eligible``), not only what was granted."""
    return [
        GrantCard(
            member_id=link.member_id,
            member_name=link.member.name,
            relationship=link.relationship,
            scope_balance=link.scope_balance,
            scope_records=link.scope_records,
            scope_pay=pay_eligible(link),
            scope_errands=link.scope_errands,
        )
        for link in access.grants_received(person)
    ]


def is_minor_in(person: InsuredPerson, year: int) -> bool:
    """A child counts as minor for a tax year when under 18 on its last day."""
    return person.age_on(dt.date(year, 12, 31)) < ADULT_AGE


def claimable_people(person: InsuredPerson, year: int) -> list[Claimable]:
    """Self, spouse and minor children, from approved family links in either
    direction (``relationship`` is what the relative is to the member), in one
    query. A person reached twice (a link each way) is listed once."""
    links = access.links_in_effect_of(person)
    found: dict[int, Claimable] = {person.pk: Claimable(person, "self")}
    for link in links:
        if link.member_id == person.pk:
            other, relation = link.relative, link.relationship
        else:
            other = link.member
            relation = {
                Relationship.SPOUSE: "spouse",
                Relationship.PARENT: "child",  # I am their parent: they are my child
                Relationship.CHILD: "parent",
            }.get(link.relationship, "other")  # siblings, grandparents: not for the deduction
        if relation == "spouse" or (relation == "child" and is_minor_in(other, year)):
            found.setdefault(other.pk, Claimable(other, str(relation)))
    return list(found.values())


# --- figures for the pages (the person came from the access layer) -----------


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
