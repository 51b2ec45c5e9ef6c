import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audit.models import AuditEvent
from audit.services import GENESIS, audit_record, audit_seal, audit_verify


def test_events_form_a_chain(staff, alice):
    first = audit_record(actor=staff, action="person.view", subject_person=alice, target=alice)
    second = audit_record(actor=staff, action="person.view", subject_person=alice)
    assert (first.hash, second.hash) == (None, None)  # appended unsealed

    assert audit_seal() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert audit_verify() == []
    call_command("verify_audit")


def test_postgresql_refuses_update_and_delete(staff, alice):
    event = audit_record(actor=staff, action="person.view", subject_person=alice)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    event.refresh_from_db()
    assert event.action == "person.view"


def test_verify_audit_finds_a_tampered_entry(staff, alice):
    audit_record(actor=staff, action="person.view", subject_person=alice)
    tampered = audit_record(actor=staff, action="grant.approve", subject_person=alice)
    audit_record(actor=staff, action="person.view", subject_person=alice)
    audit_seal()
    with connection.cursor() as cursor:
        # A superuser bypassing triggers, as an attacker with database access would.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE audit_auditevent SET action = 'grant.reject' WHERE id = %s", [tampered.pk]
        )
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    problems = audit_verify()

    assert problems == [f"event {tampered.pk}: content does not match its hash"]
    with pytest.raises(Exception, match="audit trail broken"):
        call_command("verify_audit")
