"""Look-ups that return the object together with what the viewer may do with
it (healthchecks' ``_get_check_for_user``, zulip's ``access_stream_by_id``).

A stranger learns nothing: a person, link or document the viewer may not see
answers 404 exactly like one that does not exist. Access is never cached
beyond the request: every request re-reads the links in effect, so ending a
link stops access at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from audit.services import (
    EVENT_COLUMNS,
    audit_appended,
    audit_in_statement,
    audit_record,
    audit_record_many,
)
from family.models import FamilyLink, LinkStatus
from members.models import InsuredPerson
from portal.prepared import prepared_cursor

from .middleware import NotVisible
from .rules import ALL_SCOPES, STAFF_SCOPES, Scope, pay_eligible, pay_refusal
from .viewer import Viewer, viewer_for

# --- persons -------------------------------------------------------------------


@dataclass
class PersonAccess:
    """What ``viewer`` may do with ``person``.

    ``scopes``: the scopes held now (``pay`` only while ``pay_eligible``);
    ``via``: "owner", "staff", "link" or "" (nothing);
    ``shows_id_number``: the full identity number may be shown (owner and
    verified staff; everybody else sees it masked);
    ``audited``: every view is recorded (everybody but the owner)."""

    viewer: Viewer
    person: InsuredPerson | None
    scopes: frozenset[str] = frozenset()
    via: str = ""
    link: FamilyLink | None = None
    _required: list[str] = field(default_factory=list)
    _audited: set[str] = field(default_factory=set)

    @property
    def is_owner(self) -> bool:
        return self.via == "owner"

    @property
    def shows_id_number(self) -> bool:
        return self.via in ("owner", "staff")

    @property
    def audited(self) -> bool:
        return self.person is not None and not self.is_owner

    @property
    def pay_granted_not_eligible(self) -> bool:
        """The link grants ``pay`` but the rules refuse it now (a province
        change, no personal account): pages say so instead of promising it."""
        return self.link is not None and self.link.scope_pay and Scope.PAY not in self.scopes

    def may(self, scope: str) -> bool:
        return str(scope) in self.scopes

    @property
    def may_open(self) -> bool:
        """The person's overview may be opened: owner, verified staff, or a
        link in effect (even one whose only grant, ``pay``, cannot be used
        now: the page says why)."""
        return self.person is not None and (bool(self.scopes) or self.link is not None)

    def require(self, scope: str | None = None) -> InsuredPerson:
        """The person, if the viewer holds ``scope`` (when None: ``may_open``);
        NotVisible (a 404) otherwise, as for a person who does not exist."""
        if not self.may_open or self.person is None:
            raise NotVisible
        if scope is not None:
            if str(scope) not in self.scopes:
                raise NotVisible
            if str(scope) not in self._required:
                self._required.append(str(scope))
        return self.person

    def audit(self, request=None, *scopes: str) -> None:
        """Record ``person.<scope>.view`` for each scope used (those given, or
        those required so far), once each, when the viewer is not the owner."""
        if not self.audited:
            return
        new = []
        for scope in [str(s) for s in scopes] or list(self._required):
            if scope in self._audited or scope not in self.scopes:
                continue
            self._audited.add(scope)
            new.append(f"person.{scope}.view")
        if len(new) == 1:
            audit_record(
                actor=self.viewer.user,
                action=new[0],
                subject_person=self.person,
                target=self.person,
                detail=self.grant_detail(),
                request=request,
            )
        elif new:  # a page showing several scopes: one INSERT
            audit_record_many(
                actor=self.viewer.user,
                actions=new,
                subject_person=self.person,
                target=self.person,
                detail=self.grant_detail(),
                request=request,
            )

    def grant_detail(self) -> dict:
        """What the access rests on, kept in the audit event (the member's
        access log shows it): ``{"as": "staff"}``, or the relative's link and
        its scopes at that moment."""
        if self.via == "staff":
            return {"as": "staff"}
        if self.link is not None:
            return {"as": "relative", "link": self.link.pk, "scopes": self.link.scopes()}
        return {}


def _person(person_id) -> InsuredPerson | None:
    try:
        return InsuredPerson.objects.get(pk=int(person_id))
    except (InsuredPerson.DoesNotExist, TypeError, ValueError, OverflowError):
        return None


def person_access(
    viewer: Viewer,
    person_id,
    *,
    person: InsuredPerson | None = None,
    record: tuple[str, ...] = (),
    request=None,
) -> PersonAccess:
    """What ``viewer`` may do with the person ``person_id`` (or ``person``,
    when the caller already holds the row).

    ``record``: scopes the caller shows at once if held (``balance``,
    ``records``, ``pay``, ``errands``). When a relative holds them through a
    link, their views are recorded by the link's look-up itself, in the same
    statement (PostgreSQL; docs/adr/0014), and ``audit`` does not record them
    again; the caller must then show them (or fail)."""
    if person is None:
        person = _person(person_id)
    if person is None or not viewer.is_authenticated or viewer.institution is not None:
        return PersonAccess(viewer, None)
    if viewer.owns(person):
        return PersonAccess(viewer, person, frozenset(str(s) for s in ALL_SCOPES), "owner")
    if viewer.is_verified_staff:
        return PersonAccess(viewer, person, frozenset(str(s) for s in STAFF_SCOPES), "staff")
    own = viewer.person
    if own is None:
        return PersonAccess(viewer, person)
    if Scope.PAY in record and pay_refusal(person, own) is not None:
        # ``pay`` is held when the link grants it and the rules let these two
        # persons share (``pay_eligible``): the second part asks only the
        # persons, known now, so the look-up records it only when both hold.
        record = tuple(s for s in record if s != Scope.PAY)
    link, recorded = _link_in_effect(viewer, person, own, record, request)
    if link is None:
        return PersonAccess(viewer, person)
    scopes = {s for s in link.scopes() if s != Scope.PAY}
    if pay_eligible(link):
        scopes.add(str(Scope.PAY))
    access = PersonAccess(viewer, person, frozenset(scopes), "link", link)
    access._audited.update(recorded)
    return access


def person_for_request(request, person_id, scope: str) -> InsuredPerson:
    """The person after ``require(scope)`` and ``audit``: the one-line form
    for views (replaces ``portal.access.person_for_viewer``)."""
    access = person_access(viewer_for(request), person_id, record=(str(scope),), request=request)
    person = access.require(scope)
    access.audit(request)
    return person


# The scopes a link's look-up can record a view of, and the column granting
# each (``pay`` is asked for only when the rules let the two persons share:
# ``person_access``).
_RECORDED_IN_LOOKUP = {
    "balance": "scope_balance",
    "records": "scope_records",
    "pay": "scope_pay",
    "errands": "scope_errands",
}
_LINK_FIELDS = FamilyLink._meta.concrete_fields
_LINK_ATTNAMES = [f.attname for f in _LINK_FIELDS]
_LINK_COLUMNS = ", ".join(f"link.{f.column}" for f in _LINK_FIELDS)
# ``FamilyLink.objects.in_effect()``, the lowest id first.
_LINK_SQL = (  # noqa: S608 (the model's column names)
    "WITH link AS (SELECT {} FROM family_familylink"
    " WHERE member_id = %s AND relative_id = %s AND status = %s"
    " AND (relative_confirmed_at IS NOT NULL OR relative_is_minor)"
    " AND (expires_at IS NULL OR expires_at > %s) ORDER BY id LIMIT 1)"
).format(", ".join(str(f.column) for f in _LINK_FIELDS))
# ``PersonAccess.grant_detail`` of the link, in SQL (``scopes`` in the order
# of ``FamilyLink.scopes()``).
_GRANT_DETAIL_SQL = (
    "jsonb_build_object('as', 'relative', 'link', link.id, 'scopes', to_jsonb(array_remove(ARRAY["
    "CASE WHEN link.scope_balance THEN 'balance' END,"
    " CASE WHEN link.scope_records THEN 'records' END,"
    " CASE WHEN link.scope_pay THEN 'pay' END,"
    " CASE WHEN link.scope_errands THEN 'errands' END], NULL)))"
)


@functools.cache
def _link_and_events_sql(record: tuple[str, ...]) -> str:
    """The look-up, appending an event for each scope of ``record`` (keys of
    ``_RECORDED_IN_LOOKUP``: names and fixed text only) the link grants."""
    if not record:
        return f"{_LINK_SQL} SELECT {_LINK_COLUMNS}, NULL::bigint, NULL::text FROM link"  # noqa: S608
    granted = " ".join(f"WHEN '{s}' THEN link.{_RECORDED_IN_LOOKUP[s]}" for s in record)
    # The scopes are part of the text (names from ``_RECORDED_IN_LOOKUP``
    # only), not a parameter: an array parameter is dumped by psycopg in
    # Python on every view. The address is sent as text and cast here.
    scopes = ", ".join(f"'{s}'" for s in record)
    return (
        f"{_LINK_SQL}, event AS (INSERT INTO audit_auditevent ({EVENT_COLUMNS})"  # noqa: S608
        " SELECT %s, %s, %s, 'person.' || s.scope || '.view', %s, %s, %s,"
        f" {_GRANT_DETAIL_SQL}, %s::inet"
        f" FROM link, unnest(ARRAY[{scopes}]::text[]) WITH ORDINALITY AS s(scope, n)"
        f" WHERE CASE s.scope {granted} ELSE false END ORDER BY s.n RETURNING id, action)"
        f" SELECT {_LINK_COLUMNS}, e.id, e.action FROM link LEFT JOIN event e ON true"
        " ORDER BY e.id"
    )


def _link_in_effect(
    viewer: Viewer, member: InsuredPerson, relative: InsuredPerson, record, request
) -> tuple[FamilyLink | None, list[str]]:
    """The link in effect from ``member`` to ``relative`` (as
    ``FamilyLink.objects.in_effect()``, the lowest id first), with both
    persons set on it; and the scopes of ``record`` whose view was recorded.

    PostgreSQL: one prepared statement, which also appends an event
    ``person.<scope>.view`` for each scope of ``record`` the link grants,
    with the detail ``PersonAccess.grant_detail`` gives; anything else asks
    the ORM and records nothing (``audit`` does)."""
    if connection.vendor != "postgresql":
        link = (
            FamilyLink.objects.in_effect()
            .filter(member=member, relative=relative)
            .select_related("member", "relative")
            .first()
        )
        return link, []
    record = tuple(s for s in record if s in _RECORDED_IN_LOOKUP)
    params: list = [member.pk, relative.pk, str(LinkStatus.APPROVED), timezone.now()]
    shared = None
    if record:
        shared, values = audit_in_statement(
            actor=viewer.user, subject_person=member, target=member, request=request
        )
        params += values
    with prepared_cursor(connection) as cursor:
        cursor.execute(_link_and_events_sql(record), params)
        rows = cursor.fetchall()
    if not rows:
        return None, []
    link = FamilyLink.from_db(connection.alias, _LINK_ATTNAMES, rows[0][: len(_LINK_FIELDS)])
    link.member, link.relative = member, relative
    written = [(row[-2], row[-1]) for row in rows if row[-2] is not None]
    if shared is not None and written:
        audit_appended(
            shared, written, {"as": "relative", "link": link.pk, "scopes": link.scopes()}
        )
    return link, [action.split(".")[1] for _pk, action in written]


# --- links and their documents --------------------------------------------------


@dataclass
class LinkAccess:
    """What ``viewer`` may do with a family link: its member and its relative
    see it and may end it; verified staff see it (and its document) to
    review; the document is the member's and staff's only."""

    viewer: Viewer
    link: FamilyLink | None
    is_member: bool = False
    is_relative: bool = False
    is_staff: bool = False

    @property
    def shows_id_number(self) -> bool:
        """Both parties' full identity numbers: verified staff only."""
        return self.is_staff

    @property
    def may_see(self) -> bool:
        return self.link is not None and (self.is_member or self.is_relative or self.is_staff)

    @property
    def may_end(self) -> bool:
        return self.link is not None and (self.is_member or self.is_relative)

    @property
    def may_see_document(self) -> bool:
        return self.link is not None and (self.is_member or self.is_staff)

    def require(self) -> FamilyLink:
        if not self.may_see or self.link is None:
            raise NotVisible
        return self.link

    def require_document(self) -> FamilyLink:
        if not self.may_see_document or self.link is None:
            raise NotVisible
        return self.link


def link_access(viewer: Viewer, link_id) -> LinkAccess:
    if not viewer.is_authenticated or viewer.institution is not None:
        return LinkAccess(viewer, None)
    try:
        link = FamilyLink.objects.select_related(
            "member", "relative", "member__user", "relative__user", "reviewed_by"
        ).get(pk=int(link_id))
    except (FamilyLink.DoesNotExist, TypeError, ValueError, OverflowError):
        return LinkAccess(viewer, None)
    uid = viewer.user_id
    return LinkAccess(
        viewer,
        link,
        is_member=link.member.user_id == uid,
        is_relative=link.relative.user_id == uid,
        is_staff=viewer.is_verified_staff,
    )


def document_access(viewer: Viewer, link_id) -> LinkAccess:
    """The link whose uploaded document ``viewer`` asks for (``require_document``)."""
    return link_access(viewer, link_id)


def link_for_request(request, link_id) -> FamilyLink:
    return link_access(viewer_for(request), link_id).require()


def document_for_request(request, link_id) -> FamilyLink:
    return document_access(viewer_for(request), link_id).require_document()


# --- links in effect, as the other pages need them -----------------------------------


def grants_received(person: InsuredPerson) -> list[FamilyLink]:
    """Links in effect naming ``person`` as the relative: the members whose
    accounts they may open, in one query (two when there are any: most
    members are nobody's relative, and a plain-SQL probe costs a fraction of
    compiling the full query; docs/adr/0006)."""
    from portal.replica import reading

    with prepared_cursor(reading(FamilyLink)) as cursor:
        cursor.execute(
            "SELECT 1 FROM family_familylink WHERE relative_id = %s AND status = %s LIMIT 1",
            [person.pk, str(LinkStatus.APPROVED)],
        )
        if cursor.fetchone() is None:
            return []
    return list(
        FamilyLink.objects.in_effect()
        .filter(relative=person)
        .select_related("member", "relative")
        .order_by("member__name", "id")
    )


def grant_from(viewer: Viewer, member_id) -> FamilyLink | None:
    """The link in effect from ``member_id`` to the viewer, if any."""
    own = viewer.person
    try:
        member_id = int(member_id)
    except (TypeError, ValueError):
        return None
    if own is None:
        return None
    return (
        FamilyLink.objects.in_effect()
        .filter(member_id=member_id, relative=own)
        .select_related("member", "relative")
        .first()
    )


def links_in_effect_of(person: InsuredPerson) -> list[FamilyLink]:
    """Links in effect in either direction (the yearly summary's spouse and
    minor children), in one query."""
    from django.db.models import Q

    return list(
        FamilyLink.objects.in_effect()
        .filter(Q(member=person) | Q(relative=person))
        .select_related("member", "relative")
        .order_by("id")
    )


# Whether ``patient`` may have a link letting them pay (a superset of
# ``payment_grants_for``: an approved link to them granting ``pay``), as a
# condition on ``%(patient)s`` and ``%(approved)s``: asked within another
# statement by a caller that reads more at once (expense submission).
PAY_GRANT_PROBE_SQL = (
    "EXISTS (SELECT 1 FROM family_familylink"
    " WHERE relative_id = %(patient)s AND status = %(approved)s AND scope_pay)"
)
PAY_GRANT_PROBE_APPROVED = str(LinkStatus.APPROVED)


def payment_grants_for(*, patient: InsuredPerson, probed: bool | None = None) -> list[FamilyLink]:
    """Links in effect letting ``patient`` pay from a member's prior-years
    surplus now (``pay_eligible``), oldest first. Callers apply
    ``pay_yearly_cap_fen`` (None = no cap). Read on every expense
    submission, and most patients have no such link: a plain-SQL probe on a
    superset of the filter (an approved link to ``patient`` that may pay)
    answers them for a fraction of compiling the full query (docs/adr/0006).
    ``probed``: the probe's answer, when the caller asked ``PAY_GRANT_PROBE_SQL``
    itself."""
    from portal.replica import reading

    if probed is None:
        with prepared_cursor(reading(FamilyLink)) as cursor:
            cursor.execute(
                f"SELECT {PAY_GRANT_PROBE_SQL}",
                {"patient": patient.pk, "approved": PAY_GRANT_PROBE_APPROVED},
            )
            probed = bool(cursor.fetchone()[0])
    if not probed:
        return []
    links = (
        FamilyLink.objects.in_effect()
        .filter(relative=patient, scope_pay=True)
        .exclude(member=patient)
        .select_related("member", "relative")
        .order_by("id")
    )
    return [link for link in links if pay_eligible(link)]


# --- the electronic certificate ------------------------------------------------------


def errand_grants(viewer: Viewer) -> list[FamilyLink]:
    """Links in effect letting the viewer run errands for their member."""
    own = viewer.person
    if own is None:
        return []
    return list(
        FamilyLink.objects.in_effect()
        .filter(relative=own, scope_errands=True)
        .select_related("member")
        .order_by("id")
    )


def ecert_subjects(viewer: Viewer) -> list[InsuredPerson]:
    """Whose e-certificate QR the viewer may show: themself, and each relative
    who may pay from the viewer's surplus now (a link the viewer granted, in
    effect, ``pay_eligible``)."""
    own = viewer.person
    if own is None:
        return []
    links = (
        FamilyLink.objects.in_effect()
        .filter(member=own, scope_pay=True)
        .select_related("member", "relative")
        .order_by("relative__name", "id")
    )
    return [own, *(link.relative for link in links if pay_eligible(link))]


def ecert_subject(viewer: Viewer, person_id) -> InsuredPerson:
    """The e-certificate subject ``person_id``, or NotVisible (a 404)."""
    for person in ecert_subjects(viewer):
        if str(person.pk) == str(person_id):
            return person
    raise NotVisible
