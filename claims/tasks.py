"""Settlement tasks. Sent only after commit, with ids; acks_late (settings) is
safe because every step is idempotent (see claims.settlement)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .settlement import settlement_run_batch, settlement_start, start_of_day


@shared_task(acks_late=True, reject_on_worker_lost=True)
def settle_batch(batch_id: int) -> None:
    settlement_run_batch(batch_id=batch_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def settle_due() -> None:
    """Daily (beat): settle everything created before today, one batch per institution."""
    today = timezone.localdate()
    settlement_start(period=today, cutoff=start_of_day(today))
