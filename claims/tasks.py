"""Settlement tasks. Sent only after commit, with ids; acks_late (settings) is
safe because every step is idempotent (see claims.settlement).

A database error (connection lost, server restarted, a deadlock that
outlasted the in-process retries) retries the task with exponential backoff
and jitter: whole chunks only ever commit, a retried task goes on with the
next one. A worker that dies is covered by ``settle_stalled`` (every minute):
it sends again a batch whose heartbeat went stale (docs/adr/0005).
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from portal.errors import Busy

from .settlement import (
    settlement_resume_stalled,
    settlement_run_batch,
    settlement_start,
    start_of_day,
)

# OperationalError: connection lost or refused, server shutting down,
# deadlock or serialization failure; InterfaceError: a connection already
# closed; Busy: a conflict still there after the in-process retries.
RETRY = dict(
    autoretry_for=(OperationalError, InterfaceError, Busy),
    retry_backoff=2,  # 2, 4, 8, ... seconds
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,  # about half an hour; then the stall sweeper takes over
)


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def settle_batch(batch_id: int) -> None:
    settlement_run_batch(batch_id=batch_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def settle_due() -> None:
    """Daily (beat): settle everything created before today, one batch per institution."""
    today = timezone.localdate()
    settlement_start(period=today, cutoff=start_of_day(today))


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def settle_stalled() -> list[int]:
    """Every minute (beat): send again the batches whose worker stopped."""
    return settlement_resume_stalled()
