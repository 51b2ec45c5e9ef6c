"""Settlement: the pooled fund pays each institution what it owes, exactly once.

The rules (docs/adr/0005-settlement-exactly-once.md):

- Work is claimed with a conditional UPDATE (``batch_id IS NULL``), so an
  expense joins at most one batch, whoever runs the task how often.
- Each chunk is ONE database transaction holding: the claim of its expenses
  (and of reversals of settled expenses), its ``SettlementChunk`` row (unique
  per batch and number), the batch's counters, and ONE ledger transaction
  keyed ``settlement:<batch>:<chunk>`` (pooled fund -> institution payable for
  the net of the claimed fund parts). A worker killed at any point leaves
  whole chunks only; a re-run goes on with the next chunk.
- Two workers on one batch queue on the batch row lock (``FOR UPDATE``), so
  chunk numbers and claims never overlap.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import AccountKind
from accounts.services import institution_payable, ledger_post, system_account

from . import conf
from .models import Expense, ExpenseStatus, Institution, SettlementBatch, SettlementChunk

log = logging.getLogger(__name__)


def _expense_work(institution_id: int | None, cutoff: dt.datetime) -> Q:
    q = Q(batch__isnull=True, status=ExpenseStatus.ACCEPTED, created_at__lt=cutoff)
    if institution_id is not None:
        q &= Q(institution_id=institution_id)
    return q


def _reversal_work(institution_id: int | None, cutoff: dt.datetime) -> Q:
    q = Q(
        batch__isnull=False,
        reversal_batch__isnull=True,
        status=ExpenseStatus.REVERSED,
        reversed_at__lt=cutoff,
    )
    if institution_id is not None:
        q &= Q(institution_id=institution_id)
    return q


def remaining_work(institution_id: int, cutoff: dt.datetime) -> int:
    return Expense.objects.filter(
        _expense_work(institution_id, cutoff) | _reversal_work(institution_id, cutoff)
    ).count()


def start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def settlement_start(
    *, period: dt.date, cutoff: dt.datetime, enqueue: bool = True
) -> list[SettlementBatch]:
    """Open (or reopen) the batch of ``period`` for every institution with
    unsettled work created before ``cutoff`` (and every unfinished batch), and
    send one ``settle_batch`` task per batch after commit."""
    from .tasks import settle_batch

    with transaction.atomic():
        ids = set(
            Expense.objects.filter(_expense_work(None, cutoff) | _reversal_work(None, cutoff))
            .values_list("institution_id", flat=True)
            .distinct()
        )
        ids |= set(
            SettlementBatch.objects.exclude(status=SettlementBatch.Status.DONE).values_list(
                "institution_id", flat=True
            )
        )
        batches = []
        for institution in Institution.objects.filter(pk__in=ids).order_by("pk"):
            batch, _created = SettlementBatch.objects.get_or_create(
                institution=institution, period=period, defaults={"cutoff": cutoff}
            )
            batch = SettlementBatch.objects.select_for_update().get(pk=batch.pk)
            batch.cutoff = max(batch.cutoff, cutoff)
            batch.expected_count = batch.done_count + remaining_work(institution.pk, batch.cutoff)
            if (
                batch.status == SettlementBatch.Status.DONE
                and batch.expected_count > batch.done_count
            ):
                batch.status = SettlementBatch.Status.PENDING
                batch.finished_at = None
            batch.save(update_fields=["cutoff", "expected_count", "status", "finished_at"])
            batches.append(batch)
            # Older unfinished batches of this institution are completed too.
        unfinished = SettlementBatch.objects.exclude(status=SettlementBatch.Status.DONE).exclude(
            pk__in=[b.pk for b in batches]
        )
        to_send = [b.pk for b in batches] + list(unfinished.values_list("pk", flat=True))
        if enqueue:
            for pk in to_send:
                transaction.on_commit(lambda pk=pk: settle_batch.delay(pk))
    return batches


# The picked ids are MATERIALIZED once, as one array: a semi-join could rescan
# the LIMITed subquery per row and, skipping rows this statement already
# changed, claim more than ``limit``; and ``id = ANY(array)`` updates by primary
# key (a join made the planner hash every unsettled row of the table per
# chunk, so a large batch cost quadratic time). ``after`` is a keyset hint: the
# highest id the previous chunk of this run claimed (0 = from the start);
# ``_claim`` falls back to a scan from the start before it reports "no more".
_CLAIM_EXPENSES = """
WITH picked AS MATERIALIZED (
  SELECT array_agg(id) AS ids FROM (
    SELECT id FROM claims_expense
    WHERE institution_id = %(institution)s AND batch_id IS NULL
      AND status = 'accepted' AND created_at < %(cutoff)s AND id > %(after)s
    ORDER BY id LIMIT %(limit)s FOR UPDATE
  ) s
), claimed AS (
  UPDATE claims_expense e SET batch_id = %(batch)s, batch_chunk = %(chunk)s
  WHERE e.id = ANY((SELECT ids FROM picked)::bigint[])
    AND e.batch_id IS NULL AND e.status = 'accepted'
  RETURNING e.id, e.fund_fen
)
SELECT count(*), coalesce(sum(fund_fen), 0), coalesce(max(id), 0) FROM claimed
"""

_CLAIM_REVERSALS = """
WITH picked AS MATERIALIZED (
  SELECT array_agg(id) AS ids FROM (
    SELECT id FROM claims_expense
    WHERE institution_id = %(institution)s AND batch_id IS NOT NULL
      AND reversal_batch_id IS NULL AND status = 'reversed' AND reversed_at < %(cutoff)s
      AND id > %(after)s
    ORDER BY id LIMIT %(limit)s FOR UPDATE
  ) s
), claimed AS (
  UPDATE claims_expense e SET reversal_batch_id = %(batch)s
  WHERE e.id = ANY((SELECT ids FROM picked)::bigint[])
    AND e.reversal_batch_id IS NULL AND e.status = 'reversed'
  RETURNING e.id, e.fund_fen
)
SELECT count(*), coalesce(sum(fund_fen), 0), coalesce(max(id), 0) FROM claimed
"""


def _claim(sql: str, params: dict) -> tuple[int, int, int]:
    """Claim up to ``limit`` items for the chunk; return (count, sum of fund
    parts, highest id claimed).

    PostgreSQL: one statement (above), first from the keyset hint ``after``,
    then, if that found fewer than ``limit``, from the start (an item with a
    lower id may have become claimable since), so nothing is ever skipped.
    Elsewhere (the embedded SQLite demo default, one writer at a time) the same
    claim through the ORM.
    """
    if connection.vendor == "postgresql":
        count, fund, last = 0, 0, 0
        with connection.cursor() as cursor:
            for after in dict.fromkeys((params.get("after", 0), 0)):
                limit = params["limit"] - count
                if limit <= 0:
                    break
                cursor.execute(sql, {**params, "after": after, "limit": limit})
                n, f, top = cursor.fetchone()
                count, fund, last = count + n, fund + int(f), max(last, top)
        return count, fund, last
    if sql is _CLAIM_EXPENSES:
        pending = Expense.objects.filter(
            institution_id=params["institution"],
            batch__isnull=True,
            status=ExpenseStatus.ACCEPTED,
            created_at__lt=params["cutoff"],
        )
        update = {"batch_id": params["batch"], "batch_chunk": params["chunk"]}
    else:
        pending = Expense.objects.filter(
            institution_id=params["institution"],
            batch__isnull=False,
            reversal_batch__isnull=True,
            status=ExpenseStatus.REVERSED,
            reversed_at__lt=params["cutoff"],
        )
        update = {"reversal_batch_id": params["batch"]}
    ids = list(pending.order_by("id").values_list("id", flat=True)[: params["limit"]])
    claimed = pending.filter(id__in=ids)
    totals = claimed.aggregate(n=Count("id"), fund=Sum("fund_fen"))
    claimed.update(**update)
    return totals["n"], totals["fund"] or 0, max(ids, default=0)


def _settle_one_chunk(batch_id: int, size: int, hints: dict | None = None) -> bool:
    """Claim and post one chunk of ``batch_id``. False when nothing was left
    (the batch is then marked settled). ``hints`` (kept by the caller between
    chunks) holds the highest expense and reversal ids claimed so far: only a
    starting point for the next claim (see ``_claim``), never a limit."""
    hints = {} if hints is None else hints
    with transaction.atomic():
        batch = SettlementBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None:
            return False
        number = batch.chunks_done + 1
        params = {
            "batch": batch.pk,
            "chunk": number,
            "institution": batch.institution_id,
            "cutoff": batch.cutoff,
            "limit": size,
            "after": hints.get("expense", 0),
        }
        count, fund, last = _claim(_CLAIM_EXPENSES, params)
        params["limit"] = size - count
        params["after"] = hints.get("reversal", 0)
        r_count, r_fund, r_last = 0, 0, 0
        if params["limit"] > 0:
            r_count, r_fund, r_last = _claim(_CLAIM_REVERSALS, params)
        if not count and not r_count:
            if batch.status != SettlementBatch.Status.DONE:
                batch.status = SettlementBatch.Status.DONE
                batch.finished_at = timezone.now()
                batch.expected_count = batch.done_count
                batch.save(update_fields=["status", "finished_at", "expected_count"])
            return False
        net = int(fund) - int(r_fund)
        txn = None
        if net:
            txn = ledger_post(
                idempotency_key=f"settlement:{batch.pk}:{number}",
                kind="claims.settlement",
                postings=[
                    (system_account(AccountKind.POOLED_FUND), -net),
                    (institution_payable(batch.institution_id), net),
                ],
                memo=f"settlement batch {batch.pk} chunk {number}",
            )
        SettlementChunk.objects.create(
            batch=batch,
            number=number,
            expense_count=count,
            reversal_count=r_count,
            fund_fen=fund,
            reversed_fen=r_fund,
            ledger_txn=txn,
        )
        batch.chunks_done = number
        batch.expense_count += count
        batch.reversal_count += r_count
        batch.fund_fen += int(fund)
        batch.reversed_fen += int(r_fund)
        batch.status = SettlementBatch.Status.RUNNING
        batch.expected_count = max(batch.expected_count, batch.done_count)
        batch.save()
        pause = conf.pause_inside_chunk()
        if pause:
            time.sleep(pause)
    # Only after the commit: a rolled-back chunk leaves the hints as they were.
    hints["expense"] = max(hints.get("expense", 0), last)
    hints["reversal"] = max(hints.get("reversal", 0), r_last)
    return True


def settlement_run_batch(*, batch_id: int, chunk_size: int | None = None) -> None:
    """Settle everything the batch covers, chunk by chunk, until nothing is left."""
    size = chunk_size or conf.chunk_size()
    pause = conf.chunk_pause()
    hints: dict[str, int] = {}
    while _settle_one_chunk(batch_id, size, hints):
        log.info("settlement batch %s: chunk committed", batch_id)
        if pause:
            time.sleep(pause)
