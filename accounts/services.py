"""Writes to the ledger. See docs/adr/0001-ledger.md for the rules."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import InsuredPerson
from portal.errors import ApplicationError, Conflict
from portal.prepared import prepared_cursor
from portal.rows import stored
from portal.transactions import retry_on_conflict

from .models import (
    MEMBER_POCKETS,
    AccountKind,
    JournalTransaction,
    LedgerAccount,
    Posting,
    Rollover,
    YearEndClosing,
)

SYSTEM_KINDS = (
    AccountKind.POOLED_FUND,
    AccountKind.CONTRIBUTIONS_RECEIVABLE,
    AccountKind.RESIDENT_CONTRIBUTIONS,
)


class InsufficientFunds(ApplicationError):
    status_code = 409

    def __init__(self, account: LedgerAccount, needed_fen: int):
        super().__init__(
            _("Not enough money in %(pocket)s: %(balance).2f available, %(needed).2f needed.")
            % {
                "pocket": account.get_kind_display(),
                "balance": account.balance_fen / 100,
                "needed": needed_fen / 100,
            },
            code="insufficient_funds",
            extra={"account": account.code},
        )
        self.account = account


def _get_or_create_account(*, code: str, **fields) -> LedgerAccount:
    account = LedgerAccount.objects.filter(code=code).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(code=code, **fields)
    except IntegrityError:  # created concurrently
        return LedgerAccount.objects.get(code=code)


def system_account(kind: str) -> LedgerAccount:
    """The single pooled-fund or contributions-receivable account."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is not a system account")
    return _get_or_create_account(code=str(kind), kind=kind)


def _pocket_specs(person: InsuredPerson) -> list[tuple[str, dict]]:
    current, prior = pocket_codes(person.pk)
    return [
        (current, {"kind": AccountKind.MEMBER_CURRENT, "person": person}),
        (prior, {"kind": AccountKind.MEMBER_PRIOR, "person": person}),
    ]


def _payable_spec(institution_id: int) -> tuple[str, dict]:
    return (
        f"institution:{institution_id}:payable",
        {"kind": AccountKind.INSTITUTION_PAYABLE, "institution_id": institution_id},
    )


def member_pockets(person: InsuredPerson) -> tuple[LedgerAccount, LedgerAccount]:
    """The person's (current-year, prior-years) pockets, created on first use."""
    (cur_code, cur), (pri_code, pri) = _pocket_specs(person)
    return (
        _get_or_create_account(code=cur_code, **cur),
        _get_or_create_account(code=pri_code, **pri),
    )


def institution_payable(institution_id: int) -> LedgerAccount:
    code, fields = _payable_spec(institution_id)
    return _get_or_create_account(code=code, **fields)


# The columns of an account as ``account_from_row`` takes them (each the
# field's attname too).
ACCOUNT_COLUMNS = ["id", "code", "kind", "person_id", "institution_id", "balance_fen"]


def account_from_row(alias: str, row) -> LedgerAccount:
    return LedgerAccount.from_db(alias, ACCOUNT_COLUMNS, row)


def pocket_codes(person_id: int) -> tuple[str, str]:
    """The codes of a person's (current-year, prior-years) pockets."""
    return f"member:{person_id}:current", f"member:{person_id}:prior"


def payable_code(institution_id: int) -> str:
    return _payable_spec(institution_id)[0]


def pockets_and_payable(
    *,
    persons: Sequence[InsuredPerson],
    institution_id: int,
    known: dict[str, LedgerAccount] | None = None,
) -> tuple[dict[int, tuple[LedgerAccount, LedgerAccount]], LedgerAccount]:
    """``member_pockets`` of each person (by person id) and
    ``institution_payable``, in one query when they all exist (none when the
    caller read them all already: ``known``, by code); a missing one is
    created as those functions create it (its own short transaction)."""
    specs = [spec for person in persons for spec in _pocket_specs(person)]
    specs.append(_payable_spec(institution_id))
    found = dict(known or {})
    unread = [code for code, _fields in specs if code not in found]
    if unread:
        # Plain SQL on the unique code index: asked on every expense submission.
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                "SELECT {} FROM accounts_ledgeraccount WHERE code IN ({})".format(  # noqa: S608
                    ", ".join(ACCOUNT_COLUMNS), ", ".join(["%s"] * len(unread))
                ),
                unread,
            )
            for row in cursor.fetchall():
                found[row[1]] = account_from_row(connection.alias, row)
    for code, fields in specs:
        if code not in found:
            found[code] = _get_or_create_account(code=code, **fields)
    pockets = {
        person.pk: (found[current], found[prior])
        for person in persons
        for current, prior in [pocket_codes(person.pk)]
    }
    return pockets, found[specs[-1][0]]


# A loader replaying history (the demo timeline) sets the day its events
# happened; everything else is valued today. See ``valued_on``.
_replay_date: contextvars.ContextVar[dt.date | None] = contextvars.ContextVar(
    "ledger_replay_date", default=None
)


@contextlib.contextmanager
def valued_on(day: dt.date) -> Iterator[None]:
    """Value the ledger transactions posted inside this block on ``day`` when
    their caller names no value date: for loaders replaying history (the demo
    timeline), so that services they call (an import, an expense) post on the
    day the event happened. Never used for work done now (ADR 0002)."""
    token = _replay_date.set(day)
    try:
        yield
    finally:
        _replay_date.reset(token)


def _value_date(value_date: dt.date | None) -> dt.date:
    if value_date is not None:
        if not isinstance(value_date, dt.date) or isinstance(value_date, dt.datetime):
            raise TypeError("value_date is a date")
        return value_date
    return _replay_date.get() or timezone.localdate()


def _body_hash(kind: str, postings: dict[int, int], reverses_id: int | None) -> str:
    body = {"kind": kind, "postings": sorted(postings.items()), "reverses": reverses_id}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def _normalise(postings: Iterable[tuple[LedgerAccount | int, int]]) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for account, amount in postings:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise TypeError("posting amounts are integer fen")
        merged[account if isinstance(account, int) else account.pk] += amount
    merged = {k: v for k, v in merged.items() if v != 0}
    if len(merged) < 2:
        raise ApplicationError(_("A transaction moves money between at least two accounts."))
    if sum(merged.values()) != 0:
        raise ApplicationError(_("A transaction's postings must sum to zero."), code="unbalanced")
    return merged


def _existing(key: str, body_hash: str) -> JournalTransaction | None:
    existing = JournalTransaction.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.body_hash != body_hash:
        raise Conflict(
            _("This idempotency key was already used for a different transaction."),
            code="idempotency_conflict",
        )
    return existing


@retry_on_conflict
def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[LedgerAccount | int, int]],
    memo: str = "",
    reverses: JournalTransaction | None = None,
    value_date: dt.date | None = None,
) -> JournalTransaction:
    """Post one balanced transaction, exactly once per idempotency key.

    ``value_date`` is the day the money moves (default: today, local time);
    it is not part of the body, so a retry on another day returns the first.

    1. Merge and check the postings (integers, at least two accounts, sum zero).
    2. Lock every MEMBER POCKET it touches, in primary-key order, before
       anything else takes a row lock on one of them (the balance trigger of
       step 5 does): one global order, so ledger writes do not deadlock (ADR
       0001). Concurrent spends on one pocket queue up here. Shared accounts
       (pooled fund, receivable, institution payables) are never locked: no
       posting updates their row (step 5), so postings to one payable never
       wait for each other. A caller that locks pockets before calling locks
       all of them, in this order (``claims.services`` does).
    3. With the locks held, look for the key: the same key and body returns the
       first transaction; the same key with another body is a Conflict (two
       requests with one key: the second waits on the unique index).
    4. Check each debited pocket covers its debit (InsufficientFunds names it).
    5. Insert the transaction and all its postings in one statement; the
       database then moves the pockets' cached balances, appends a pending
       delta per shared account, refuses an unbalanced transaction and, by a
       CHECK constraint, any pocket below zero.
    """
    merged = _normalise(postings)
    value_date = _value_date(value_date)
    body_hash = _body_hash(kind, merged, reverses.pk if reverses else None)
    debits = {aid: -amt for aid, amt in merged.items() if amt < 0}
    try:
        with transaction.atomic():
            locked = [
                account
                for account in LedgerAccount.objects.select_for_update()
                .filter(pk__in=merged, kind__in=MEMBER_POCKETS)
                .order_by("pk")
                if account.pk in debits
            ]
            existing = _existing(idempotency_key, body_hash)
            if existing is not None:
                return existing
            for account in locked:
                if account.balance_fen < debits[account.pk]:
                    raise InsufficientFunds(account, debits[account.pk])
            txn = JournalTransaction.objects.create(
                idempotency_key=idempotency_key,
                kind=kind,
                body_hash=body_hash,
                memo=memo[:255],
                reverses=reverses,
                value_date=value_date,
            )
            Posting.objects.bulk_create(
                [
                    Posting(transaction=txn, account_id=aid, amount_fen=amt)
                    for aid, amt in merged.items()
                ]
            )
            return txn
    except IntegrityError:
        # Another request with the same key committed first.
        existing = _existing(idempotency_key, body_hash)
        if existing is None:
            raise
        return existing


_HELD_CTE = """txn AS (
  INSERT INTO accounts_journaltransaction
    (idempotency_key, kind, body_hash, memo, reverses_id, created_at, value_date)
  VALUES (%s, %s, %s, %s, NULL, %s, %s)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id
), postings AS (
  INSERT INTO accounts_posting (transaction_id, account_id, amount_fen)
  SELECT txn.id, p.account_id, p.amount_fen
    FROM txn, unnest(%s::bigint[], %s::bigint[]) AS p(account_id, amount_fen)
)"""


@dataclass(frozen=True)
class HeldPosting:
    """A ledger transaction checked and ready to go in with the caller's own
    statement (``ledger_hold``): ``cte`` and ``params`` are the ``txn`` and
    ``postings`` parts of a ``WITH``; ``txn`` holds the transaction's id
    afterwards, or no row when the key was already stored."""

    idempotency_key: str
    kind: str
    body_hash: str
    memo: str
    created_at: dt.datetime
    value_date: dt.date
    merged: dict[int, int]

    cte: ClassVar[str] = _HELD_CTE

    @property
    def params(self) -> list:
        return [
            self.idempotency_key,
            self.kind,
            self.body_hash,
            self.memo,
            self.created_at,
            self.value_date,
            list(self.merged),
            list(self.merged.values()),
        ]

    def stored(self, txn_id: int | None) -> JournalTransaction:
        """The transaction the statement wrote (``post_save`` sent, as
        ``save`` would: the notifications outbox and the ledger metrics
        listen); when it wrote none, the one already stored under the key
        (the same body), else a Conflict."""
        if txn_id is None:
            existing = _existing(self.idempotency_key, self.body_hash)
            if existing is None:  # cannot be: the key conflicted with a committed row
                raise RuntimeError(
                    f"ledger key {self.idempotency_key} conflicted but is not stored"
                )
            return existing
        txn = JournalTransaction(
            id=txn_id,
            idempotency_key=self.idempotency_key,
            kind=self.kind,
            body_hash=self.body_hash,
            memo=self.memo,
            created_at=self.created_at,
            value_date=self.value_date,
        )
        return stored([txn], signals=True)[0]


def ledger_hold(
    *,
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[LedgerAccount, int]],
    memo: str = "",
    value_date: dt.date | None = None,
) -> HeldPosting:
    """Check a transaction whose member pockets the caller holds locked (see
    ``ledger_post_held``) and return it ready to be written by the caller's
    own statement (PostgreSQL only): the debits against the balances the
    caller read under those locks, the body hash and value date of
    ``ledger_post``. The ledger trigger and the CHECK constraint guard the
    INSERT as any other."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        raise RuntimeError("ledger_hold runs inside the caller's PostgreSQL transaction")
    merged = _normalise(postings)
    accounts = {account.pk: account for account, _amount in postings}
    for account_id, amount in merged.items():
        account = accounts[account_id]
        if amount < 0 and account.kind in MEMBER_POCKETS and account.balance_fen < -amount:
            raise InsufficientFunds(account, -amount)
    return HeldPosting(
        idempotency_key=idempotency_key,
        kind=kind,
        body_hash=_body_hash(kind, merged, None),
        memo=memo[:255],
        created_at=timezone.now(),
        value_date=_value_date(value_date),
        merged=dict(merged),
    )


def ledger_post_held(
    *,
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[LedgerAccount, int]],
    memo: str = "",
    value_date: dt.date | None = None,
) -> JournalTransaction:
    """``ledger_post`` for a caller that, inside its own transaction, already
    holds the row lock of every member pocket the postings touch (taken in
    primary-key order, in one statement, ADR 0001) and passes those pockets
    as it read them under the lock: their ``balance_fen`` is what the debits
    are checked against. The same transaction, body hash, value date and
    idempotency rule as ``ledger_post``, without locking the pockets a second
    time and without a savepoint: on PostgreSQL the transaction and all its
    postings go in with ONE statement (``ledger_hold``; a caller writing
    more rows puts them in the same statement), and only a key already
    stored costs a second one (the first transaction if the body is the
    same, else a Conflict). Elsewhere (the embedded SQLite demo) it is
    ``ledger_post``."""
    if connection.vendor != "postgresql":
        return ledger_post(
            idempotency_key=idempotency_key,
            kind=kind,
            postings=postings,
            memo=memo,
            value_date=value_date,
        )
    held = ledger_hold(
        idempotency_key=idempotency_key,
        kind=kind,
        postings=postings,
        memo=memo,
        value_date=value_date,
    )
    with prepared_cursor(connection) as cursor:
        cursor.execute(f"WITH {held.cte} SELECT id FROM txn", held.params)  # noqa: S608
        row = cursor.fetchone()
    return held.stored(row[0] if row else None)


def ledger_fold_deltas(*, limit: int = 100_000) -> int:
    """Fold pending balance deltas of the shared accounts into their
    ``balance_fen`` snapshots (ADR 0001); returns how many were folded.

    Deleting a delta is the fold: the database adds what the deleted rows
    moved to their accounts' snapshots in the same statement, so a balance
    (snapshot + pending deltas) reads the same before, during and after. Only
    committed deltas are seen; rows another folder holds are skipped, so two
    folders at once never fold a delta twice or wait for each other's rows.
    Never blocks a posting: postings neither lock nor update shared rows.
    Runs from beat (``accounts.tasks.fold_balance_deltas``); without it
    balances stay exact, reading them only gets slower."""
    if connection.vendor != "postgresql":
        return 0
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM accounts_balancedelta WHERE id IN ("
                " SELECT id FROM accounts_balancedelta ORDER BY id LIMIT %s"
                " FOR UPDATE SKIP LOCKED)",
                [limit],
            )
            folded = cursor.rowcount
        total += folded
        if folded < limit:
            return total


def ledger_reverse(
    *,
    original: JournalTransaction,
    idempotency_key: str,
    memo: str = "",
    value_date: dt.date | None = None,
) -> JournalTransaction:
    """Undo a transaction by posting its mirror image (history is never edited).

    A transaction is reversed at most once (unique ``reverses``). The reversal
    is valued the day it is posted (default today), not on the original's day.
    """
    postings = [(p.account_id, -p.amount_fen) for p in original.postings.all()]
    return ledger_post(
        idempotency_key=idempotency_key,
        kind=f"{original.kind}.reversal",
        postings=postings,
        memo=memo or f"reversal of {original.idempotency_key}",
        reverses=original,
        value_date=value_date,
    )


# --- Bulk posting and the year-end rollover (docs/adr/0002) -----------------


def body_hash(kind: str, postings: dict[int, int], reverses_id: int | None = None) -> str:
    """The canonical body hash ``ledger_post`` stores (so a bulk-posted
    transaction and a later ``ledger_post`` with its key agree)."""
    return _body_hash(kind, postings, reverses_id)


def copy_rows(cursor, sql: str, rows: Iterable[Sequence]) -> None:
    """``COPY ... FROM STDIN`` through psycopg 3 (PostgreSQL only)."""
    raw = getattr(cursor, "cursor", cursor)
    with raw.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def ledger_post_bulk(
    *,
    kind: str,
    entries: Iterable[tuple[str, Sequence[tuple[int, int]], str]],
    value_date: dt.date | None = None,
) -> int:
    """Post many new transactions at once: ``entries`` are
    ``(idempotency_key, [(account_id, amount_fen), ...], memo)``. Returns how
    many were created; a key already stored is skipped (it was done before).

    On PostgreSQL: the transactions and their postings are COPYed into
    temporary tables, then ONE statement inserts the new transactions
    (``ON CONFLICT DO NOTHING``) and all their postings, so the ledger trigger
    checks every transaction balances and moves the cached balances once.
    Elsewhere (the embedded SQLite demo) it calls ``ledger_post`` per entry.

    Unlike ``ledger_post`` it does not lock or check debited member pockets:
    a caller that debits one must hold its row lock and know the balance covers
    it (the rollover does); the CHECK constraint is the backstop. Every
    transaction is valued on ``value_date`` (default today).
    """
    value_date = _value_date(value_date)
    prepared = []
    for key, postings, memo in entries:
        merged = _normalise(postings)
        prepared.append((key, merged, memo[:255]))
    if not prepared:
        return 0
    if connection.vendor != "postgresql":
        created = 0
        for key, merged, memo in prepared:
            before = JournalTransaction.objects.filter(idempotency_key=key).exists()
            if not before:
                ledger_post(
                    idempotency_key=key,
                    kind=kind,
                    postings=list(merged.items()),
                    memo=memo,
                    value_date=value_date,
                )
                created += 1
        return created
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _bulk_txn "
            "(key text, body_hash text, memo text) ON COMMIT DELETE ROWS"
        )
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _bulk_post "
            "(key text, account_id bigint, amount bigint) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE _bulk_txn, _bulk_post")
        copy_rows(
            cursor,
            "COPY _bulk_txn (key, body_hash, memo) FROM STDIN",
            ((key, _body_hash(kind, merged, None), memo) for key, merged, memo in prepared),
        )
        copy_rows(
            cursor,
            "COPY _bulk_post (key, account_id, amount) FROM STDIN",
            (
                (key, account_id, amount)
                for key, merged, _memo in prepared
                for account_id, amount in merged.items()
            ),
        )
        cursor.execute(
            """
            WITH new_txn AS (
              INSERT INTO accounts_journaltransaction
                (idempotency_key, kind, body_hash, memo, created_at, value_date)
              SELECT key, %s, body_hash, memo, now(), %s FROM _bulk_txn ORDER BY key
              ON CONFLICT (idempotency_key) DO NOTHING
              RETURNING id, idempotency_key
            ), new_postings AS (
              INSERT INTO accounts_posting (transaction_id, account_id, amount_fen)
              SELECT new_txn.id, p.account_id, p.amount
                FROM new_txn JOIN _bulk_post p ON p.key = new_txn.idempotency_key
              RETURNING 1
            )
            SELECT (SELECT count(*) FROM new_txn)
            """,
            [kind, value_date],
        )
        return cursor.fetchone()[0]


# The body hash ``_body_hash`` computes, in SQL: SHA-256 of the same JSON text
# (``{"kind":...,"postings":[[account,amount],...],"reverses":null}``, postings
# sorted by account id, no spaces). ``kind`` must be ASCII (json.dumps escapes
# anything else).
_SQL_BODY_HASH = """encode(sha256(convert_to(
  '{"kind":' || to_json(%(kind)s::text)::text || ',"postings":['
  || string_agg('[' || account_id || ',' || amount || ']', ',' ORDER BY account_id)
  || '],"reverses":null}', 'UTF8')), 'hex')"""


def ledger_post_bulk_sql(
    *, kind: str, postings_sql: str, params: dict, value_date: dt.date | None = None
) -> int:
    """Post many new transactions whose postings a query computes (PostgreSQL
    only), so no posting passes through Python. ``postings_sql`` is a SELECT of
    ``(key, memo, account_id, amount)``, one row per posting: non-zero amounts,
    distinct accounts per key, each key's rows summing to zero (the ledger
    trigger and the CHECK constraints refuse anything else, rolling everything
    back). Like ``ledger_post_bulk``: keys already stored are skipped, the new
    transactions and all their postings go in with ONE statement each, the
    stored body hash equals ``body_hash(kind, postings)``; returns how many
    were created. It does not lock or check debited member pockets. Every
    transaction is valued on ``value_date`` (default today)."""
    if not kind.isascii():
        raise ValueError("kind must be ASCII")
    value_date = _value_date(value_date)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _bulk_sql_post "
            "(key text, memo text, account_id bigint, amount bigint) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE _bulk_sql_post")
        cursor.execute(
            f"INSERT INTO _bulk_sql_post (key, memo, account_id, amount) {postings_sql}",
            params,
        )
        cursor.execute("ANALYZE _bulk_sql_post")
        cursor.execute(
            f"""
            WITH new_txn AS (
              INSERT INTO accounts_journaltransaction
                (idempotency_key, kind, body_hash, memo, created_at, value_date)
              SELECT key, %(kind)s, {_SQL_BODY_HASH}, left(min(memo), 255), now(),
                     %(value_date)s::date
                FROM _bulk_sql_post GROUP BY key ORDER BY key
              ON CONFLICT (idempotency_key) DO NOTHING
              RETURNING id, idempotency_key
            ), new_postings AS (
              INSERT INTO accounts_posting (transaction_id, account_id, amount_fen)
              SELECT new_txn.id, p.account_id, p.amount
                FROM new_txn JOIN _bulk_sql_post p ON p.key = new_txn.idempotency_key
              RETURNING 1
            )
            SELECT (SELECT count(*) FROM new_txn)
            """,  # noqa: S608 (a constant expression)
            {"kind": kind, "value_date": value_date},
        )
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class RolloverResult:
    year: int
    members_rolled: int
    fen_moved: int
    batches: int


ROLLOVER_KIND = "rollover"


def rollover_key(year: int, person_id: int) -> str:
    return f"rollover:{year}:{person_id}"


def rollover_amount(*, balance_as_of_fen: int, balance_now_fen: int) -> int:
    """What the rollover moves (ADR 0002): the current-year balance as of 31
    December, less whatever of it new-year spending already used. New-year
    spending first uses new-year credits, so what is left of last year's money
    is ``min(balance as of 31 December, balance now)``, never below zero."""
    return max(0, min(balance_as_of_fen, balance_now_fen))


def _first_activity_year() -> int | None:
    first = (
        JournalTransaction.objects.exclude(kind=ROLLOVER_KIND)
        .order_by("value_date")
        .values_list("value_date", flat=True)
        .first()
    )
    return first.year if first is not None else None


def _open_closing(year: int) -> YearEndClosing:
    """The closing row of ``year``; refuses while an earlier year with ledger
    activity is not completely rolled over (years close in order)."""
    first = _first_activity_year()
    if first is not None and first < year:
        done = set(
            YearEndClosing.objects.filter(
                year__gte=first, year__lt=year, completed_at__isnull=False
            ).values_list("year", flat=True)
        )
        missing = [y for y in range(first, year) if y not in done]
        if missing:
            raise ApplicationError(
                _(
                    "The year %(year)s cannot be rolled over before %(earlier)s: "
                    "roll over %(earlier)s first (years close in order)."
                )
                % {"year": year, "earlier": missing[0]},
                code="earlier_year_open",
                fields={"year": [_("Roll over %(earlier)s first.") % {"earlier": missing[0]}]},
            )
    closing, _created = YearEndClosing.objects.get_or_create(year=year)
    return closing


def rollover_year(
    *,
    year: int,
    batch_size: int = 1000,
    pause_seconds: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> RolloverResult:
    """Move each member's current-year money of ``year`` to their prior-years
    pocket, exactly once per member per year, whenever it runs (ADR 0002).

    Refused for a year not over yet, and while an earlier year with ledger
    activity is not completely rolled over. A year already complete returns at
    once. Otherwise, batches of ``batch_size`` current pockets in id order
    (keyset, never OFFSET), each batch its own database transaction:
    1. make sure each member of the batch has a prior-years pocket;
    2. lock both pockets of the batch's members in id order (the global lock
       order, so no deadlock with spends); skip members who already have their
       ``Rollover`` row for the year (a re-run or a resumed run);
    3. per remaining member: the balance as of 31 December (the pocket's
       postings valued on or before it), the balance now, and the amount
       ``rollover_amount`` of the two; post every non-zero move with
       ``ledger_post_bulk`` (one statement), valued 31 December of ``year``;
    4. write a ``Rollover`` row for every member of the batch, zero included.
    When every batch is done the year's closing is marked complete.
    ``pause_seconds`` between batches eases the load on a busy database.
    """
    today = timezone.localdate()
    if year >= today.year:
        raise ApplicationError(
            _("The year %(year)s is not over yet; it can be rolled over from 1 January %(next)s.")
            % {"year": year, "next": year + 1},
            code="year_not_over",
            fields={"year": [_("This year is not over yet.")]},
        )
    closing = _open_closing(year)
    if closing.completed_at is not None:
        return RolloverResult(year=year, members_rolled=0, fen_moved=0, batches=0)
    year_end = dt.date(year, 12, 31)
    last_id = 0
    members = moved = batches = 0
    while True:
        batch = list(
            LedgerAccount.objects.filter(kind=AccountKind.MEMBER_CURRENT, id__gt=last_id)
            .order_by("id")
            .values_list("id", "person_id")[:batch_size]
        )
        if not batch:
            break
        last_id = batch[-1][0]
        person_ids = [pid for _aid, pid in batch]
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(
                    code=f"member:{pid}:prior", kind=AccountKind.MEMBER_PRIOR, person_id=pid
                )
                for pid in person_ids
            ],
            ignore_conflicts=True,
        )
        with transaction.atomic():
            pockets = list(
                LedgerAccount.objects.select_for_update()
                .filter(person_id__in=person_ids, kind__in=MEMBER_POCKETS)
                .order_by("id")
                .values_list("id", "person_id", "kind", "balance_fen")
            )
            done = set(
                Rollover.objects.filter(year=year, person_id__in=person_ids).values_list(
                    "person_id", flat=True
                )
            )
            current = {
                pid: (aid, bal) for aid, pid, k, bal in pockets if k == AccountKind.MEMBER_CURRENT
            }
            prior = {pid: aid for aid, pid, k, _bal in pockets if k == AccountKind.MEMBER_PRIOR}
            todo = [pid for pid in person_ids if pid not in done]
            as_of = dict(
                Posting.objects.filter(
                    account_id__in=[current[pid][0] for pid in todo],
                    transaction__value_date__lte=year_end,
                )
                .values("account_id")
                .annotate(total=Sum("amount_fen"))
                .values_list("account_id", "total")
            )
            entries, markers = [], []
            for pid in todo:
                aid, balance = current[pid]
                balance_as_of = as_of.get(aid, 0)
                amount = rollover_amount(balance_as_of_fen=balance_as_of, balance_now_fen=balance)
                if amount:
                    entries.append(
                        (
                            rollover_key(year, pid),
                            [(aid, -amount), (prior[pid], amount)],
                            f"year-end rollover {year}",
                        )
                    )
                markers.append(
                    Rollover(
                        person_id=pid,
                        year=year,
                        amount_fen=amount,
                        balance_as_of_fen=balance_as_of,
                        balance_at_run_fen=balance,
                    )
                )
            if entries:
                created = ledger_post_bulk(kind=ROLLOVER_KIND, entries=entries, value_date=year_end)
                if created != len(entries):
                    # A rollover transaction without its marker: only if written
                    # by hand or by an older version; refuse rather than guess.
                    raise ApplicationError(
                        _("A rollover transaction of %(year)s exists without its record.")
                        % {"year": year},
                        code="rollover_inconsistent",
                    )
                txn_ids = dict(
                    JournalTransaction.objects.filter(
                        idempotency_key__in=[key for key, _p, _m in entries]
                    ).values_list("idempotency_key", "id")
                )
                for marker in markers:
                    if marker.amount_fen:
                        marker.transaction_id = txn_ids[rollover_key(year, marker.person_id)]
                members += len(entries)
                moved += sum(p[1][1] for _k, p, _m in entries)
            Rollover.objects.bulk_create(markers)
        batches += 1
        if on_batch is not None:
            on_batch(batches)
        if pause_seconds:
            time.sleep(pause_seconds)
    YearEndClosing.objects.filter(pk=closing.pk, completed_at__isnull=True).update(
        completed_at=timezone.now()
    )
    return RolloverResult(year=year, members_rolled=members, fen_moved=moved, batches=batches)
