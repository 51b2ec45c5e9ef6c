"""verify_audit with anchors kept outside the database: a removed tail or a
recomputed chain is found, which the hash chain alone cannot show."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import AuditEvent
from audit.services import GENESIS, audit_record, audit_verify, compute_hash


def _bypass_triggers(sql, params=()):
    # As an attacker with superuser access to the database would.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def test_anchor_file_records_the_head(staff, alice, tmp_path, capsys):
    anchor = tmp_path / "audit-anchors"
    audit_record(actor=staff, action="person.balance.view", subject_person=alice)
    head = audit_record(actor=staff, action="person.records.view", subject_person=alice)

    call_command("verify_audit", "--anchor-file", str(anchor))  # seals, then anchors
    head.refresh_from_db()
    call_command("verify_audit", "--anchor-file", str(anchor))  # unchanged head: no new line

    lines = anchor.read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [[str(head.pk), head.hash]]
    assert f"head event {head.pk}" in capsys.readouterr().out


def test_a_removed_tail_is_found_only_with_an_anchor(staff, alice, tmp_path):
    anchor = tmp_path / "audit-anchors"
    audit_record(actor=staff, action="person.balance.view", subject_person=alice)
    tail = audit_record(actor=staff, action="family.counter.lookup", subject_person=alice)
    call_command("verify_audit", "--anchor-file", str(anchor))

    _bypass_triggers("DELETE FROM audit_auditevent WHERE id = %s", [tail.pk])

    assert audit_verify() == []  # the chain alone still looks whole
    with pytest.raises(CommandError, match="audit trail broken"):
        call_command("verify_audit", "--anchor-file", str(anchor))


def test_a_recomputed_chain_is_found_with_an_anchor(staff, alice, tmp_path):
    anchor = tmp_path / "audit-anchors"
    event = audit_record(actor=staff, action="family.grant.approve", subject_person=alice)
    call_command("verify_audit", "--anchor-file", str(anchor))
    event.refresh_from_db()

    # rewrite history and recompute the hash so the chain verifies again
    event.action = "family.grant.reject"
    new_hash = compute_hash(GENESIS, event)
    _bypass_triggers(
        "UPDATE audit_auditevent SET action = %s, hash = %s WHERE id = %s",
        [event.action, new_hash, event.pk],
    )

    assert audit_verify() == []
    assert AuditEvent.objects.get().action == "family.grant.reject"
    with pytest.raises(CommandError):
        call_command("verify_audit", "--anchor-file", str(anchor))
