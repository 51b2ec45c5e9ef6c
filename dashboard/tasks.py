from celery import shared_task

from .services import compact_read_versions


@shared_task(acks_late=True)
def compact_read_versions_task(batch: int = 50_000) -> int:
    """Nightly (beat): fold each person's read-version rows into one with the
    same sum (docs/adr/0006), so reading a version stays one short index
    scan. Safe to run twice at once or again."""
    return compact_read_versions(batch=batch)
