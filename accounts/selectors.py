from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from members.models import InsuredPerson
from portal.prepared import prepared_cursor
from portal.replica import reading

from .models import AccountKind, BalanceDelta, LedgerAccount


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
    with prepared_cursor(reading(LedgerAccount)) as cursor:  # the replica on member pages
        cursor.execute(_POCKETS_SQL, [_person_id(person)])  # the kinds are AccountKind values
        rows = dict(cursor.fetchall())
    return Balances(
        current_fen=rows.get(AccountKind.MEMBER_CURRENT, 0),
        prior_fen=rows.get(AccountKind.MEMBER_PRIOR, 0),
    )


def account_balances_fen(accounts) -> dict[int, int]:
    """{account id: balance} of any ledger accounts (ids or instances), exact.

    A member pocket's balance is its row; a shared account's (pooled fund,
    receivable, institution payable) is its snapshot plus its pending deltas
    (ADR 0001). One statement, so one consistent view even while postings and
    a fold run; an unknown id is absent."""
    ids = [a if isinstance(a, int) else a.pk for a in accounts]
    pending = (
        BalanceDelta.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    rows = (
        LedgerAccount.objects.filter(pk__in=ids)
        .annotate(pending=Coalesce(Subquery(pending), Value(0)))
        .values_list("pk", F("balance_fen") + F("pending"))
    )
    return {aid: int(fen) for aid, fen in rows}


def account_balance_fen(account: LedgerAccount | int) -> int:
    """The balance of one ledger account (see ``account_balances_fen``)."""
    aid = account if isinstance(account, int) else account.pk
    return account_balances_fen([aid]).get(aid, 0)


@dataclass(frozen=True)
class LatestRollover:
    year: int
    amount_fen: int

    @property
    def as_of(self) -> dt.date:
        return dt.date(self.year, 12, 31)


@dataclass(frozen=True)
class AccountSummary:
    balances: Balances
    rollover: LatestRollover | None


_SUMMARY_SQL = (
    "SELECT kind, balance_fen, 0 FROM accounts_ledgeraccount "
    "WHERE person_id = %s AND kind IN ('member_current', 'member_prior') "
    "UNION ALL "
    "SELECT 'rollover', amount_fen, year FROM accounts_rollover "
    "WHERE person_id = %s AND year = (SELECT MAX(year) FROM accounts_rollover WHERE person_id = %s)"
)


def account_summary(person: InsuredPerson | int) -> AccountSummary:
    """The person's two pockets and their latest year-end rollover (the
    dashboard shows both), in one plain query like ``pocket_balances``."""
    pid = _person_id(person)
    with prepared_cursor(reading(LedgerAccount)) as cursor:  # the replica on member pages
        cursor.execute(_SUMMARY_SQL, [pid, pid, pid])
        rows = {kind: (fen, year) for kind, fen, year in cursor.fetchall()}
    rollover = rows.get("rollover")
    return AccountSummary(
        balances=Balances(
            current_fen=rows.get(AccountKind.MEMBER_CURRENT, (0, 0))[0],
            prior_fen=rows.get(AccountKind.MEMBER_PRIOR, (0, 0))[0],
        ),
        rollover=LatestRollover(year=int(rollover[1]), amount_fen=int(rollover[0]))
        if rollover
        else None,
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
    """Every account whose cached balance (a shared account's: its snapshot
    plus its pending deltas) differs from the sum of its postings, every
    pending delta on a member pocket (only shared accounts have them), and
    every transaction that does not balance (sum not zero, or fewer than two
    postings). Set-based queries, whatever the size of the ledger; the
    balances and the postings are read in one statement, so a posting or a
    fold committing meanwhile cannot make a clean ledger look wrong."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.code, a.balance_fen + COALESCE(d.total, 0), COALESCE(s.total, 0)
              FROM accounts_ledgeraccount a
              LEFT JOIN (SELECT account_id, SUM(amount_fen) AS total
                           FROM accounts_posting GROUP BY account_id) s
                ON s.account_id = a.id
              LEFT JOIN (SELECT account_id, SUM(amount_fen) AS total, COUNT(*) AS n
                           FROM accounts_balancedelta GROUP BY account_id) d
                ON d.account_id = a.id
             WHERE a.balance_fen + COALESCE(d.total, 0) <> COALESCE(s.total, 0)
                OR (a.kind IN ('member_current', 'member_prior') AND COALESCE(d.n, 0) > 0)
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


# --- Business rules verify_ledger proves (ADR 0001, 0002) ---------------------


@dataclass(frozen=True)
class RuleOffender:
    rule: str  # "credit", "expense", "resident", "rollover", "reversal", "closed-year"
    what: str  # e.g. "transaction 12 contribution:5:credit"
    problem: str


def _year_end(column: str) -> str:
    """SQL for 31 December of the integer year in ``column``."""
    if connection.vendor == "postgresql":
        return f"make_date({column}, 12, 31)"
    return f"(CAST({column} AS TEXT) || '-12-31')"


def _contribution_id(key: str) -> str:
    """SQL for the contribution id in a ``contribution:<id>:credit`` key (NULL
    when the key has another shape)."""
    if connection.vendor == "postgresql":
        return (
            f"CASE WHEN {key} ~ '^contribution:[0-9]{{1,18}}:credit$' "
            f"THEN CAST(substr({key}, 14, length({key}) - 20) AS bigint) END"
        )
    return (
        f"CASE WHEN {key} GLOB 'contribution:[0-9]*:credit' "
        f"THEN CAST(substr({key}, 14, length({key}) - 20) AS INTEGER) END"
    )


def _credit_offenders(cursor) -> list[RuleOffender]:
    """Every ``contribution:<id>:credit`` transaction credits that contribution's
    person's current-year pocket with exactly its credited amount, and no other
    member pocket."""
    cid = _contribution_id("t.idempotency_key")
    cursor.execute(
        f"""
        SELECT t.id, t.idempotency_key, c.id, c.credited_fen,
               SUM(CASE WHEN a.kind IN ('member_current', 'member_prior') THEN 1 ELSE 0 END),
               SUM(CASE WHEN a.kind = 'member_current' AND a.person_id = c.person_id
                        THEN p.amount_fen ELSE 0 END)
          FROM accounts_journaltransaction t
          LEFT JOIN payments_contribution c ON c.id = {cid}
          JOIN accounts_posting p ON p.transaction_id = t.id
          JOIN accounts_ledgeraccount a ON a.id = p.account_id
         WHERE t.idempotency_key LIKE 'contribution:%:credit'
         GROUP BY t.id, t.idempotency_key, c.id, c.credited_fen
        HAVING c.id IS NULL
            OR SUM(CASE WHEN a.kind = 'member_current' AND a.person_id = c.person_id
                        THEN p.amount_fen ELSE 0 END) <> c.credited_fen
            OR SUM(CASE WHEN a.kind IN ('member_current', 'member_prior') THEN 1 ELSE 0 END)
               <> CASE WHEN c.credited_fen <> 0 THEN 1 ELSE 0 END
         ORDER BY t.id
        """  # noqa: S608 (constant SQL)
    )
    out = []
    for tid, key, contribution_id, credited, member_postings, here in cursor.fetchall():
        what = f"transaction {tid} {key}"
        if contribution_id is None:
            out.append(RuleOffender("credit", what, "no such contribution"))
        else:
            out.append(
                RuleOffender(
                    "credit",
                    what,
                    f"credits {here} fen to the person's current-year pocket in "
                    f"{member_postings} member posting(s); contribution {contribution_id} "
                    f"credited {credited} fen",
                )
            )
    return out


def _expense_offenders(cursor) -> list[RuleOffender]:
    """Every expense's ledger transaction moves exactly its account parts: each
    pocket part out of the patient's (or the granting relative's) pocket, the
    account total into the institution's payable; no transaction when the
    account paid nothing."""
    cursor.execute(
        """
        SELECT expense_id, account_id, SUM(amount) FROM (
          SELECT e.id AS expense_id, p.account_id AS account_id, p.amount_fen AS amount
            FROM claims_expense e JOIN accounts_posting p ON p.transaction_id = e.ledger_txn_id
          UNION ALL
          SELECT e.id, a.id, pt.amount_fen
            FROM claims_expense e
            JOIN claims_expensepart pt ON pt.expense_id = e.id
            JOIN accounts_ledgeraccount a
              ON (pt.payer = 'current' AND a.kind = 'member_current' AND a.person_id = e.patient_id)
              OR (pt.payer = 'prior' AND a.kind = 'member_prior' AND a.person_id = e.patient_id)
              OR (pt.payer = 'relative_prior' AND a.kind = 'member_prior'
                  AND a.person_id = pt.grantor_id)
          UNION ALL
          SELECT e.id, a.id, -e.account_fen
            FROM claims_expense e
            JOIN accounts_ledgeraccount a
              ON a.kind = 'institution_payable' AND a.institution_id = e.institution_id
           WHERE e.account_fen <> 0
          UNION ALL
          SELECT e.id, NULL, 1 FROM claims_expense e
           WHERE e.account_fen <> 0 AND e.ledger_txn_id IS NULL
        ) d
        GROUP BY expense_id, account_id
        HAVING SUM(amount) <> 0
        ORDER BY expense_id, account_id
        """
    )
    out = []
    for expense_id, account_id, diff in cursor.fetchall():
        if account_id is None:
            problem = "its account part has no ledger transaction"
        else:
            problem = f"account {account_id}: postings differ from its parts by {diff} fen"
        out.append(RuleOffender("expense", f"expense {expense_id}", problem))
    return out


def _resident_offenders(cursor) -> list[RuleOffender]:
    """Every resident contribution paid from a surplus (ADR 0018) moved exactly
    its amount from the payer's prior-years pocket to the resident-contributions
    account and nothing else, created the relative's record of that amount,
    and every such transaction has its payment."""
    cursor.execute(
        """
        SELECT pay_id, account_id, SUM(amount) FROM (
          SELECT r.id AS pay_id, p.account_id AS account_id, p.amount_fen AS amount
            FROM payments_residentcontributionpayment r
            JOIN accounts_posting p ON p.transaction_id = r.ledger_txn_id
          UNION ALL
          SELECT r.id, a.id, r.amount_fen
            FROM payments_residentcontributionpayment r
            JOIN accounts_ledgeraccount a ON a.kind = 'member_prior' AND a.person_id = r.member_id
          UNION ALL
          SELECT r.id, a.id, -r.amount_fen
            FROM payments_residentcontributionpayment r
            JOIN accounts_ledgeraccount a ON a.kind = 'resident_contributions'
        ) d
        GROUP BY pay_id, account_id
        HAVING SUM(amount) <> 0
        ORDER BY pay_id, account_id
        """
    )
    out = [
        RuleOffender(
            "resident",
            f"resident contribution payment {pay_id}",
            f"account {account_id}: postings differ from the payment by {diff} fen",
        )
        for pay_id, account_id, diff in cursor.fetchall()
    ]
    cursor.execute(
        """
        SELECT r.id FROM payments_residentcontributionpayment r
          JOIN payments_contribution c ON c.id = r.contribution_id
         WHERE c.person_id <> r.relative_id OR c.individual_fen <> r.amount_fen
            OR c.payer <> 'relative'
         ORDER BY r.id
        """
    )
    out += [
        RuleOffender(
            "resident",
            f"resident contribution payment {pay_id}",
            "its contribution record is not the relative's, of this amount, paid by a relative",
        )
        for (pay_id,) in cursor.fetchall()
    ]
    cursor.execute(
        """
        SELECT t.id, t.idempotency_key FROM accounts_journaltransaction t
          LEFT JOIN payments_residentcontributionpayment r ON r.ledger_txn_id = t.id
         WHERE t.kind = 'family.resident_contribution' AND r.id IS NULL
         ORDER BY t.id
        """
    )
    out += [
        RuleOffender("resident", f"transaction {tid} {key}", "no resident contribution payment")
        for tid, key in cursor.fetchall()
    ]
    return out


def _reversal_offenders(cursor) -> list[RuleOffender]:
    """Every reversing transaction is the mirror image of the one it reverses."""
    cursor.execute(
        """
        SELECT r.id, r.idempotency_key, d.account_id, SUM(d.amount) FROM (
          SELECT t.id AS reversal_id, p.account_id AS account_id, p.amount_fen AS amount
            FROM accounts_journaltransaction t
            JOIN accounts_posting p ON p.transaction_id = t.id
           WHERE t.reverses_id IS NOT NULL
          UNION ALL
          SELECT t.id, p.account_id, p.amount_fen
            FROM accounts_journaltransaction t
            JOIN accounts_posting p ON p.transaction_id = t.reverses_id
           WHERE t.reverses_id IS NOT NULL
        ) d JOIN accounts_journaltransaction r ON r.id = d.reversal_id
        GROUP BY r.id, r.idempotency_key, d.account_id
        HAVING SUM(d.amount) <> 0
        ORDER BY r.id, d.account_id
        """
    )
    return [
        RuleOffender(
            "reversal",
            f"transaction {tid} {key}",
            f"account {aid}: not the mirror of the original ({diff} fen left)",
        )
        for tid, key, aid, diff in cursor.fetchall()
    ]


def _rollover_offenders(cursor) -> list[RuleOffender]:
    """Every year-end rollover record: its balance as of 31 December is the
    sum of the current pocket's postings valued on or before that day (its own
    transaction left out), it moved max(0, min(that, the balance at the run)),
    and its transaction (keyed, valued 31 December) moves exactly that from
    the person's current pocket to their prior pocket. Every rollover
    transaction has its record."""
    year_end = _year_end("r.year")
    cursor.execute(
        f"""
        SELECT r.person_id, r.year, r.amount_fen, r.balance_as_of_fen, r.balance_at_run_fen,
               (SELECT COALESCE(SUM(p.amount_fen), 0)
                  FROM accounts_ledgeraccount a
                  JOIN accounts_posting p ON p.account_id = a.id
                  JOIN accounts_journaltransaction t ON t.id = p.transaction_id
                 WHERE a.person_id = r.person_id AND a.kind = 'member_current'
                   AND t.value_date <= {year_end}
                   AND (r.transaction_id IS NULL OR t.id <> r.transaction_id)) AS as_of,
               t.id, t.kind, t.idempotency_key, t.value_date = {year_end},
               (SELECT COUNT(*) FROM accounts_posting p WHERE p.transaction_id = t.id),
               (SELECT COALESCE(SUM(p.amount_fen), 0) FROM accounts_posting p
                  JOIN accounts_ledgeraccount a ON a.id = p.account_id
                 WHERE p.transaction_id = t.id AND a.kind = 'member_current'
                   AND a.person_id = r.person_id),
               (SELECT COALESCE(SUM(p.amount_fen), 0) FROM accounts_posting p
                  JOIN accounts_ledgeraccount a ON a.id = p.account_id
                 WHERE p.transaction_id = t.id AND a.kind = 'member_prior'
                   AND a.person_id = r.person_id)
          FROM accounts_rollover r
          LEFT JOIN accounts_journaltransaction t ON t.id = r.transaction_id
         ORDER BY r.year, r.person_id
        """  # noqa: S608 (constant SQL)
    )
    out = []
    for (
        pid,
        year,
        amount,
        as_of_rec,
        at_run,
        as_of,
        tid,
        kind,
        key,
        valued_right,
        n,
        out_current,
        into_prior,
    ) in cursor.fetchall():
        problems = []
        if as_of != as_of_rec:
            problems.append(f"balance as of 31 December is {as_of} fen, recorded {as_of_rec}")
        if amount != max(0, min(as_of, at_run)):
            problems.append(
                f"moved {amount} fen, the rule gives {max(0, min(as_of, at_run))} "
                f"(as of 31 December {as_of}, at the run {at_run})"
            )
        if tid is not None and (
            kind != "rollover"
            or key != f"rollover:{year}:{pid}"
            or not valued_right
            or n != 2
            or out_current != -amount
            or into_prior != amount
        ):
            problems.append(
                f"transaction {tid} {key} moves {-out_current} fen out of the current pocket "
                f"and {into_prior} into the prior pocket in {n} posting(s), "
                f"not the {amount} recorded (or is not a rollover valued 31 December)"
            )
        if problems:
            out.append(
                RuleOffender("rollover", f"rollover {year} of person {pid}", "; ".join(problems))
            )
    cursor.execute(
        """
        SELECT t.id, t.idempotency_key FROM accounts_journaltransaction t
         WHERE t.kind = 'rollover'
           AND NOT EXISTS (SELECT 1 FROM accounts_rollover r WHERE r.transaction_id = t.id)
         ORDER BY t.id
        """
    )
    out += [
        RuleOffender("rollover", f"transaction {tid} {key}", "a rollover without its record")
        for tid, key in cursor.fetchall()
    ]
    return out


def _closed_year_offenders(cursor) -> list[RuleOffender]:
    """No transaction but a rollover is valued in a year whose rollover had
    already started when it was posted (it would escape that year's rollover)."""
    year_end = _year_end("c.year")
    cursor.execute(
        f"""
        SELECT t.id, t.idempotency_key, t.value_date, c.year
          FROM accounts_journaltransaction t
          JOIN accounts_yearendclosing c
            ON t.value_date <= {year_end} AND t.created_at > c.started_at
         WHERE t.kind <> 'rollover'
         ORDER BY t.id, c.year
        """  # noqa: S608 (constant SQL)
    )
    seen: set[int] = set()
    out = []
    for tid, key, value_date, year in cursor.fetchall():
        if tid in seen:
            continue
        seen.add(tid)
        out.append(
            RuleOffender(
                "closed-year",
                f"transaction {tid} {key}",
                f"valued {value_date} but posted after the rollover of {year} started",
            )
        )
    return out


def rule_offenders() -> list[RuleOffender]:
    """Every breach of the business rules the ledger can prove (set-based
    queries): contribution credits, expenses' account parts, reversals,
    year-end rollovers, and transactions valued in an already-closed year."""
    with connection.cursor() as cursor:
        return (
            _credit_offenders(cursor)
            + _expense_offenders(cursor)
            + _resident_offenders(cursor)
            + _reversal_offenders(cursor)
            + _rollover_offenders(cursor)
            + _closed_year_offenders(cursor)
        )


# --- the personal-account ledger page ----------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger transaction as it touched the person's two pockets."""

    transaction_id: int
    value_date: dt.date
    kind: str  # "credit", "refund", "rollover", "expense", "relative_expense", "reversal", "other"
    period: dt.date | None  # the contribution month (credits and refunds)
    year: int | None  # the rollover's year
    institution: str  # where an expense was paid
    current_fen: int  # change to the current-year pocket
    prior_fen: int  # change to the prior-years pocket
    current_after_fen: int  # the pockets after this transaction
    prior_after_fen: int

    @property
    def change_fen(self) -> int:
        return self.current_fen + self.prior_fen

    @property
    def total_after_fen(self) -> int:
        return self.current_after_fen + self.prior_after_fen

    @property
    def cursor(self) -> str:
        return str(self.transaction_id)


# Every transaction that touched the person's pockets, in the order it was
# booked, with the running balance of each pocket right after it (a window over
# the person's own transactions: a few hundred rows for a lifetime), newest
# first from a cursor. Booking order, not value date: a rollover booked in
# January is valued 31 December, and a year's file may be credited in one day;
# the balance after a line is what the pockets held when it was booked.
_LEDGER_SQL = """
WITH moves AS (
    SELECT t.id, t.value_date, t.kind, t.idempotency_key,
           SUM(CASE WHEN a.kind = 'member_current' THEN p.amount_fen ELSE 0 END) AS cur,
           SUM(CASE WHEN a.kind = 'member_prior' THEN p.amount_fen ELSE 0 END) AS pri
    FROM accounts_posting p
    JOIN accounts_ledgeraccount a ON a.id = p.account_id
    JOIN accounts_journaltransaction t ON t.id = p.transaction_id
    WHERE a.person_id = %(person)s AND a.kind IN ('member_current', 'member_prior')
    GROUP BY t.id
), running AS (
    SELECT *, SUM(cur) OVER w AS cur_after, SUM(pri) OVER w AS pri_after
    FROM moves
    WINDOW w AS (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT r.id, r.value_date, r.kind, r.cur, r.pri, r.cur_after, r.pri_after,
       c.period, e.patient_id, i.name
FROM running r
LEFT JOIN payments_contribution c
       ON r.kind LIKE 'contribution.%%'
      AND c.id = CASE WHEN split_part(r.idempotency_key, ':', 2) ~ '^[0-9]{1,18}$'
                      THEN split_part(r.idempotency_key, ':', 2)::bigint END
LEFT JOIN claims_institution i
       ON r.kind LIKE 'claims.expense%%'
      AND i.id = CASE WHEN split_part(r.idempotency_key, ':', 2) ~ '^[0-9]{1,18}$'
                      THEN split_part(r.idempotency_key, ':', 2)::bigint END
LEFT JOIN claims_expense e
       ON e.institution_id = i.id
      AND e.idempotency_key = substr(r.idempotency_key, length('expense:' || i.id || ':') + 1)
WHERE (%(after)s::bigint IS NULL OR r.id < %(after)s::bigint)
  AND (%(year)s::int IS NULL OR EXTRACT(YEAR FROM r.value_date) = %(year)s::int)
ORDER BY r.id DESC
LIMIT %(limit)s
"""


def _entry_kind(kind: str, patient_id: int | None, person_id: int) -> str:
    if kind == "contribution.credit":
        return "credit"
    if kind.startswith("contribution."):
        return "refund"
    if kind == "rollover":
        return "rollover"
    if kind == "claims.expense":
        return "expense" if patient_id in (None, person_id) else "relative_expense"
    if kind.endswith(".reversal"):
        return "reversal"
    return "other"


def pocket_ledger(
    person: InsuredPerson | int,
    *,
    year: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[LedgerEntry]:
    """The personal account's movements, newest first: every credit, spend,
    refund and rollover, with both pockets' balances after it. Keyset-paged on
    the transaction id (``after``: the last id of the previous page); one query
    whatever the page."""
    pid = _person_id(person)
    params = {
        "person": pid,
        "after": after,
        "year": year,
        "limit": limit,
    }
    with prepared_cursor(reading(LedgerAccount)) as cursor:  # the replica on member pages
        cursor.execute(_LEDGER_SQL, params)
        rows = cursor.fetchall()
    return [
        LedgerEntry(
            transaction_id=tid,
            value_date=value_date,
            kind=_entry_kind(kind, patient_id, pid),
            period=period,
            year=value_date.year if kind == "rollover" else None,
            institution=institution or "",
            current_fen=int(cur),
            prior_fen=int(pri),
            current_after_fen=int(cur_after),
            prior_after_fen=int(pri_after),
        )
        for (
            tid,
            value_date,
            kind,
            cur,
            pri,
            cur_after,
            pri_after,
            period,
            patient_id,
            institution,
        ) in rows
    ]
