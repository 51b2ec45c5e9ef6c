"""Several scopes shown on one page: their events in one INSERT, the same
events one by one would give, post_save sent for each (the notifications
outbox hears of them), sealed into the chain like any other."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import (
    ROW_FIELDS,
    audit_record,
    audit_record_many,
    audit_seal,
    audit_verify,
)
from tests.family.conftest import approved_link


def _fields(event: AuditEvent) -> tuple:
    return (
        event.actor_id,
        event.actor_label,
        event.subject_person_id,
        event.object_type,
        event.object_id,
        event.detail,
    )


def _inserts_event(sql: str) -> bool:
    return sql.startswith("INSERT INTO") and "audit_auditevent" in sql.split("(")[0]


@pytest.mark.django_db
def test_many_events_in_one_insert_as_one_by_one_would_give(alice, bob):
    detail = {"as": "relative", "link": 7, "scopes": ["balance", "records"]}
    heard = []

    def listen(sender, instance, created, **kwargs):
        heard.append((instance.pk, instance.action, created))

    post_save.connect(listen, sender=AuditEvent, dispatch_uid="test-audit-many")
    try:
        with CaptureQueriesContext(connection) as queries:
            many = audit_record_many(
                actor=bob.user,
                actions=["person.balance.view", "person.records.view"],
                subject_person=alice,
                target=alice,
                detail=detail,
            )
    finally:
        post_save.disconnect(sender=AuditEvent, dispatch_uid="test-audit-many")
    one = audit_record(
        actor=bob.user,
        action="person.balance.view",
        subject_person=alice,
        target=alice,
        detail=detail,
    )

    inserts = [q for q in queries.captured_queries if _inserts_event(q["sql"])]
    assert len(inserts) == 1
    assert [e.action for e in many] == ["person.balance.view", "person.records.view"]
    assert [_fields(e) for e in many] == [_fields(one), _fields(one)]
    assert all(e.pk for e in many)
    assert heard == [(e.pk, e.action, True) for e in many]
    assert audit_record_many(actor=bob.user, actions=[], subject_person=alice) == []

    audit_seal()
    assert audit_verify() == []


@pytest.mark.django_db
def test_a_relatives_page_records_each_scope_it_shows_once(alice, bob, staff, client):
    approved_link(alice, bob, staff, scope_balance=True, scope_records=True)
    client.force_login(bob.user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/dashboard/{alice.pk}/").status_code == 200

    # both written by ONE statement: the link's look-up (docs/adr/0014)
    writes = [q["sql"] for q in queries.captured_queries if "audit_auditevent" in q["sql"]]
    assert len(writes) == 1 and writes[0].startswith("WITH link AS"), writes
    events = AuditEvent.objects.filter(
        subject_person=alice, actor=bob.user, action__startswith="person."
    ).order_by("id")
    assert [e.action for e in events] == ["person.balance.view", "person.records.view"]
    link = alice.family_links_granted.get()
    assert [e.detail for e in events] == [
        {"as": "relative", "link": link.pk, "scopes": ["balance", "records"]}
    ] * 2


def test_row_fields_are_the_models_fields_in_its_order():
    """``audit_appended`` gives ``from_db`` an event's values in this order,
    which ``from_db`` reads as the model's own: a field added, removed or
    moved must be reflected there."""
    assert tuple(f.attname for f in AuditEvent._meta.concrete_fields) == ROW_FIELDS
