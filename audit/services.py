"""Recording who saw or changed whose personal data.

Appending an event takes no lock (ADR 0014): it is inserted unsealed and a
short background step, ``audit_seal``, chains the events in order (one sealer
at a time, each event exactly once). ``verify_audit`` seals before it checks.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, models, transaction
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from portal.rows import insert_rows, stored

from .models import AuditEvent

GENESIS = "0" * 64
# Any constant: held by the sealer only (never by an append), so two sealers
# never extend the chain at once.
_SEAL_LOCK = 0x61756469
# The cache key that says a seal is already on its way (see _request_seal).
_SEAL_PENDING_KEY = "audit:seal-pending"
SEAL_DELAY_SECONDS = 1


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
    """The client's address (``REMOTE_ADDR``) as recorded. None when the
    server gave none, or something that is not an IP address (a Unix
    socket's name, say): the access is recorded all the same, without it.
    An IPv6 zone (``fe80::1%eth0``) is left out: the column cannot hold it."""
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR")
    if not address or not isinstance(address, str):
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if getattr(ip, "scope_id", None):
        return address.split("%", 1)[0]
    return address


def audit_record(
    *,
    actor,
    action: str,
    subject_person=None,
    target: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    request=None,
) -> AuditEvent:
    """Append one event, unsealed, taking no lock (ADR 0014).

    Joins the caller's transaction if any, so an access that is rolled back
    leaves no record and a recorded access cannot be lost while the caller's
    change stays. After commit a seal is requested (``_request_seal``).
    """
    event = _event(actor, action, subject_person, target, detail, request)
    insert_rows([event], signals=True)  # as save() would, without compiling it
    transaction.on_commit(_request_seal)
    return event


def audit_record_many(
    *,
    actor,
    actions: list[str],
    subject_person=None,
    target: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    request=None,
) -> list[AuditEvent]:
    """``audit_record`` for several actions on one subject at once (a page
    showing several scopes): one INSERT for all, the same events one by one
    would give, and ``post_save`` sent for each, as ``save`` would."""
    events = [_event(actor, a, subject_person, target, detail, request) for a in actions]
    if not events:
        return []
    insert_rows(events, signals=True)
    transaction.on_commit(_request_seal)
    return events


# The model's fields in its order, which ``from_db`` takes its values in
# (tests/audit hold the two equal).
ROW_FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "subject_person_id",
    "object_type",
    "object_id",
    "detail",
    "ip_address",
    "seq",
    "prev_hash",
    "hash",
)

_UNSEALED = (None, None, None)

# The columns an appended event is given (the chain's three stay empty).
EVENT_COLUMNS = (
    "at, actor_id, actor_label, action, subject_person_id,"
    " object_type, object_id, detail, ip_address"
)


class Shared(NamedTuple):
    """An event's fields but its action and detail (``_shared``), in the
    order of ``EVENT_COLUMNS``: what the events one statement appends share."""

    at: Any
    actor_id: int | None
    actor_label: str
    subject_person_id: int | None
    object_type: str
    object_id: str
    ip_address: str | None


def audit_in_statement(
    *, actor, subject_person=None, target: models.Model | None = None, request=None
) -> tuple[Shared, list]:
    """For a caller that appends events within its own statement (PostgreSQL,
    ``INSERT INTO audit_auditevent (EVENT_COLUMNS) SELECT ...``, so an
    audited read costs no statement of its own): what every event of that
    statement shares (``_shared``, without building an event: this runs on
    every relative's view), and the parameters of those columns, in order
    (``at``, actor, label, person, object type, object id, address). The
    address is text, as the field prepares it (``get_prep_value``): the
    statement casts it (``%s::inet``). After the statement,
    ``audit_appended`` with the events it wrote."""
    shared = _shared(actor, subject_person, target, request)
    ip = shared.ip_address
    return shared, [*shared[:6], None if ip is None else _ip_field().get_prep_value(ip)]


@functools.cache
def _ip_field():
    return AuditEvent._meta.get_field("ip_address")


def audit_appended(
    shared: Shared, written: list[tuple[int, str]], detail: dict
) -> list[AuditEvent]:
    """The events a caller's statement appended (``(id, action)`` each, from
    ``audit_in_statement``'s ``shared`` fields and the ``detail`` the
    statement gave them: JSON values only, as stored), marked saved with
    ``post_save`` sent and the seal requested, as ``audit_record`` does."""
    # As ``from_db`` builds a row (a keyword costs a look-up in the model's
    # fields), the chain's three left empty: on every relative's view.
    at, actor_id, label, person_id, object_type, object_id, ip = shared
    events = []
    for pk, action in written:
        row = (pk, at, actor_id, label, action, person_id, object_type, object_id, detail, ip)
        events.append(AuditEvent.from_db(DEFAULT_DB_ALIAS, ROW_FIELDS, (*row, *_UNSEALED)))
    if events:
        stored(events, signals=True)
        transaction.on_commit(_request_seal)
    return events


def _user(actor):
    """The signed-in user behind ``actor`` (None for anonymous or none).
    request.user is a lazy object: every attribute read through it costs a
    call, so take the user out once."""
    user = actor
    if isinstance(user, LazyObject):
        if user._wrapped is empty:
            user._setup()
        user = user._wrapped
    return user if getattr(user, "is_authenticated", False) else None


def _shared(actor, subject_person, target, request) -> Shared:
    """An event's fields but its action and detail: ids, not objects."""
    user = _user(actor)
    return Shared(
        at=timezone.now(),
        actor_id=user.pk if user is not None else None,
        actor_label=user.get_username() if user is not None else "system",
        subject_person_id=subject_person.pk if subject_person is not None else None,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        ip_address=_client_ip(request),
    )


def _event(actor, action, subject_person, target, detail, request) -> AuditEvent:
    return AuditEvent(
        action=action,
        detail=json.loads(json.dumps(detail or {}, default=str)),
        **_shared(actor, subject_person, target, request)._asdict(),
    )


_last_seal_request = 0.0


def _request_seal() -> None:
    """Send one seal task for the events of the next second: the first event
    after a quiet spell sends it (delayed by ``SEAL_DELAY_SECONDS``), the
    others find it on its way: a process asks the cache at most once a
    second (an ``add`` of one key, shared by every process), so an audited
    request costs no round trip at all most of the time. Beat seals every
    minute in any case, so a lost message delays a seal, never skips one.
    Without a broker (tasks run in-process) it seals at once."""
    global _last_seal_request
    if settings.CELERY_TASK_ALWAYS_EAGER:  # no broker (the embedded demo): seal now
        audit_seal()
        return
    now = time.monotonic()
    if now - _last_seal_request < SEAL_DELAY_SECONDS:
        return  # this process asked less than a second ago: that seal is coming
    _last_seal_request = now
    from django.core.cache import cache

    from .tasks import seal_audit_chain

    try:
        if not cache.add(_SEAL_PENDING_KEY, 1, timeout=SEAL_DELAY_SECONDS):
            return
        seal_audit_chain.apply_async(countdown=SEAL_DELAY_SECONDS)
    except Exception:
        import logging

        logging.getLogger(__name__).warning("audit seal request not sent", exc_info=True)


def audit_seal(*, batch_size: int = 1000) -> int:
    """Seal every event appended (and committed) so far, in id order, exactly
    once; returns how many. Each batch is one short database transaction
    holding the sealing lock (a PostgreSQL advisory lock that only sealers
    take): read the chain's head, give the oldest unsealed events the next
    positions and their hashes. A second sealer waits for the first and then
    finds those events sealed; the database also refuses to seal an event
    twice (the chain fields are set only from empty) and two events at one
    position (unique ``seq``). An event that commits after a later id was
    sealed (a long transaction) is sealed by the next run, at the end of the
    chain: the chain's order is ``seq``, not id."""
    sealed = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
            head = (
                AuditEvent.objects.filter(seq__isnull=False)
                .order_by("-seq")
                .values_list("seq", "hash")
                .first()
            )
            seq: int = int(head[0] or 0) if head else 0
            prev: str = str(head[1]) if head else GENESIS
            batch = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id")[:batch_size])
            if not batch:
                return sealed
            for event in batch:
                seq += 1
                event.seq, event.prev_hash = seq, prev
                event.hash = prev = compute_hash(prev, event)
            _store_seals(batch)
        sealed += len(batch)
        if len(batch) < batch_size:
            return sealed


def _store_seals(batch: list[AuditEvent]) -> None:
    if connection.vendor != "postgresql":
        AuditEvent.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent a SET seq = v.seq, prev_hash = v.prev, hash = v.hash"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])"
            " AS v(id, seq, prev, hash)"
            " WHERE a.id = v.id AND a.seq IS NULL",
            [
                [e.pk for e in batch],
                [e.seq for e in batch],
                [e.prev_hash for e in batch],
                [e.hash for e in batch],
            ],
        )
        if cursor.rowcount != len(batch):  # cannot happen while sealers hold the lock
            raise RuntimeError("audit events were sealed by someone else meanwhile")


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
    """Return a description of every broken link of the sealed chain (empty
    when it holds): positions 1, 2, 3, ... without a gap (a removed event
    leaves one), each event's ``prev_hash`` the hash of the one before, each
    hash that of its content. Unsealed events are not checked (seal first)."""
    problems: list[str] = []
    prev = GENESIS
    expected = 1
    for event in (
        AuditEvent.objects.filter(seq__isnull=False).order_by("seq").iterator(chunk_size=2000)
    ):
        if event.seq != expected:
            problems.append(
                f"event {event.pk}: chain position {event.seq} where {expected} was expected "
                "(entries were removed)"
            )
        if event.prev_hash != prev:
            problems.append(f"event {event.pk}: previous hash does not match event before it")
        if compute_hash(event.prev_hash or "", event) != event.hash:
            problems.append(f"event {event.pk}: content does not match its hash")
        prev = event.hash or ""
        expected = (event.seq or 0) + 1
    return problems


def audit_unsealed_count() -> int:
    return AuditEvent.objects.filter(seq__isnull=True).count()


def audit_head() -> tuple[int, str] | None:
    """(id, hash) of the newest sealed event, or None when nothing is sealed."""
    head = (
        AuditEvent.objects.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("id", "hash")
        .first()
    )
    return (int(head[0]), str(head[1])) if head else None


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
