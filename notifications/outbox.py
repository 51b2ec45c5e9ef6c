"""The outbox: notifications derived from durable records (ADR 0016).

Two sources, each read past a stored cursor (``OutboxCursor``):
- the audit trail (``audit.AuditEvent``): views of a member's data by someone
  else (``person.<scope>.view``, ``counter.lookup``) and family link events;
- the ledger (``accounts.JournalTransaction``): every credit and payment on a
  member's pockets, payments for a relative from the surplus, the rollover.

Each derived notification is inserted with ``ON CONFLICT DO NOTHING`` against
the unique (source, source id, recipient): a run that is repeated (a task
delivered again after its worker died, two workers at once, the hourly sweep)
creates nothing twice. The cursor and the notifications commit together.

Ids are handed out when a row is inserted, not when it commits, so a row with
a smaller id may become visible after a larger one. The cursor therefore stops
at the first gap in the ids unless the row after the gap is older than
``NOTIFICATIONS_OUTBOX_LAG_SECONDS`` (then the gap is a rolled-back insert);
rows after a young gap are read again by the next run, which is harmless. The
hourly sweep re-reads the last three hours for anything a longer transaction hid.

Only these columns of an audit event are read: id, at, action, actor,
subject_person, object_type, object_id, detail (the chain columns are not).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Delivery, EventType, Notification, OutboxCursor, Source

logger = logging.getLogger(__name__)

FAMILY_ACTIONS = frozenset(
    {
        "family.link.request",
        "family.link.approve",
        "family.link.reject",
        "family.link.confirm",
        "family.link.change",
        "family.link.renew",
        "family.link.expiry_reminder",
        "family.link.expired",
        "family.link.revoke",
        "family.link.leave",
        "family.contribution.pay",
    }
)
# The member is told of a contribution paid from their surplus by the ledger
# (a payment); the relative by the audit event.
RELATIVE_ONLY_ACTIONS = frozenset({"family.contribution.pay"})
VIEW_ACTIONS_EXTRA = frozenset({"counter.lookup"})
FAMILY_LINK_TYPE = "family.familylink"
EXPENSE_KIND = "claims.expense"
ROLLOVER_KIND = "rollover"


def is_view_action(action: str) -> bool:
    return (action.startswith("person.") and action.endswith(".view")) or (
        action in VIEW_ACTIONS_EXTRA
    )


def is_relevant_action(action: str) -> bool:
    return action in FAMILY_ACTIONS or is_view_action(action)


@dataclass(frozen=True)
class Derived:
    recipient_id: int
    source_id: int
    event_type: str
    action: str
    params: dict
    occurred_at: dt.datetime


def _lag() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "NOTIFICATIONS_OUTBOX_LAG_SECONDS", 120))


# --- The audit trail -----------------------------------------------------------


def _derive_audit(rows: list[dict]) -> list[Derived]:
    from family.models import FamilyLink
    from members.models import InsuredPerson, User

    link_ids = {
        int(r["object_id"])
        for r in rows
        if r["action"] in FAMILY_ACTIONS
        and r["object_type"] == FAMILY_LINK_TYPE
        and str(r["object_id"]).isdigit()
    }
    links = {
        link.pk: link
        for link in FamilyLink.objects.filter(pk__in=link_ids).only(
            "id", "member_id", "relative_id"
        )
    }
    person_ids = {r["subject_person_id"] for r in rows if r["subject_person_id"]}
    for link in links.values():
        person_ids.update((link.member_id, link.relative_id))
    for r in rows:
        relative = (r["detail"] or {}).get("relative")
        if isinstance(relative, int):
            person_ids.add(relative)
    people = {
        p["id"]: p
        for p in InsuredPerson.objects.filter(pk__in=person_ids).values("id", "name", "user_id")
    }
    actor_ids = {r["actor_id"] for r in rows if r["actor_id"]}
    actors = {
        u["id"]: u
        for u in User.objects.filter(pk__in=actor_ids).values("id", "is_staff", "person__name")
    }

    out: list[Derived] = []
    for r in rows:
        action, detail = r["action"], r["detail"] or {}
        if is_view_action(action):
            subject = people.get(r["subject_person_id"])
            if subject is None or not subject["user_id"]:
                continue
            if r["actor_id"] is not None and r["actor_id"] == subject["user_id"]:
                continue  # the owner's own look
            actor = actors.get(r["actor_id"]) or {}
            scope = "records" if action == "counter.lookup" else action.split(".")[1]
            out.append(
                Derived(
                    recipient_id=subject["user_id"],
                    source_id=r["id"],
                    event_type=EventType.VIEW,
                    action=action,
                    params={
                        "scope": scope,
                        "staff": bool(actor.get("is_staff")),
                        "viewer": actor.get("person__name") or "",
                    },
                    occurred_at=r["at"],
                )
            )
            continue
        if action not in FAMILY_ACTIONS:
            continue
        link = links.get(int(r["object_id"])) if str(r["object_id"]).isdigit() else None
        member_id = link.member_id if link else r["subject_person_id"]
        relative_id = link.relative_id if link else detail.get("relative")
        member, relative = people.get(member_id), people.get(relative_id)
        base = {
            "member": member["name"] if member else "",
            "relative": relative["name"] if relative else "",
        }
        if detail.get("reason"):
            base["reason"] = str(detail["reason"])[:500]
        for key in ("amount_fen", "year"):
            if isinstance(detail.get(key), int):
                base[key] = detail[key]
        roles = [("relative", relative)]
        if action not in RELATIVE_ONLY_ACTIONS:
            roles.insert(0, ("member", member))
        for role, who in roles:
            if who is None or not who["user_id"]:
                continue
            out.append(
                Derived(
                    recipient_id=who["user_id"],
                    source_id=r["id"],
                    event_type=EventType.FAMILY,
                    action=action,
                    params={**base, "role": role},
                    occurred_at=r["at"],
                )
            )
    return out


def _audit_rows(after_id: int, limit: int, since: dt.datetime | None = None) -> list[dict]:
    from audit.models import AuditEvent

    qs = AuditEvent.objects.filter(id__gt=after_id)
    if since is not None:
        qs = qs.filter(at__gte=since)
    return list(
        qs.order_by("id").values(
            "id",
            "at",
            "action",
            "actor_id",
            "subject_person_id",
            "object_type",
            "object_id",
            "detail",
        )[:limit]
    )


# --- The ledger ------------------------------------------------------------------


def _derive_ledger(rows: list[dict]) -> list[Derived]:
    from accounts.models import MEMBER_POCKETS, AccountKind, Posting
    from claims.models import Expense
    from members.models import InsuredPerson

    by_id = {r["id"]: r for r in rows}
    postings = Posting.objects.filter(
        transaction_id__in=by_id, account__kind__in=MEMBER_POCKETS
    ).values_list("transaction_id", "account__person_id", "account__kind", "amount_fen")
    moves: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for txn_id, person_id, kind, amount in postings:
        moves[(txn_id, person_id)][kind] += amount
    if not moves:
        return []
    expense_ids = [i for i, r in by_id.items() if r["kind"] == EXPENSE_KIND]
    patients = dict(
        Expense.objects.filter(ledger_txn_id__in=expense_ids).values_list(
            "ledger_txn_id", "patient_id"
        )
    )
    person_ids = {pid for _t, pid in moves} | set(patients.values())
    people = {
        p["id"]: p
        for p in InsuredPerson.objects.filter(pk__in=person_ids).values("id", "name", "user_id")
    }
    out: list[Derived] = []
    for (txn_id, person_id), pockets in sorted(moves.items()):
        person = people.get(person_id)
        if person is None or not person["user_id"]:
            continue
        txn = by_id[txn_id]
        if txn["kind"] == ROLLOVER_KIND:
            amount = pockets.get(AccountKind.MEMBER_PRIOR, 0)
            if amount <= 0:
                continue
            event, params = (
                EventType.ROLLOVER,
                {"amount_fen": amount, "year": txn["value_date"].year},
            )
        else:
            net = sum(pockets.values())
            if net == 0:
                continue  # between the member's own pockets
            params = {"amount_fen": abs(net)}
            if net > 0:
                event = EventType.CREDIT
            else:
                patient_id = patients.get(txn_id)
                if patient_id is not None and patient_id != person_id:
                    event = EventType.RELATIVE_PAYMENT
                    params["relative"] = (people.get(patient_id) or {}).get("name", "")
                else:
                    event = EventType.PAYMENT
        out.append(
            Derived(
                recipient_id=person["user_id"],
                source_id=txn_id,
                event_type=event,
                action=txn["kind"][:64],
                params=params,
                occurred_at=txn["created_at"],
            )
        )
    return out


def _ledger_rows(after_id: int, limit: int, since: dt.datetime | None = None) -> list[dict]:
    from accounts.models import JournalTransaction

    qs = JournalTransaction.objects.filter(id__gt=after_id)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return list(qs.order_by("id").values("id", "kind", "created_at", "value_date")[:limit])


SOURCES = {
    Source.AUDIT: (_audit_rows, _derive_audit, "at"),
    Source.LEDGER: (_ledger_rows, _derive_ledger, "created_at"),
}


# --- Writing -----------------------------------------------------------------------


def _store(source: str, derived: list[Derived]) -> int:
    """Insert the notifications (once each) and, with each new one, its
    immediate e-mail delivery if the recipient's choices at that moment ask
    for one (a re-read of the same events adds neither); returns how many
    notifications were new."""
    from .services import email_plan

    if not derived:
        return 0
    stored = _insert_notifications(source, derived)
    plan = email_plan({recipient for _i, recipient, _e in stored})
    Delivery.objects.bulk_create(
        [
            Delivery(
                notification_id=nid,
                recipient_id=recipient,
                channel="email",
                address=plan[recipient].address,
            )
            for nid, recipient, event_type in stored
            if plan.get(recipient) and plan[recipient].immediate(event_type)
        ],
        ignore_conflicts=True,
    )
    from .selectors import forget_unread_many

    recipients = {recipient for _i, recipient, _e in stored}
    if recipients:
        transaction.on_commit(lambda: forget_unread_many(recipients))
    return len(stored)


# The new ones of ``derived`` (ON CONFLICT DO NOTHING against
# notify_once_per_event: one stored before, or twice in one batch, once).
_INSERT_NOTIFICATIONS = """
INSERT INTO notifications_notification
  (recipient_id, source, source_id, event_type, action, params, occurred_at, created_at)
SELECT recipient_id, %s, source_id, event_type, action, params::jsonb, occurred_at, %s
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
  AS g(recipient_id, source_id, event_type, action, params, occurred_at)
ON CONFLICT (source, source_id, recipient_id) DO NOTHING
RETURNING id, recipient_id, event_type
"""


def _insert_notifications(source: str, derived: list[Derived]) -> list[tuple[int, int, str]]:
    """Store ``derived`` once each: (id, recipient, event type) of the
    notifications that were new. PostgreSQL: one statement (a run derives
    hundreds at once, one per view of a member's data); elsewhere the ORM."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_NOTIFICATIONS,
                [
                    source,
                    timezone.now(),
                    [d.recipient_id for d in derived],
                    [d.source_id for d in derived],
                    [str(d.event_type) for d in derived],
                    [d.action for d in derived],
                    [json.dumps(d.params) for d in derived],
                    [d.occurred_at for d in derived],
                ],
            )
            return list(cursor.fetchall())
    mine = Notification.objects.filter(source=source, source_id__in={d.source_id for d in derived})
    before = set(mine.values_list("id", flat=True))
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=d.recipient_id,
                source=source,
                source_id=d.source_id,
                event_type=d.event_type,
                action=d.action,
                params=d.params,
                occurred_at=d.occurred_at,
            )
            for d in derived
        ],
        ignore_conflicts=True,
    )
    return [
        row for row in mine.values_list("id", "recipient_id", "event_type") if row[0] not in before
    ]


def _next_position(position: int, rows: list[dict], at_field: str, now: dt.datetime) -> int:
    """Move past contiguous ids, and past a gap only when the row after it is
    older than the lag (the gap was a rollback, not a transaction still open)."""
    old = now - _lag()
    for row in rows:
        if row["id"] == position + 1 or row[at_field] <= old:
            position = row["id"]
        else:
            break
    return position


def _pause(name: str) -> None:
    # Fault tests (tests/notifications/test_worker.py) stop a worker here.
    seconds = float(os.environ.get(name, "0") or 0)
    if seconds:
        time.sleep(seconds)


def _run_batch(source: str, read, derive, at_field: str, scan: int | None, batch_size: int):
    """One batch in its own transaction, holding the source's cursor row
    (SKIP LOCKED: None when another run holds it). Returns (created, the last
    id read or None when nothing was left)."""
    with transaction.atomic():
        cursor = OutboxCursor.objects.select_for_update(skip_locked=True).filter(source=source)
        cursor = cursor.first()
        if cursor is None:
            return None
        start = cursor.position if scan is None else max(scan, cursor.position)
        rows = read(start, batch_size)
        if not rows:
            return 0, None
        created = _store(source, derive(rows))
        if start == cursor.position:  # past a young gap the cursor waits
            position = _next_position(cursor.position, rows, at_field, timezone.now())
            if position != cursor.position:
                OutboxCursor.objects.filter(source=source).update(
                    position=position, updated_at=timezone.now()
                )
        _pause("NOTIFICATIONS_OUTBOX_PAUSE")
        return created, rows[-1]["id"]


def outbox_run(*, batch_size: int = 500, max_seconds: float | None = None) -> int:
    """Read every source past its cursor and store what it gives; returns the
    number of new notifications. Each batch is its own transaction, so a large
    backlog (an import) moves forward even if the task is stopped by its time
    limit; a run stops after ``max_seconds`` (beat carries on). A run that
    finds a cursor locked by another run leaves that source to it."""
    if max_seconds is None:
        max_seconds = getattr(settings, "NOTIFICATIONS_OUTBOX_RUN_SECONDS", 60)
    deadline = time.monotonic() + max_seconds
    created = 0
    for source, (read, derive, at_field) in SOURCES.items():
        OutboxCursor.objects.get_or_create(source=source)
        scan = None
        while time.monotonic() < deadline:
            result = _run_batch(source, read, derive, at_field, scan, batch_size)
            if result is None:
                break  # another run holds this source
            done, last = result
            created += done
            if last is None:
                break
            scan = last
    return created


def outbox_sweep(*, hours: int = 3, batch_size: int = 2000) -> int:
    """Read the last ``hours`` of every source again (ids below the cursor
    included): a transaction that stayed open longer than the lag is caught
    here. Idempotent like every run."""
    since = timezone.now() - dt.timedelta(hours=hours)
    created = 0
    for source, (read, derive, _at) in SOURCES.items():
        scan = 0
        while True:
            rows = read(scan, batch_size, since)
            if not rows:
                break
            with transaction.atomic():
                created += _store(source, derive(rows))
            scan = rows[-1]["id"]
    return created
