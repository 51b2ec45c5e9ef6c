"""Sealing the audit chain in the background (ADR 0014)."""

from __future__ import annotations

from celery import shared_task

from .services import audit_seal


# Sent by the request path at most once a second and never waited for: no
# result is kept (storing and subscribing to one cost the sender a round trip).
@shared_task(acks_late=True, ignore_result=True)
def seal_audit_chain() -> int:
    """Seal the events appended so far: sent about a second after an audited
    access (``audit.services._request_seal``) and every minute by beat. Safe
    to run twice at once or again: one sealer at a time, each event once."""
    return audit_seal()
