"""Recording who saw or changed whose personal data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from .models import AuditEvent

GENESIS = "0" * 64
# Any constant: one advisory lock serialises appends so the chain stays linear.
_CHAIN_LOCK = 0x61756469


def _canonical(event: AuditEvent) -> str:
    return json.dumps(
        {
            "at": event.at.isoformat(),
            "actor": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "subject_person": event.subject_person_id,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "detail": event.detail,
            "ip": event.ip_address,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(f"{prev_hash}|{_canonical(event)}".encode()).hexdigest()


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor,
    action: str,
    subject_person=None,
    target: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    request=None,
) -> AuditEvent:
    """Append one event to the chain.

    Runs in its own atomic block (joins the caller's transaction if any), so an
    access that is rolled back leaves no record and a recorded access cannot be
    lost while the caller's change stays.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        actor_obj = actor if getattr(actor, "is_authenticated", False) else None
        event = AuditEvent(
            at=timezone.now(),
            actor=actor_obj,
            actor_label=(actor_obj.get_username() if actor_obj else "system"),
            action=action,
            subject_person=subject_person,
            object_type=target._meta.label_lower if target is not None else "",
            object_id=str(target.pk) if target is not None else "",
            detail=json.loads(json.dumps(detail or {}, default=str)),
            ip_address=_client_ip(request),
            prev_hash=last or GENESIS,
        )
        event.hash = compute_hash(event.prev_hash, event)
        event.save(force_insert=True)
        return event


def audit_view(
    *,
    actor,
    action: str,
    persons: Iterable[int | None],
    target: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    request=None,
) -> AuditEvent | None:
    """One event for one page (a list included) that showed these persons.

    ``persons`` are InsuredPerson ids, recorded sorted and once each in
    ``detail["persons"]`` (find them with ``detail__persons__contains=[id]``);
    when the page showed exactly one person it is also the event's
    ``subject_person``. A page that showed nobody records nothing.
    """
    ids = sorted({int(pk) for pk in persons if pk is not None})
    if not ids:
        return None
    from members.models import InsuredPerson

    return audit_record(
        actor=actor,
        action=action,
        subject_person=InsuredPerson(pk=ids[0]) if len(ids) == 1 else None,
        target=target,
        detail={**(detail or {}), "persons": ids},
        request=request,
    )


def audit_verify() -> list[str]:
    """Return a description of every broken link (empty when the chain holds)."""
    problems: list[str] = []
    prev = GENESIS
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != prev:
            problems.append(f"event {event.pk}: previous hash does not match event before it")
        if compute_hash(event.prev_hash, event) != event.hash:
            problems.append(f"event {event.pk}: content does not match its hash")
        prev = event.hash
    return problems


def audit_head() -> tuple[int, str] | None:
    """(id, hash) of the newest event, or None when the trail is empty."""
    return AuditEvent.objects.order_by("-id").values_list("id", "hash").first()


def audit_check_anchors(anchors: list[tuple[int, str]]) -> list[str]:
    """Anchors are chain heads recorded OUTSIDE the database (``verify_audit
    --anchor-file``). A hash chain alone cannot show that its newest entries
    were removed, or that the whole chain was recomputed by someone with
    database access; an anchor can: the recorded event must still be there
    with the same hash."""
    problems: list[str] = []
    stored = dict(
        AuditEvent.objects.filter(pk__in=[pk for pk, _h in anchors]).values_list("id", "hash")
    )
    for pk, digest in anchors:
        if pk not in stored:
            problems.append(f"anchor {pk}: event missing (entries were removed)")
        elif stored[pk] != digest:
            problems.append(f"anchor {pk}: hash differs (the chain was rewritten)")
    return problems
