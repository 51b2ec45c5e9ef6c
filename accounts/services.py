"""Writes to the ledger. See docs/adr/0001-ledger.md for the rules."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import InsuredPerson
from portal.errors import ApplicationError, Conflict

from .models import MEMBER_POCKETS, AccountKind, JournalTransaction, LedgerAccount, Posting

SYSTEM_KINDS = (AccountKind.POOLED_FUND, AccountKind.CONTRIBUTIONS_RECEIVABLE)


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


def member_pockets(person: InsuredPerson) -> tuple[LedgerAccount, LedgerAccount]:
    """The person's (current-year, prior-years) pockets, created on first use."""
    return (
        _get_or_create_account(
            code=f"member:{person.pk}:current", kind=AccountKind.MEMBER_CURRENT, person=person
        ),
        _get_or_create_account(
            code=f"member:{person.pk}:prior", kind=AccountKind.MEMBER_PRIOR, person=person
        ),
    )


def institution_payable(institution_id: int) -> LedgerAccount:
    return _get_or_create_account(
        code=f"institution:{institution_id}:payable",
        kind=AccountKind.INSTITUTION_PAYABLE,
        institution_id=institution_id,
    )


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


def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    postings: Sequence[tuple[LedgerAccount | int, int]],
    memo: str = "",
    reverses: JournalTransaction | None = None,
) -> JournalTransaction:
    """Post one balanced transaction, exactly once per idempotency key.

    1. Merge and check the postings (integers, at least two accounts, sum zero).
    2. Lock the member pockets that lose money, in primary-key order (no
       deadlocks), so concurrent spends on one pocket queue up.
    3. With the locks held, look for the key: the same key and body returns the
       first transaction; the same key with another body is a Conflict.
    4. Check each debited pocket covers its debit (InsufficientFunds names it).
    5. Insert the transaction and all its postings in one statement; the
       database then updates the cached balances, refuses an unbalanced
       transaction and, by a CHECK constraint, any pocket below zero.
    """
    merged = _normalise(postings)
    body_hash = _body_hash(kind, merged, reverses.pk if reverses else None)
    debits = {aid: -amt for aid, amt in merged.items() if amt < 0}
    try:
        with transaction.atomic():
            locked = list(
                LedgerAccount.objects.select_for_update()
                .filter(pk__in=debits, kind__in=MEMBER_POCKETS)
                .order_by("pk")
            )
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


def ledger_reverse(
    *, original: JournalTransaction, idempotency_key: str, memo: str = ""
) -> JournalTransaction:
    """Undo a transaction by posting its mirror image (history is never edited).

    A transaction is reversed at most once (unique ``reverses``).
    """
    postings = [(p.account_id, -p.amount_fen) for p in original.postings.all()]
    return ledger_post(
        idempotency_key=idempotency_key,
        kind=f"{original.kind}.reversal",
        postings=postings,
        memo=memo or f"reversal of {original.idempotency_key}",
        reverses=original,
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
    *, kind: str, entries: Iterable[tuple[str, Sequence[tuple[int, int]], str]]
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
    it (the rollover does); the CHECK constraint is the backstop.
    """
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
                    idempotency_key=key, kind=kind, postings=list(merged.items()), memo=memo
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
                (idempotency_key, kind, body_hash, memo, created_at)
              SELECT key, %s, body_hash, memo, now() FROM _bulk_txn ORDER BY key
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
            [kind],
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


def ledger_post_bulk_sql(*, kind: str, postings_sql: str, params: dict) -> int:
    """Post many new transactions whose postings a query computes (PostgreSQL
    only), so no posting passes through Python. ``postings_sql`` is a SELECT of
    ``(key, memo, account_id, amount)``, one row per posting: non-zero amounts,
    distinct accounts per key, each key's rows summing to zero (the ledger
    trigger and the CHECK constraints refuse anything else, rolling everything
    back). Like ``ledger_post_bulk``: keys already stored are skipped, the new
    transactions and all their postings go in with ONE statement each, the
    stored body hash equals ``body_hash(kind, postings)``; returns how many
    were created. It does not lock or check debited member pockets."""
    if not kind.isascii():
        raise ValueError("kind must be ASCII")
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
                (idempotency_key, kind, body_hash, memo, created_at)
              SELECT key, %(kind)s, {_SQL_BODY_HASH}, left(min(memo), 255), now()
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
            {"kind": kind},
        )
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class RolloverResult:
    year: int
    members_rolled: int
    fen_moved: int
    batches: int


def rollover_key(year: int, person_id: int) -> str:
    return f"rollover:{year}:{person_id}"


def rollover_year(
    *,
    year: int,
    batch_size: int = 1000,
    pause_seconds: float = 0.0,
    on_batch: Callable[[int], None] | None = None,
) -> RolloverResult:
    """Move every member's current-year balance to their prior-years pocket at
    the end of ``year``, exactly once per member per year.

    Each member's move is one ledger transaction keyed ``rollover:<year>:<person>``
    (unique), so running again, or resuming after the process was killed, skips
    whoever was done. Batches of ``batch_size`` current pockets in id order
    (keyset, never OFFSET), each batch its own database transaction:
    1. make sure each member of the batch has a prior-years pocket;
    2. lock both pockets of the batch's members in id order (the global lock
       order, so no deadlock with spends), skip members whose key exists;
    3. post every move of the batch with ``ledger_post_bulk`` (one statement).
    A zero balance moves nothing and writes nothing. ``pause_seconds`` between
    batches eases the load on a busy database.
    """
    today = timezone.localdate()
    if year >= today.year:
        raise ApplicationError(
            _("The year %(year)s is not over yet; it can be rolled over from 1 January %(next)s.")
            % {"year": year, "next": year + 1},
            code="year_not_over",
            fields={"year": [_("This year is not over yet.")]},
        )
    kind = "rollover"
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
                JournalTransaction.objects.filter(
                    idempotency_key__in=[rollover_key(year, pid) for pid in person_ids]
                ).values_list("idempotency_key", flat=True)
            )
            current = {
                pid: (aid, bal) for aid, pid, k, bal in pockets if k == AccountKind.MEMBER_CURRENT
            }
            prior = {pid: aid for aid, pid, k, _bal in pockets if k == AccountKind.MEMBER_PRIOR}
            entries = []
            for pid in person_ids:
                key = rollover_key(year, pid)
                aid, balance = current[pid]
                if key in done or balance <= 0:
                    continue
                entries.append(
                    (key, [(aid, -balance), (prior[pid], balance)], f"year-end rollover {year}")
                )
                moved += balance
            members += ledger_post_bulk(kind=kind, entries=entries)
        batches += 1
        if on_batch is not None:
            on_batch(batches)
        if pause_seconds:
            time.sleep(pause_seconds)
    return RolloverResult(year=year, members_rolled=members, fen_moved=moved, batches=batches)
