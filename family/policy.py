"""Family mutual assistance as policy data (docs/adr/0017): which relationships
qualify in a region on a day, whether sharing may cross the province, and
which terms a link may run for. Never a literal in code: staff edit
``RelationshipPolicy`` rows in the admin."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from .models import NATIONAL_REGION, RULES_2024, LinkTerm, Relationship, RelationshipPolicy


@dataclass(frozen=True)
class FamilyPolicy:
    region: str
    effective_from: dt.date | None
    relationships: tuple[str, ...]
    cross_province: bool
    allow_until_ended: bool

    def allows(self, relationship: str) -> bool:
        return relationship in self.relationships

    def relationship_choices(self) -> list[tuple[str, str]]:
        """The allowed ones, in the order of ``Relationship``."""
        return [(v, label) for v, label in Relationship.choices if v in self.relationships]

    def term_choices(self) -> list[tuple[str, str]]:
        return [
            (v, label)
            for v, label in LinkTerm.choices
            if v != LinkTerm.UNTIL_ENDED or self.allow_until_ended
        ]

    def allows_term(self, term: str) -> bool:
        return term in dict(self.term_choices())


# No row in force anywhere (an emptied table): the 2024 national rules, the
# seeded default, within the province (docs/adr/0017).
DEFAULT_POLICY = FamilyPolicy(NATIONAL_REGION, None, tuple(str(r) for r in RULES_2024), False, True)


def region_candidates(region: str) -> list[str]:
    """The region, its city, its province, then the national rule."""
    return list(dict.fromkeys([region, region[:4] + "00", region[:2] + "0000", NATIONAL_REGION]))


def relationship_policy_for(*, region: str, today: dt.date | None = None) -> FamilyPolicy:
    """The policy in force in ``region`` on ``today``: the most specific region
    with a row in force, and of its rows the latest."""
    today = today or timezone.localdate()
    candidates = region_candidates(region)
    rows = RelationshipPolicy.objects.filter(
        region__in=candidates, effective_from__lte=today
    ).order_by("-effective_from")
    best: dict[str, RelationshipPolicy] = {}
    for row in rows:
        best.setdefault(row.region, row)
    for code in candidates:
        row = best.get(code)
        if row is not None:
            return FamilyPolicy(
                region=row.region,
                effective_from=row.effective_from,
                relationships=tuple(row.relationships or ()),
                cross_province=row.cross_province,
                allow_until_ended=row.allow_until_ended,
            )
    return DEFAULT_POLICY


def sharing_may_cross_province(member, *, today: dt.date | None = None) -> bool:
    """Whether ``member``'s region lets the prior-years surplus pay for a
    relative insured in another province."""
    return relationship_policy_for(region=member.insured_region, today=today).cross_province


def may_share_with(member, relative, *, today: dt.date | None = None) -> bool:
    """Same province, or the member's region allows more."""
    return member.province_code == relative.province_code or sharing_may_cross_province(
        member, today=today
    )
