from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from members.models import InsuredPerson
from portal.replica import reading

from .models import AccountKind, LedgerAccount


@dataclass(frozen=True)
class Balances:
    current_fen: int
    prior_fen: int

    @property
    def total_fen(self) -> int:
        return self.current_fen + self.prior_fen


_POCKETS_SQL = (
    "SELECT kind, balance_fen FROM accounts_ledgeraccount "
    "WHERE person_id = %s AND kind IN ('member_current', 'member_prior')"
)


def _person_id(person: InsuredPerson | int) -> int:
    return person if isinstance(person, int) else person.pk


def pocket_balances(person: InsuredPerson | int) -> Balances:
    """The person's two pockets in one query (zero before the first credit).

    Read on every dashboard and balance request: plain SQL on the
    (person, kind) index, skipping the ORM's query compilation."""
    with reading(LedgerAccount).cursor() as cursor:  # the replica on member pages
        cursor.execute(_POCKETS_SQL, [_person_id(person)])  # the kinds are AccountKind values
        rows = dict(cursor.fetchall())
    return Balances(
        current_fen=rows.get(AccountKind.MEMBER_CURRENT, 0),
        prior_fen=rows.get(AccountKind.MEMBER_PRIOR, 0),
    )


@dataclass(frozen=True)
class LedgerOffenders:
    # (account id, code, cached balance, sum of postings)
    accounts: list[tuple[int, str, int, int]]
    # (transaction id, idempotency key, sum of postings, number of postings)
    transactions: list[tuple[int, str, int, int]]

    @property
    def clean(self) -> bool:
        return not self.accounts and not self.transactions


def ledger_offenders() -> LedgerOffenders:
    """Every account whose cached balance differs from the sum of its postings,
    and every transaction that does not balance (sum not zero, or fewer than two
    postings). Two set-based queries, whatever the size of the ledger."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.code, a.balance_fen, COALESCE(s.total, 0)
              FROM accounts_ledgeraccount a
              LEFT JOIN (SELECT account_id, SUM(amount_fen) AS total
                           FROM accounts_posting GROUP BY account_id) s
                ON s.account_id = a.id
             WHERE a.balance_fen <> COALESCE(s.total, 0)
             ORDER BY a.id
            """
        )
        accounts = [tuple(int(v) if i != 1 else v for i, v in enumerate(r)) for r in cursor]
        cursor.execute(
            """
            SELECT t.id, t.idempotency_key, COALESCE(s.total, 0), COALESCE(s.n, 0)
              FROM accounts_journaltransaction t
              LEFT JOIN (SELECT transaction_id, SUM(amount_fen) AS total, COUNT(*) AS n
                           FROM accounts_posting GROUP BY transaction_id) s
                ON s.transaction_id = t.id
             WHERE COALESCE(s.total, 0) <> 0 OR COALESCE(s.n, 0) < 2
             ORDER BY t.id
            """
        )
        transactions = [tuple(int(v) if i != 1 else v for i, v in enumerate(r)) for r in cursor]
    return LedgerOffenders(accounts=accounts, transactions=transactions)
