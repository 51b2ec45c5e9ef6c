"""An audited view writes its event and touches no other row (audit migration
0006, docs/adr/0014-audit-without-a-global-lock.md): the actor and the person
recorded are not foreign keys in the database, so the INSERT never locks
their rows, while Django still refuses to delete a user or person with
events. Real concurrent PostgreSQL connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.db.models import ProtectedError

from audit.models import AuditEvent
from audit.services import audit_record
from tests.concurrency import run_concurrently


@pytest.mark.django_db(transaction=True)
def test_recording_a_view_waits_for_no_lock_on_the_person_or_the_user(staff, alice):
    """One transaction holds the person's and the staff user's rows FOR
    UPDATE (a staff edit of the person, say) and stays open; another records
    a view of that person by that user and commits meanwhile. With foreign
    keys, the commit's key check (FOR KEY SHARE on both rows) queued behind
    the edit until the lock timeout."""
    holding, done = threading.Event(), threading.Event()

    def work(i):
        if i == 0:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM members_insuredperson WHERE id = %s FOR UPDATE", [alice.pk]
                )
                cursor.execute("SELECT 1 FROM members_user WHERE id = %s FOR UPDATE", [staff.pk])
                holding.set()
                return done.wait(timeout=20)
        assert holding.wait(timeout=20)
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")  # a regression fails, not hangs
                return audit_record(
                    actor=staff, action="person.balance.view", subject_person=alice
                ).pk
        finally:
            done.set()

    held, recorded = run_concurrently(2, work)

    assert held is True, held
    assert isinstance(recorded, int), recorded
    event = AuditEvent.objects.get(pk=recorded)
    assert (event.actor_id, event.subject_person_id) == (staff.pk, alice.pk)


def test_a_person_or_user_with_events_cannot_be_deleted(staff, alice):
    audit_record(actor=staff, action="person.balance.view", subject_person=alice)

    with pytest.raises(ProtectedError):
        alice.delete()
    with pytest.raises(ProtectedError):
        staff.delete()
    assert AuditEvent.objects.filter(subject_person=alice, actor=staff).count() == 1


def test_the_recorded_event_reads_back_its_actor_and_person(staff, alice):
    """The event is given ids, not objects: reading them back still works."""
    event = audit_record(actor=staff, action="person.balance.view", subject_person=alice)

    stored = AuditEvent.objects.select_related("actor", "subject_person").get(pk=event.pk)
    assert stored.actor == staff and stored.subject_person == alice
    assert stored.actor_label == staff.get_username()
