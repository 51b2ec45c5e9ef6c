"""The member's own access log, built from the audit trail (docs/adr/0018).

"Who saw or used my account": every event by someone else (a relative, staff)
that showed the member's data or paid from their surplus. Reads only the
event's id, time, action, actor, subject, object and detail (the hash columns
may still be empty while an event waits to be sealed).

An event is the member's when its ``subject_person`` is the member, or when a
page that showed several persons listed them in ``detail["persons"]``
(``audit_view``). The owner's own actions are never listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import InsuredPerson
from portal.money import format_yuan

from .models import AuditEvent

VIEW = "view"
PAYMENT = "payment"

# What each listed action means to the member whose data it touched.
ACTIONS = {
    "person.balance.view": (VIEW, gettext_lazy("Saw your balance")),
    "person.records.view": (VIEW, gettext_lazy("Saw your payment record and expenses")),
    "person.pay.view": (
        VIEW,
        gettext_lazy("Opened your account with the right to pay from your surplus"),
    ),
    "family.document.view": (VIEW, gettext_lazy("Read the document of your family link")),
    "family.document.preview": (VIEW, gettext_lazy("Read the document of your family link")),
    "family.review.list": (VIEW, gettext_lazy("Saw your family request in the review queue")),
    "counter.lookup": (VIEW, gettext_lazy("Showed your payment record at the counter")),
    "settlement.batch.view": (VIEW, gettext_lazy("Saw your expense in a settlement batch")),
    "admin.list": (VIEW, gettext_lazy("Saw your data in a staff list")),
    "admin.view": (VIEW, gettext_lazy("Opened your data in the staff pages")),
    "admin.delete_confirm": (VIEW, gettext_lazy("Opened your data in the staff pages")),
    "admin.history": (VIEW, gettext_lazy("Read the change history of your data")),
    "family.surplus.pay": (PAYMENT, gettext_lazy("Paid from your prior-years surplus")),
}
PAYMENT_ACTIONS = [a for a, (kind, _label) in ACTIONS.items() if kind == PAYMENT]
VIEW_ACTIONS = [a for a, (kind, _label) in ACTIONS.items() if kind == VIEW]
# What the relative's own list shows: their views of others' accounts, and
# what a member's surplus paid for them.
OWN_VIEW_ACTIONS = ["person.balance.view", "person.records.view", "person.pay.view"]
OWN_LABELS = {
    "person.balance.view": gettext_lazy("You saw the balance"),
    "person.records.view": gettext_lazy("You saw the payment record and expenses"),
    "person.pay.view": gettext_lazy("You opened the account with the right to pay"),
    "family.surplus.pay": gettext_lazy("Their prior-years surplus paid for you"),
}

_FIELDS = (
    "id",
    "at",
    "action",
    "actor_id",
    "actor__is_staff",
    "actor__person__id",
    "actor__person__name",
    "subject_person_id",
    "object_type",
    "object_id",
    "detail",
)


@dataclass(frozen=True)
class Filters:
    who: str = ""  # "", "staff" or "person:<id>"
    kind: str = ""  # "", "view" or "payment"
    since: dt.date | None = None
    until: dt.date | None = None

    def query(self) -> dict[str, str]:
        out = {"who": self.who, "kind": self.kind}
        out["since"] = self.since.isoformat() if self.since else ""
        out["until"] = self.until.isoformat() if self.until else ""
        return out


def _date(value) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(str(value or ""))
    except ValueError:
        return None
    return day if 1990 <= day.year <= 2100 else None


def _detail_has(key: str, pk: int, *, in_list: bool = False) -> Q:
    """Events whose ``detail[key]`` is ``pk`` (or, ``in_list``, holds it).
    PostgreSQL: ``detail ? key AND detail @> ...``, served by the partial GIN
    index of migration 0007; the embedded SQLite demo: JSON functions, no
    index."""
    if connection.vendor == "postgresql":
        return Q(detail__has_key=key, detail__contains={key: [pk] if in_list else pk})
    if not in_list:
        return Q(**{f"detail__{key}": pk})
    return Q(
        pk__in=RawSQL(
            "SELECT e.id FROM audit_auditevent e, json_each(e.detail, %s) j WHERE j.value = %s",
            [f"$.{key}", pk],
        )
    )


def parse_filters(params) -> Filters:
    """Filters from a query string; anything malformed is left out (never a 500)."""
    who = str(params.get("who") or "")
    if who != "staff":
        _p, _sep, pk = who.partition(":")
        who = f"person:{int(pk)}" if _p == "person" and pk.isdigit() and len(pk) < 12 else ""
    kind = params.get("kind") or ""
    return Filters(
        who=who,
        kind=kind if kind in (VIEW, PAYMENT) else "",
        since=_date(params.get("since")),
        until=_date(params.get("until")),
    )


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _apply(qs, filters: Filters):
    if filters.kind:
        qs = qs.filter(action__in=VIEW_ACTIONS if filters.kind == VIEW else PAYMENT_ACTIONS)
    if filters.who == "staff":
        qs = qs.filter(actor__is_staff=True)
    elif filters.who.startswith("person:"):
        pk = int(filters.who.split(":", 1)[1])
        qs = qs.filter(
            Q(actor__person__id=pk) | (Q(action__in=PAYMENT_ACTIONS) & _detail_has("relative", pk))
        )
    if filters.since:
        qs = qs.filter(at__gte=_day_start(filters.since))
    if filters.until:
        qs = qs.filter(at__lt=_day_start(filters.until + dt.timedelta(days=1)))
    return qs


def _cursor(after) -> int | None:
    try:
        value = int(after)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


@dataclass(frozen=True)
class Entry:
    id: int
    at: dt.datetime
    kind: str
    action: str
    what: str
    who: str
    grant: str
    whose: str = ""  # on the relative's own list: whose account


def _grant_label(action: str, detail: dict, object_id: str) -> str:
    scope_names = {
        "balance": _("balance"),
        "records": _("payment record"),
        "pay": _("pay from the surplus"),
    }
    if action == "counter.lookup":
        return _("Power of attorney (family link #%(id)s)") % {"id": object_id}
    link = detail.get("link")
    if detail.get("as") == "relative" or link:
        scopes = ", ".join(str(scope_names.get(s, s)) for s in detail.get("scopes") or [])
        label = _("Family link #%(id)s") % {"id": link}
        return f"{label} ({scopes})" if scopes else label
    if detail.get("as") == "staff" or action.startswith(("admin.", "family.review", "settlement")):
        return _("Staff access (one-time code checked)")
    return _("Not recorded")


def _what(action: str, detail: dict, labels: dict | None = None) -> str:
    label = str((labels or {}).get(action) or ACTIONS.get(action, (VIEW, action))[1])
    if action in PAYMENT_ACTIONS and isinstance(detail.get("amount_fen"), int):
        label = _("%(what)s: %(amount)s yuan") % {
            "what": label,
            "amount": format_yuan(detail["amount_fen"]),
        }
    return label


def _who(row: dict, names: dict[int, str]) -> str:
    if row["action"] in PAYMENT_ACTIONS and isinstance(row["detail"].get("relative"), int):
        return names.get(row["detail"]["relative"], "")
    if row["actor__is_staff"]:
        return _("Staff member #%(id)s") % {"id": row["actor_id"]}
    if row["actor__person__name"]:
        return row["actor__person__name"]
    return _("The system")


def _entries(
    rows: list[dict], *, whose: dict[int, str] | None = None, labels: dict | None = None
) -> list[Entry]:
    relative_ids = {
        r["detail"].get("relative")
        for r in rows
        if r["action"] in PAYMENT_ACTIONS and isinstance(r["detail"].get("relative"), int)
    }
    names = (
        dict(InsuredPerson.objects.filter(pk__in=relative_ids).values_list("id", "name"))
        if relative_ids
        else {}
    )
    out = []
    for r in rows:
        detail = r["detail"] if isinstance(r["detail"], dict) else {}
        r["detail"] = detail
        out.append(
            Entry(
                id=r["id"],
                at=r["at"],
                kind=ACTIONS.get(r["action"], (VIEW, ""))[0],
                action=r["action"],
                what=_what(r["action"], detail, labels),
                who=_who(r, names),
                grant=_grant_label(r["action"], detail, r["object_id"]),
                whose=(whose or {}).get(r["subject_person_id"], ""),
            )
        )
    return out


def _page(qs, after, limit: int) -> tuple[list[dict], int | None]:
    cursor = _cursor(after)
    if cursor is not None:
        qs = qs.filter(id__lt=cursor)
    rows = list(qs.order_by("-id").values(*_FIELDS)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more and rows else None)


def access_log_queryset(person: InsuredPerson, filters: Filters):
    """Events by others that showed ``person``'s data or paid from their surplus."""
    qs = AuditEvent.objects.filter(
        Q(subject_person=person) | _detail_has("persons", person.pk, in_list=True),
        action__in=list(ACTIONS),
    )
    if person.user_id is not None:
        qs = qs.exclude(actor_id=person.user_id)
    return _apply(qs, filters)


def access_log(
    person: InsuredPerson, *, filters: Filters = Filters(), after=None, limit: int = 50
) -> tuple[list[Entry], int | None]:
    """One page of ``person``'s access log, newest first (keyset on id), and
    the cursor of the next page (None on the last)."""
    rows, next_cursor = _page(access_log_queryset(person, filters), after, limit)
    return _entries(rows), next_cursor


def who_choices(person: InsuredPerson) -> list[tuple[str, str]]:
    """The "who" filter: staff, and every relative ever linked to ``person``."""
    from family.selectors import relatives_ever_linked

    relatives = relatives_ever_linked(person)
    return [("staff", _("Staff")), *((f"person:{pk}", name) for pk, name in relatives)]


def own_actions(
    person: InsuredPerson, user, *, after=None, limit: int = 50
) -> tuple[list[Entry], int | None]:
    """What ``person`` (signed in as ``user``) did on other members' accounts:
    their views through a family link and the payments from a member's
    surplus for them, newest first."""
    qs = AuditEvent.objects.filter(
        Q(actor_id=user.pk, action__in=OWN_VIEW_ACTIONS)
        | (Q(action__in=PAYMENT_ACTIONS) & _detail_has("relative", person.pk))
    ).exclude(subject_person=person)
    rows, next_cursor = _page(qs, after, limit)
    subject_ids = {r["subject_person_id"] for r in rows if r["subject_person_id"]}
    whose = dict(InsuredPerson.objects.filter(pk__in=subject_ids).values_list("id", "name"))
    entries = _entries(rows, whose=whose, labels=OWN_LABELS)
    return entries, next_cursor
