"""The member's access log (docs/adr/0018): exactly the views and payments by
others made in the test, with who, what and the grant; filters, keyset
pages, CSV; nobody else sees it; the relative's own list."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone, translation

from audit.models import AuditEvent
from audit.selectors import Filters, access_log, own_actions
from audit.services import audit_record
from claims.services import LineInput, expense_submit, institution_create
from tests.claims.conftest import make_policies
from tests.payments.resident_helpers import fund_prior, link


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def scene(alice, bob, staff, client_for):
    """bob (alice's spouse) holds balance, records and pay on alice's account.
    In the test: bob opens alice's dashboard (balance, records and the pay
    card: one event per scope the page shows), staff open
    her payment record, and a hospital is paid for bob from alice's surplus."""
    today = timezone.localdate()
    make_policies(today.year)
    the_link = link(
        alice, bob, staff, relationship="spouse", scope_balance=True, scope_records=True
    )
    fund_prior(alice, 100000)
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # alice's own visits: not listed
    client_for(alice).get("/dashboard/records/")
    audit_record(actor=alice.user, action="person.balance.view", subject_person=alice)
    assert client_for(bob).get(f"/dashboard/{alice.pk}/").status_code == 200
    assert client_for(staff).get(f"/dashboard/records/?person={alice.pk}").status_code == 200
    hospital = institution_create(name="City Hospital", kind="hospital", region="110100")
    expense, _created = expense_submit(
        institution=hospital,
        idempotency_key="bob-1",
        patient_id_number=bob.id_number,
        service_date=today,
        care_type="outpatient",
        lines=[LineInput("A", 50000), LineInput("self", 5000)],
    )
    assert expense.parts.filter(payer="relative_prior").exists()
    translation.activate("en")  # the pages above switched to their language
    return alice, bob, staff, the_link, before


def _actions(entries):
    return [e.action for e in entries]


def test_the_log_lists_exactly_the_views_and_payments_by_others(scene):
    alice, _bob, staff, the_link, _before = scene
    entries, next_cursor = access_log(alice)
    assert next_cursor is None
    assert _actions(entries) == [
        "family.surplus.pay",
        "person.records.view",
        "person.pay.view",
        "person.records.view",
        "person.balance.view",
    ]
    pay, staff_view, bob_pay, bob_records, bob_balance = entries
    assert pay.who == "Bob" and pay.kind == "payment"
    paid = sum(p.amount_fen for p in alice_paid_parts(alice))
    assert f"{paid / 100:.2f}" in pay.what
    assert f"#{the_link.pk}" in pay.grant
    assert staff_view.who == f"Staff member #{staff.pk}"
    assert "one-time code" in staff_view.grant
    for e in (bob_pay, bob_records, bob_balance):
        assert e.who == "Bob"
        assert f"Family link #{the_link.pk}" in e.grant
    assert "balance" in bob_balance.grant and "payment record" in bob_balance.grant


def alice_paid_parts(alice):
    from claims.models import ExpensePart

    return ExpensePart.objects.filter(payer="relative_prior", grantor_id=alice.pk)


def test_filters_by_who_kind_and_date(scene):
    alice, bob, _staff, _link, _before = scene
    today = timezone.localdate()
    assert _actions(access_log(alice, filters=Filters(who="staff"))[0]) == ["person.records.view"]
    assert len(access_log(alice, filters=Filters(who=f"person:{bob.pk}"))[0]) == 4
    assert _actions(access_log(alice, filters=Filters(kind="payment"))[0]) == ["family.surplus.pay"]
    assert len(access_log(alice, filters=Filters(kind="view"))[0]) == 4
    assert len(access_log(alice, filters=Filters(since=today, until=today))[0]) == 5
    tomorrow = today + dt.timedelta(days=1)
    assert access_log(alice, filters=Filters(since=tomorrow))[0] == []
    assert access_log(alice, filters=Filters(until=today - dt.timedelta(days=1)))[0] == []


def test_keyset_pages_cover_the_log_once(scene):
    alice, *_rest = scene
    first, cursor = access_log(alice, limit=3)
    assert len(first) == 3 and cursor == first[-1].id
    second, end = access_log(alice, after=cursor, limit=3)
    assert end is None
    assert [e.id for e in first + second] == [e.id for e in access_log(alice)[0]]


def test_the_page_and_the_csv(scene, client_for):
    alice, *_rest = scene
    c = client_for(alice)
    page = c.get("/access-log/")
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="log-entry"') == 5
    filtered = c.get("/access-log/", {"kind": "payment", "who": "nonsense", "since": "x"})
    assert filtered.status_code == 200
    assert filtered.content.decode().count('data-testid="log-entry"') == 1
    response = c.get("/access-log/access-log.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + 5
    assert rows[1][1] == "Bob"


def test_nobody_else_sees_the_log(scene, client_for, charlie, django_user_model):
    alice, bob, staff, _link, _before = scene
    # bob has his own log (staff did not look at him; no surplus paid from his)
    page = client_for(bob).get(f"/access-log/?person={alice.pk}").content.decode()
    assert 'data-testid="log-entry"' not in page
    from tests.conftest import make_member

    dana = make_member("Dana", region="440305", birth=dt.date(1991, 2, 2), seq=17)
    page = client_for(dana).get("/access-log/").content.decode()
    assert 'data-testid="log-empty"' in page
    assert client_for(staff).get("/access-log/").status_code == 404
    anonymous = client_for(dana)
    anonymous.logout()
    assert anonymous.get("/access-log/").status_code == 302
    assert anonymous.get("/access-log/access-log.csv").status_code == 302


def test_the_relative_sees_what_they_did(scene, client_for):
    alice, bob, _staff, _the_link, _before = scene
    entries, _cursor = own_actions(bob, bob.user)
    assert _actions(entries) == [
        "family.surplus.pay",
        "person.pay.view",
        "person.records.view",
        "person.balance.view",
    ]
    assert {e.whose for e in entries} == {"Alice"}
    page = client_for(bob).get("/access-log/mine/").content.decode()
    assert page.count('data-testid="own-entry"') == 4
    # alice did nothing on others' accounts
    assert own_actions(alice, alice.user)[0] == []
