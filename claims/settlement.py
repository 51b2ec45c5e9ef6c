"""Settlement: the pooled fund pays each institution what it owes, exactly once.

The rules (docs/adr/0005-settlement-exactly-once.md):

- What is still to settle is a narrow queue, ``SettlementWork``: a row per
  accepted expense not yet settled and per reversal of a settled expense not
  yet settled, written by the transaction that creates the work.
- A chunk claims work by DELETING queue rows (a row is deleted once, whoever
  runs the task how often) and records each claimed item (by COPY) in the
  insert-only ``SettlementEntry``, whose primary key (expense, reversal) lets
  the database itself refuse a second settlement. The wide ``claims_expense``
  row is never written by settlement.
- Each chunk is ONE database transaction holding: the claim, its entries, its
  ``SettlementChunk`` row (unique per batch and number), the batch's counters,
  and ONE ledger transaction keyed ``settlement:<batch>:<chunk>`` (pooled fund
  -> institution payable for the net of the claimed fund parts). A worker
  killed at any point leaves whole chunks only; a re-run goes on with the next
  chunk.
- Two workers on one batch queue on the batch row lock (``FOR UPDATE``), so
  chunk numbers and claims never overlap.
- A worker that settles a batch refreshes its heartbeat (task start, each
  chunk); the stall sweeper (``settlement_resume_stalled``, every minute by
  beat) sends again every unfinished batch whose heartbeat is older than
  ``CLAIMS_SETTLEMENT_STALL_SECONDS`` and whose row no chunk holds, so a
  batch whose worker died is finished within minutes, not when the broker
  redelivers the lost message. Sending a batch twice is harmless (above).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import AccountKind
from accounts.services import institution_payable, ledger_post, system_account
from portal.transactions import retry_on_conflict

from . import conf
from .models import Institution, SettlementBatch, SettlementChunk, SettlementEntry, SettlementWork

log = logging.getLogger(__name__)

Kind = SettlementWork.Kind


def _work(institution_id: int | None, cutoff: dt.datetime):
    qs = SettlementWork.objects.filter(due_at__lt=cutoff)
    if institution_id is not None:
        qs = qs.filter(institution_id=institution_id)
    return qs


def remaining_work(institution_id: int, cutoff: dt.datetime) -> int:
    return _work(institution_id, cutoff).count()


def start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@retry_on_conflict
def settlement_start(
    *, period: dt.date, cutoff: dt.datetime, enqueue: bool = True
) -> list[SettlementBatch]:
    """Open (or reopen) the batch of ``period`` for every institution with
    unsettled work created before ``cutoff`` (and every unfinished batch), and
    send one ``settle_batch`` task per batch after commit."""
    from .tasks import settle_batch

    with transaction.atomic():
        # One index probe per institution (claims_work_queue), not a pass
        # over the whole queue.
        due = _work(None, cutoff).filter(institution_id=OuterRef("pk"))
        ids = set(Institution.objects.filter(Exists(due)).values_list("pk", flat=True))
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
            if batch.status != SettlementBatch.Status.DONE:
                batch.heartbeat_at = timezone.now()  # sent now: not stalled
            batch.save(
                update_fields=["cutoff", "expected_count", "status", "finished_at", "heartbeat_at"]
            )
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


# The pick reads the queue (index claims_work_queue: by institution, from the
# keyset hint ``after``) and hands the DELETE the rows' ctids, so each row is
# found again without an index descent. The DELETE is the claim: a row another
# transaction deleted meanwhile is skipped (READ COMMITTED re-check), so
# ``claimed`` may be fewer than ``picked`` and ``_claim`` then picks again.
# The statement returns the chunk's totals and its settlement entries as COPY
# text, which ``_claim`` COPYs into claims_settlemententry in the same
# transaction: COPY writes a page of rows per WAL record where INSERT ...
# SELECT writes one per row (settling a million claims took a third longer).
# The entries come as one ``string_agg`` of the ids per kind, the rest of the
# line (``\t<reversal>\t<batch>\t<chunk>\n``) being the separator, and the
# kind is compared once per row (``rev``): building each line by
# concatenation and comparing the kind in every aggregate cost an eighth of
# the statement (issue 16, eleventh round).
_CLAIM = """
WITH picked AS MATERIALIZED (
  SELECT ARRAY(
    SELECT ctid FROM claims_settlementwork
    WHERE institution_id = %(institution)s AND expense_id > %(after)s
      AND due_at < %(cutoff)s
    ORDER BY institution_id, expense_id LIMIT %(limit)s
  ) AS tids
), claimed AS (
  DELETE FROM claims_settlementwork w
  WHERE w.ctid = ANY((SELECT tids FROM picked)::tid[])
  RETURNING w.expense_id, w.kind = 'reversal' AS rev, w.fund_fen
)
SELECT (SELECT cardinality(tids) FROM picked),
       count(*) FILTER (WHERE NOT rev),
       coalesce(sum(fund_fen) FILTER (WHERE NOT rev), 0),
       count(*) FILTER (WHERE rev),
       coalesce(sum(fund_fen) FILTER (WHERE rev), 0),
       coalesce(max(expense_id), 0),
       min(expense_id) FILTER (WHERE NOT rev),
       max(expense_id) FILTER (WHERE NOT rev),
       string_agg(expense_id::text, %(expense_tail)s) FILTER (WHERE NOT rev),
       string_agg(expense_id::text, %(reversal_tail)s) FILTER (WHERE rev)
FROM claimed
"""
_COPY_ENTRIES = "COPY claims_settlemententry (expense_id, reversal, batch_id, chunk) FROM STDIN"


class Claimed:
    """What one chunk claimed: counts and fund parts per kind, the highest id
    of all, and the lowest and highest id of the expenses (not reversals)."""

    def __init__(self) -> None:
        self.count = self.fund = self.r_count = self.r_fund = self.last = 0
        self.lowest: int | None = None
        self.highest: int | None = None

    def add(
        self,
        count: int,
        fund: int,
        r_count: int,
        r_fund: int,
        last: int,
        lowest: int | None = None,
        highest: int | None = None,
    ) -> None:
        self.count += count
        self.fund += int(fund)
        self.r_count += r_count
        self.r_fund += int(r_fund)
        self.last = max(self.last, last)
        self.lowest = _lower(self.lowest, lowest)
        self.highest = _higher(self.highest, highest)

    @property
    def total(self) -> int:
        return self.count + self.r_count


def _lower(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _higher(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _claim(params: dict) -> Claimed:
    """Claim up to ``limit`` queued items for the chunk.

    PostgreSQL: the statement above, first from the keyset hint ``after``
    (the highest expense id this run claimed), then, when that found fewer
    than ``limit``, from the start (an item with a lower id may have been
    queued since), so nothing is ever skipped; and again whenever some picked
    rows were taken by another transaction meanwhile. Elsewhere (the embedded
    SQLite demo default, one writer at a time) the same through the ORM.
    """
    got = Claimed()
    limit = params["limit"]
    if connection.vendor != "postgresql":
        work = _work(params["institution"], params["cutoff"]).order_by("expense_id")
        rows = list(work.values_list("expense_id", "kind", "fund_fen")[:limit])
        SettlementWork.objects.filter(expense_id__in=[r[0] for r in rows]).delete()
        SettlementEntry.objects.bulk_create(
            SettlementEntry(
                expense_id=pk,
                reversal=kind == Kind.REVERSAL,
                batch_id=params["batch"],
                chunk=params["chunk"],
            )
            for pk, kind, _fund in rows
        )
        for pk, kind, fund in rows:
            if kind == Kind.REVERSAL:
                got.add(0, 0, 1, fund, pk)
            else:
                got.add(1, fund, 0, 0, pk, pk, pk)
        return got
    after = params.get("after", 0)
    tails = {
        "expense_tail": f"\tf\t{params['batch']}\t{params['chunk']}\n",
        "reversal_tail": f"\tt\t{params['batch']}\t{params['chunk']}\n",
    }
    with connection.cursor() as cursor:
        while got.total < limit:
            want = limit - got.total
            cursor.execute(_CLAIM, {**params, **tails, "after": after, "limit": want})
            picked, *counts, expenses, reversals = cursor.fetchone()
            if expenses or reversals:
                with cursor.cursor.copy(_COPY_ENTRIES) as copy:
                    if expenses:
                        copy.write(expenses + tails["expense_tail"])
                    if reversals:
                        copy.write(reversals + tails["reversal_tail"])
            got.add(*counts)
            if counts[0] + counts[2] < picked:
                continue  # some were taken meanwhile by another batch: pick again
            if picked < want:  # the queue ended
                if after == 0:
                    break
                after = 0  # look again from the start before saying "no more"
    return got


@retry_on_conflict
def _settle_one_chunk(batch_id: int, size: int, hints: dict | None = None) -> bool:
    """Claim and post one chunk of ``batch_id``. False when nothing was left
    (the batch is then marked settled). ``hints`` (kept by the caller between
    chunks) holds the highest expense id claimed so far: only a starting
    point for the next claim (see ``_claim``), never a limit."""
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
        got = _claim(params)
        count, fund, r_count, r_fund = got.count, got.fund, got.r_count, got.r_fund
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
        batch.lowest_expense_id = _lower(batch.lowest_expense_id, got.lowest)
        batch.highest_expense_id = _higher(batch.highest_expense_id, got.highest)
        batch.status = SettlementBatch.Status.RUNNING
        batch.expected_count = max(batch.expected_count, batch.done_count)
        batch.heartbeat_at = timezone.now()
        batch.save()
        pause = conf.pause_inside_chunk()
        if pause:
            time.sleep(pause)
    # Only after the commit: a rolled-back chunk leaves the hints as they were.
    hints["expense"] = max(hints.get("expense", 0), got.last)
    return True


def _heartbeat(batch_id: int) -> None:
    """A worker took the batch: it is settling (waits for a chunk another
    worker holds, like the chunks do)."""
    SettlementBatch.objects.filter(pk=batch_id).exclude(status=SettlementBatch.Status.DONE).update(
        status=SettlementBatch.Status.RUNNING, heartbeat_at=timezone.now()
    )


def settlement_run_batch(*, batch_id: int, chunk_size: int | None = None) -> None:
    """Settle everything the batch covers, chunk by chunk, until nothing is left."""
    size = chunk_size or conf.chunk_size()
    pause = conf.chunk_pause()
    hints: dict[str, int] = {}
    _heartbeat(batch_id)
    while _settle_one_chunk(batch_id, size, hints):
        log.info("settlement batch %s: chunk committed", batch_id)
        if pause:
            time.sleep(pause)


@retry_on_conflict
def settlement_resume_stalled(
    *, stall_seconds: float | None = None, enqueue: bool = True
) -> list[int]:
    """Send ``settle_batch`` again for every unfinished batch with no sign of
    a worker for ``stall_seconds`` (default ``CLAIMS_SETTLEMENT_STALL_SECONDS``):
    its worker died or its message was lost. Run every minute by beat.

    A batch whose row a chunk holds is skipped (``SKIP LOCKED``: a worker is
    on it, however long the chunk). Each batch sent again gets a fresh
    heartbeat (so it is sent at most once per stall period) and counts the
    resumption, which the staff page shows. Returns the ids sent.
    """
    from .tasks import settle_batch

    stall = conf.stall_seconds() if stall_seconds is None else stall_seconds
    now = timezone.now()
    with transaction.atomic():
        stalled = list(
            SettlementBatch.objects.select_for_update(skip_locked=True)
            .exclude(status=SettlementBatch.Status.DONE)
            .filter(
                Q(heartbeat_at__lt=now - dt.timedelta(seconds=stall)) | Q(heartbeat_at__isnull=True)
            )
            .order_by("pk")
        )
        for batch in stalled:
            batch.heartbeat_at = now
            batch.resumed_count += 1
            batch.save(update_fields=["heartbeat_at", "resumed_count"])
            log.warning(
                "settlement batch %s: no worker for %ss (status %s), sent again",
                batch.pk,
                stall,
                batch.status,
            )
            if enqueue:
                transaction.on_commit(lambda pk=batch.pk: settle_batch.delay(pk))
    return [b.pk for b in stalled]
