"""Reads for the member pages: who the member may see, claim for and pay for.

Family links are read here; member-owned figures (balance, records) are read
only after ``portal.access.person_for_viewer`` returned the person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from family.models import FamilyLink, LinkStatus, Relationship
from members.models import InsuredPerson

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

    def get_relationship_display(self) -> str:
        return str(Relationship(self.relationship).label)


_GRANTED_SQL = (
    "SELECT l.member_id, m.name, l.relationship, l.scope_balance, l.scope_records, l.scope_pay "
    "FROM family_familylink l JOIN members_insuredperson m ON m.id = l.member_id "
    "WHERE l.relative_id = %s AND l.status = %s ORDER BY m.name, l.id"
)


def granted_members(person: InsuredPerson) -> list[GrantCard]:
    """Approved links whose relative is ``person`` (the signed-in member): one
    card each. Read on every dashboard request, so one plain query."""
    with connection.cursor() as cursor:
        cursor.execute(_GRANTED_SQL, [person.pk, LinkStatus.APPROVED.value])
        return [GrantCard(*row) for row in cursor.fetchall()]


def is_minor_in(person: InsuredPerson, year: int) -> bool:
    """A child counts as minor for a tax year when under 18 on its last day."""
    return person.age_on(dt.date(year, 12, 31)) < ADULT_AGE


def claimable_people(person: InsuredPerson, year: int) -> list[Claimable]:
    """Self, spouse and minor children, from approved family links in either
    direction (``relationship`` is what the relative is to the member), in one
    query. A person reached twice (a link each way) is listed once."""
    links = (
        FamilyLink.objects.filter(status=LinkStatus.APPROVED)
        .filter(Q(member=person) | Q(relative=person))
        .select_related("member", "relative")
        .order_by("id")
    )
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
            }[link.relationship]
        if relation == "spouse" or (relation == "child" and is_minor_in(other, year)):
            found.setdefault(other.pk, Claimable(other, str(relation)))
    return list(found.values())


def ecert_people(person: InsuredPerson) -> list[InsuredPerson]:
    """The member and each relative they may pay for (approved links with the
    ``pay`` scope that the member granted), in one query."""
    relatives = [
        link.relative
        for link in FamilyLink.objects.filter(
            member=person, status=LinkStatus.APPROVED, scope_pay=True
        )
        .select_related("relative")
        .order_by("relative__name", "id")
    ]
    return [person, *relatives]


def may_show_ecert(person: InsuredPerson, subject_id: int) -> InsuredPerson | None:
    for p in ecert_people(person):
        if p.pk == subject_id:
            return p
    return None
