"""A relative's link is looked up in one prepared statement that also
records the views it was asked to (access.lookups._link_in_effect,
docs/adr/0014): it finds exactly the link ``FamilyLink.objects.in_effect()``
finds, in every state a link can be in, and records a view only of a scope
that link grants; the events are the ones ``audit`` would have written,
heard by ``post_save`` and sealed into the chain like any other."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models.signals import post_save
from django.test import RequestFactory
from django.utils import timezone

from access.lookups import person_access
from access.rules import pay_eligible
from access.viewer import viewer_of_user
from audit.models import AuditEvent
from audit.services import audit_seal, audit_verify
from family import services
from family.models import FamilyLink
from tests.family.conftest import approved_link, request_link

pytestmark = pytest.mark.django_db


def _orm_link(member, relative):
    return FamilyLink.objects.in_effect().filter(member=member, relative=relative).first()


def _views(member, user) -> list[tuple[str, dict]]:
    return list(
        AuditEvent.objects.filter(subject_person=member, actor=user, action__startswith="person.")
        .order_by("id")
        .values_list("action", "detail")
    )


def _states(alice, bob, staff):
    """(name, make): a link from alice to bob brought into one state."""

    def pending():
        request_link(alice, bob)

    def unconfirmed():
        link = request_link(alice, bob, confirmed=False)
        services.link_approve(link_id=link.pk, reviewer=staff)

    def in_effect():
        approved_link(alice, bob, staff, scope_records=True)

    def expired():
        link = approved_link(alice, bob, staff, scope_records=True)
        FamilyLink.objects.filter(pk=link.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )

    def expiring_later():
        link = approved_link(alice, bob, staff, scope_records=True)
        FamilyLink.objects.filter(pk=link.pk).update(
            expires_at=timezone.now() + dt.timedelta(days=1)
        )

    def ended():
        link = approved_link(alice, bob, staff, scope_records=True)
        services.link_end(link=link, user=alice.user)

    def balance_only():
        approved_link(alice, bob, staff)

    def every_scope():
        approved_link(alice, bob, staff, scope_records=True, scope_pay=True, scope_errands=True)

    return [
        ("none", lambda: None),
        ("pending", pending),
        ("approved, not confirmed", unconfirmed),
        ("in effect", in_effect),
        ("expired", expired),
        ("expiring later", expiring_later),
        ("ended", ended),
        ("balance only", balance_only),
        ("every scope", every_scope),
    ]


@pytest.mark.parametrize("state", range(9))
def test_the_link_found_is_the_orms_and_only_granted_views_are_recorded(state, alice, bob, staff):
    name, make = _states(alice, bob, staff)[state]
    make()
    expected = _orm_link(alice, bob)

    access = person_access(
        viewer_of_user(bob.user), alice.pk, record=("balance", "records", "pay", "errands")
    )

    assert (access.link.pk if access.link else None) == (expected.pk if expected else None), name
    if expected is None:
        assert not access.may_open and _views(alice, bob.user) == [], name
        return
    assert access.link.member == alice and access.link.relative == bob
    held = {*expected.scopes()} - {"pay"} | ({"pay"} if pay_eligible(expected) else set())
    granted = [s for s in ("balance", "records", "pay", "errands") if s in held]
    assert sorted(access.scopes) == sorted(held), name
    detail = {"as": "relative", "link": expected.pk, "scopes": expected.scopes()}
    assert _views(alice, bob.user) == [(f"person.{s}.view", detail) for s in granted], name
    # recorded once: auditing the same scopes again writes nothing more
    access.audit(None, *granted)
    assert len(_views(alice, bob.user)) == len(granted)


def _columns(event: AuditEvent) -> tuple:
    return tuple(getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields)


@pytest.mark.parametrize("address", ["203.0.113.9", "2001:db8::1", "::ffff:192.0.2.1"])
def test_views_recorded_by_the_lookup_are_heard_and_sealed(alice, bob, staff, address):
    """The statement's events, built from its columns and the address sent
    as text (``%s::inet``): the listeners get each stored row column for
    column (so ``audit_appended``'s positional fields keep the model's
    order), IPv6 included."""
    approved_link(alice, bob, staff, scope_records=True)
    heard = []

    def listen(sender, instance, created, **kwargs):
        heard.append((_columns(instance), created))

    request = RequestFactory().get("/", REMOTE_ADDR=address)
    post_save.connect(listen, sender=AuditEvent, dispatch_uid="test-link-lookup")
    try:
        person_access(
            viewer_of_user(bob.user), alice.pk, record=("balance", "records"), request=request
        )
    finally:
        post_save.disconnect(sender=AuditEvent, dispatch_uid="test-link-lookup")

    events = list(
        AuditEvent.objects.filter(subject_person=alice, action__startswith="person.").order_by("id")
    )
    # what listeners are given is what was stored, column for column
    assert heard == [(_columns(e), True) for e in events]
    assert {e.ip_address for e in events} == {address}
    assert [e.action for e in events] == ["person.balance.view", "person.records.view"]
    assert {(e.actor_id, e.actor_label, e.object_type, e.object_id) for e in events} == {
        (bob.user.pk, bob.user.get_username(), "members.insuredperson", str(alice.pk))
    }
    audit_seal()
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert audit_verify() == []


def test_without_record_the_lookup_records_nothing(alice, bob, staff):
    approved_link(alice, bob, staff, scope_records=True)

    access = person_access(viewer_of_user(bob.user), alice.pk)

    assert access.may("balance") and access.may("records")
    assert _views(alice, bob.user) == []


def test_pay_is_recorded_only_while_the_rules_let_the_two_share(alice, bob, staff):
    """The link grants ``pay`` but alice has no personal account (resident
    scheme): the page does not offer it, and no view of it is recorded."""
    link = approved_link(alice, bob, staff, scope_pay=True)
    scopes = ("balance", "records", "pay")

    access = person_access(viewer_of_user(bob.user), alice.pk, record=scopes)
    assert access.may("pay") and [a for a, _d in _views(alice, bob.user)] == [
        "person.balance.view",
        "person.pay.view",
    ]

    alice.insurance_type = "resident"
    alice.save(update_fields=["insurance_type"])
    before = len(_views(alice, bob.user))
    access = person_access(viewer_of_user(bob.user), alice.pk, record=scopes)

    assert access.link.pk == link.pk and access.pay_granted_not_eligible
    assert not access.may("pay")
    assert [a for a, _d in _views(alice, bob.user)[before:]] == ["person.balance.view"]
