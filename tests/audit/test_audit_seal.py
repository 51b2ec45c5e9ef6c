"""Audit without a global lock (issue 16, docs/adr/0014-audit-without-a-global-lock.md).

Appends take no lock and leave events unsealed; ``audit_seal`` chains them in
id order, exactly once, even with several sealers at once; the database
allows no UPDATE but the seal itself. Real concurrent PostgreSQL connections.
"""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import GENESIS, audit_record, audit_seal, audit_verify, compute_hash
from tests.claims.conftest import claims_worker, wait_for  # noqa: F401 (a fixture)
from tests.concurrency import run_concurrently


def _chain():
    return list(
        AuditEvent.objects.filter(seq__isnull=False).order_by("seq").values_list("id", "seq")
    )


def _bypass(sql, params=()):
    # As a superuser with database access would.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def test_the_database_allows_the_seal_and_nothing_else(staff, alice):
    event = audit_record(actor=staff, action="person.view", subject_person=alice)
    other = audit_record(actor=staff, action="person.view", subject_person=alice)

    # sealing together with a change of content: refused
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(
            seq=1, prev_hash=GENESIS, hash="f" * 64, action="nothing"
        )
    # a partial seal: refused
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(seq=1)
    # an event inserted already sealed (a forged place in the chain): refused
    with pytest.raises(DatabaseError, match="appended unsealed"), transaction.atomic():
        AuditEvent.objects.create(
            at=event.at, action="forged", seq=99, prev_hash=GENESIS, hash="e" * 64
        )
    # any one of the chain's fields brought by an INSERT is refused
    for forged in ({"seq": 99}, {"prev_hash": GENESIS}, {"hash": "e" * 64}):
        with pytest.raises(DatabaseError, match="appended unsealed"), transaction.atomic():
            AuditEvent.objects.create(at=event.at, action="forged", **forged)

    assert audit_seal() == 2
    event.refresh_from_db()
    # sealed once: sealing again, or un-sealing, is refused
    for change in ({"hash": "a" * 64}, {"seq": None, "prev_hash": None, "hash": None}):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(**change)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=other.pk).delete()
    assert audit_verify() == []
    assert _chain() == [(event.pk, 1), (other.pk, 2)]


def test_a_removed_event_in_the_middle_is_found(staff, alice):
    events = [
        audit_record(actor=staff, action="person.view", subject_person=alice) for _ in range(3)
    ]
    audit_seal()

    _bypass("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])

    assert audit_verify() == [
        f"event {events[2].pk}: chain position 3 where 2 was expected (entries were removed)",
        f"event {events[2].pk}: previous hash does not match event before it",
    ]
    with pytest.raises(CommandError, match="audit trail broken"):
        call_command("verify_audit")


def test_verify_audit_seals_before_checking_and_anchoring(staff, alice, tmp_path, capsys):
    anchor = tmp_path / "anchors"
    first = audit_record(actor=staff, action="person.view", subject_person=alice)
    last = audit_record(actor=staff, action="person.view", subject_person=alice)

    call_command("verify_audit", "--anchor-file", str(anchor))

    last.refresh_from_db()
    assert last.seq == 2 and last.hash == compute_hash(
        AuditEvent.objects.get(pk=first.pk).hash, last
    )
    assert anchor.read_text().split()[:2] == [str(last.pk), last.hash]
    assert "sealed 2 event(s) now" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_an_append_waits_for_nothing(staff, alice):
    """One transaction appends an event and stays open; another appends and
    commits meanwhile (before issue 16 both queued on one advisory lock),
    and a sealer seals the committed one without waiting for the open one.
    The open one, committed later with the lower id, is sealed next, at the
    end of the chain."""
    held_open, done = threading.Event(), threading.Event()
    ids = {}

    def work(i):
        if i == 0:
            with transaction.atomic():
                ids["held"] = audit_record(actor=staff, action="a.held", subject_person=alice).pk
                held_open.set()
                return done.wait(timeout=20)
        assert held_open.wait(timeout=20)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a regression fails, not hangs
        try:
            ids["free"] = audit_record(actor=staff, action="a.free", subject_person=alice).pk
            return audit_seal()
        finally:
            done.set()

    held, sealed = run_concurrently(2, work)

    assert held is True, held
    assert sealed == 1, sealed  # the committed one; the open one was invisible
    assert ids["held"] < ids["free"]
    assert audit_seal() == 1
    assert _chain() == [(ids["free"], 1), (ids["held"], 2)]
    assert audit_verify() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_seal_every_event_once_in_id_order(staff, alice):
    """Writers append while four sealers run at once, again and again, in
    small batches: at the end every event is sealed exactly once, the chain
    has no gap, and events committed before a seal are chained in id order."""
    for _ in range(40):
        audit_record(actor=staff, action="before", subject_person=alice)
    stop = threading.Event()
    writers_done: list[int] = []

    def work(i):
        if i < 3:  # writers
            try:
                for _ in range(30):
                    audit_record(actor=staff, action=f"w{i}", subject_person=alice)
            finally:
                writers_done.append(i)
                if len(writers_done) == 3:
                    stop.set()
            return 0
        sealed = 0
        while not stop.is_set():
            sealed += audit_seal(batch_size=7)
        return sealed + audit_seal(batch_size=7)

    results = run_concurrently(7, work)

    assert [r for r in results if isinstance(r, Exception)] == []
    total = AuditEvent.objects.count()
    assert total == 40 + 90
    assert sum(results) == total  # each sealed by exactly one sealer
    chain = _chain()
    assert [seq for _id, seq in chain] == list(range(1, total + 1))
    # the 40 committed before any sealer ran come first, in id order
    first = sorted(AuditEvent.objects.filter(action="before").values_list("id", flat=True))
    assert [pk for pk, _seq in chain[:40]] == first
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert audit_verify() == []


@pytest.mark.django_db(transaction=True)
def test_an_audited_access_is_sealed_by_the_worker_soon_after_commit(
    staff,
    alice,
    claims_worker,  # noqa: F811 (the fixture imported above)
    settings,
    monkeypatch,
):
    """The after-commit request reaches a real Celery worker, which seals the
    event about a second later, with no seal called here."""
    from audit import services

    settings.CELERY_KIND_QUEUES = {**settings.CELERY_KIND_QUEUES, "default": claims_worker.queue}
    monkeypatch.setattr(services, "_last_seal_request", 0.0)
    claims_worker.start()

    event = audit_record(actor=staff, action="person.view", subject_person=alice)

    sealed = wait_for(
        lambda: AuditEvent.objects.filter(pk=event.pk, seq__isnull=False).first(),
        timeout=30,
        what="the seal",
    )
    assert sealed.hash == compute_hash(GENESIS, sealed)
    assert audit_verify() == []
