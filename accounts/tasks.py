from celery import shared_task
from django.utils import timezone

from .services import ledger_fold_deltas, rollover_year


@shared_task(acks_late=True)
def rollover_year_task(year: int | None = None) -> dict:
    """Beat runs this on 1 January (Asia/Shanghai) for the year that just ended.

    Safe under acks_late redelivery: each member gets one ``Rollover`` record
    per year (unique), so a second delivery finds them done, and a completed
    year returns at once (docs/adr/0002)."""
    year = year or timezone.localdate().year - 1
    result = rollover_year(year=year)
    return {
        "year": result.year,
        "members_rolled": result.members_rolled,
        "fen_moved": result.fen_moved,
    }


@shared_task(acks_late=True)
def fold_balance_deltas() -> int:
    """Every minute (beat): fold the shared accounts' pending balance deltas
    into their snapshots (ADR 0001). Safe to run twice at once or again."""
    return ledger_fold_deltas()
