from __future__ import annotations

from dataclasses import dataclass

from members.models import InsuredPerson

from .models import AccountKind, LedgerAccount


@dataclass(frozen=True)
class Balances:
    current_fen: int
    prior_fen: int

    @property
    def total_fen(self) -> int:
        return self.current_fen + self.prior_fen


def pocket_balances(person: InsuredPerson) -> Balances:
    """The person's two pockets in one query (zero before the first credit)."""
    rows = dict(
        LedgerAccount.objects.filter(
            person=person, kind__in=(AccountKind.MEMBER_CURRENT, AccountKind.MEMBER_PRIOR)
        ).values_list("kind", "balance_fen")
    )
    return Balances(
        current_fen=rows.get(AccountKind.MEMBER_CURRENT, 0),
        prior_fen=rows.get(AccountKind.MEMBER_PRIOR, 0),
    )
