"""Every staff page that shows member data writes exactly one audit event per
view, naming the persons shown: the settlement batch page, the review queue
and the admin lists and pages (docs/adr/0004-personal-data.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from claims.services import LineInput, expense_submit
from claims.settlement import settlement_run_batch, settlement_start
from payments.models import Contribution
from tests.claims.conftest import fund, hospital, policies  # noqa: F401 (fixtures)
from tests.conftest import make_member
from tests.dashboard.helpers import contribution


def _events():
    return list(AuditEvent.objects.order_by("id"))


def _only_new_event(before: int) -> AuditEvent:
    new = list(AuditEvent.objects.filter(id__gt=before).order_by("id"))
    assert len(new) == 1, [e.action for e in new]
    return new[0]


def _last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.fixture
def superstaff(staff):
    staff.is_superuser = True
    staff.save()
    return staff


def _contribution(person, month: int) -> Contribution:
    # through the import, credited by its ledger transaction
    return contribution(person, dt.date(2026, month, 1))


# --- the settlement batch page (claims/views.py) ----------------------------------


def test_the_settlement_batch_page_names_the_patients_it_shows(
    policies,  # noqa: F811
    hospital,  # noqa: F811
    alice,
    bob,
    charlie,
    client_for,
    staff,
):
    fund(alice, current=10000)
    for i, person in enumerate([alice, bob, alice]):
        expense_submit(
            institution=hospital,
            idempotency_key=f"k{i}",
            patient_id_number=person.id_number,
            service_date=dt.date(2026, 3, 1),
            care_type="outpatient",
            lines=[LineInput("A", 100000)],
        )
    (batch,) = settlement_start(period=timezone.localdate(), cutoff=timezone.now(), enqueue=False)
    settlement_run_batch(batch_id=batch.pk)
    client = client_for(staff)
    before = _last_id()

    response = client.get(reverse("claims:batch", args=[batch.pk]))

    assert response.status_code == 200
    assert "Alice" in response.content.decode() and "Bob" in response.content.decode()
    event = _only_new_event(before)
    assert event.action == "settlement.batch.view"
    assert event.actor_id == staff.pk
    assert (event.object_type, event.object_id) == ("claims.settlementbatch", str(batch.pk))
    assert event.detail["persons"] == sorted([alice.pk, bob.pk])
    assert len(event.detail["expenses"]) == 3
    assert event.subject_person_id is None  # two persons: they are in detail
    assert AuditEvent.objects.filter(detail__persons__contains=[bob.pk]).count() == 1


# --- the admin ---------------------------------------------------------------------


def test_the_admin_contribution_list_names_the_persons_shown(
    client_for, superstaff, alice, bob, charlie
):
    _contribution(alice, 1)
    _contribution(alice, 2)
    _contribution(bob, 1)
    client = client_for(superstaff)
    before = _last_id()

    response = client.get("/admin/payments/contribution/")

    assert response.status_code == 200
    event = _only_new_event(before)
    assert event.action == "admin.list"
    assert event.detail == {
        "model": "payments.contribution",
        "rows": 3,
        "persons": sorted([alice.pk, bob.pk]),
    }


def test_one_contribution_page_names_its_person(client_for, superstaff, alice):
    record = _contribution(alice, 1)
    client = client_for(superstaff)
    before = _last_id()

    response = client.get(f"/admin/payments/contribution/{record.pk}/change/")

    assert response.status_code == 200
    event = _only_new_event(before)
    assert (event.action, event.subject_person_id) == ("admin.view", alice.pk)
    assert (event.object_type, event.object_id) == ("payments.contribution", str(record.pk))
    assert event.detail == {"model": "payments.contribution", "rows": 1, "persons": [alice.pk]}


def test_the_admin_person_list_and_page_are_audited(client_for, superstaff, alice, bob):
    client = client_for(superstaff)

    before = _last_id()
    assert client.get("/admin/members/insuredperson/").status_code == 200
    listing = _only_new_event(before)
    before = _last_id()
    assert client.get(f"/admin/members/insuredperson/{bob.pk}/change/").status_code == 200
    page = _only_new_event(before)
    before = _last_id()
    assert client.get(f"/admin/members/insuredperson/{bob.pk}/history/").status_code == 200
    history = _only_new_event(before)

    assert (listing.action, listing.detail["persons"]) == ("admin.list", [alice.pk, bob.pk])
    assert (page.action, page.subject_person_id) == ("admin.view", bob.pk)
    assert (history.action, history.subject_person_id) == ("admin.history", bob.pk)


def test_the_admin_user_list_names_the_members_behind_the_accounts(
    client_for, superstaff, alice, bob
):
    client = client_for(superstaff)
    before = _last_id()

    assert client.get("/admin/members/user/").status_code == 200

    event = _only_new_event(before)
    assert event.action == "admin.list"
    assert event.detail["persons"] == sorted([alice.pk, bob.pk])
    assert event.detail["rows"] == 3  # alice, bob and the staff account


def test_a_list_that_shows_nobody_records_nothing(client_for, superstaff):
    client = client_for(superstaff)
    before = _last_id()

    assert client.get("/admin/payments/contribution/").status_code == 200

    assert AuditEvent.objects.filter(id__gt=before).count() == 0


# --- the review queue (family) -------------------------------------------------------


def test_the_review_queue_names_both_persons_of_each_card(client_for, staff, alice, bob):
    from tests.family.conftest import request_link

    father = make_member("Father", birth=dt.date(1955, 2, 1), seq=31)
    request_link(alice, bob)
    request_link(alice, father, relationship="parent")
    client = client_for(staff)

    before = _last_id()
    assert client.get("/family/review/").status_code == 200
    page = _only_new_event(before)
    before = _last_id()
    assert client.get("/api/v1/family/review/").status_code == 200
    api = _only_new_event(before)

    for event in (page, api):
        assert event.action == "family.review.list"
        assert event.detail["persons"] == sorted([alice.pk, bob.pk, father.pk])
