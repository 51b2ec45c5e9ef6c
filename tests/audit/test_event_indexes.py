"""An appended event enters only the indexes that find it (audit migration
0007, docs/adr/0014-audit-without-a-global-lock.md): the chain's uniqueness
covers sealed events, and the detail index the events the access log
searches by their detail. PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from audit.selectors import Filters, access_log_queryset
from audit.services import GENESIS, audit_record, audit_seal, audit_view


def _seal_by_hand(event, seq, hash_):
    AuditEvent.objects.filter(pk=event.pk).update(seq=seq, prev_hash=GENESIS, hash=hash_)


def test_two_events_cannot_take_one_place_in_the_chain_or_one_hash(staff, alice):
    first, second = (
        audit_record(actor=staff, action="person.balance.view", subject_person=alice)
        for _ in range(2)
    )
    _seal_by_hand(first, 1, "a" * 64)

    with pytest.raises(IntegrityError, match="audit_event_seq"), transaction.atomic():
        _seal_by_hand(second, 1, "b" * 64)
    with pytest.raises(IntegrityError, match="audit_event_hash"), transaction.atomic():
        _seal_by_hand(second, 2, "a" * 64)
    # Any number of events wait unsealed side by side.
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 1


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        # Tiny test tables are read whole otherwise: ask whether the index can serve.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_access_log_searches_the_detail_through_its_index(staff, alice, bob):
    audit_view(actor=staff, action="admin.list", persons=[alice.pk, bob.pk])

    plan = _plan(access_log_queryset(alice, Filters()).order_by("-id"))
    assert "audit_detail_gin" in plan, plan
    plan = _plan(access_log_queryset(alice, Filters(who=f"person:{bob.pk}")).order_by("-id"))
    assert "audit_detail_gin" in plan, plan
    # And it finds the list page that showed alice among others.
    assert [e.action for e in access_log_queryset(alice, Filters())] == ["admin.list"]


def test_a_view_of_one_account_is_left_out_of_the_detail_index(staff, alice, bob):
    """The detail index holds the events whose detail names persons (list
    pages) or the relative a surplus paid for; a view of one account (its
    person in ``subject_person``) is not in it, sealed or not."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
            " WHERE i.indexrelid = 'audit_detail_gin'::regclass"
        )
        (condition,) = cursor.fetchone()
    assert condition == "((detail ? 'persons'::text) OR (detail ? 'relative'::text))"

    audit_record(
        actor=staff,
        action="person.balance.view",
        subject_person=alice,
        detail={"as": "relative", "link": 1, "scopes": ["balance"]},
    )
    audit_view(actor=staff, action="admin.list", persons=[alice.pk, bob.pk])
    audit_record(
        actor=staff, action="family.surplus.pay", subject_person=alice, detail={"relative": bob.pk}
    )
    audit_seal()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action FROM audit_auditevent"
            " WHERE detail ? 'persons' OR detail ? 'relative' ORDER BY id"
        )
        assert [r[0] for r in cursor.fetchall()] == ["admin.list", "family.surplus.pay"]
    # Each is still found by the query that looks for it.
    assert [e.action for e in access_log_queryset(alice, Filters()).order_by("id")] == [
        "person.balance.view",
        "admin.list",
        "family.surplus.pay",
    ]
