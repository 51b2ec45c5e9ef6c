"""Adding a relative, review, ending, and the rules the numbers imply."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from accounts.services import ledger_post, member_pockets, system_account
from audit.models import AuditEvent
from family import selectors, services
from family.models import FamilyLink, LinkStatus
from members.idnumber import make_id_number
from members.models import InsuranceType, InsuredPerson
from portal.errors import ApplicationError, Conflict
from tests.conftest import can_view, make_member
from tests.notifications.helpers import confirm_email, run_outbox

from .conftest import approved_link, request_link, stored_files


def test_request_records_consent_and_waits_for_review(alice, bob, private_media):
    link = request_link(alice, bob, scope_records=True, scope_pay=True, pay_yearly_cap_fen=200000)

    assert link.status == LinkStatus.PENDING
    assert link.consent_version == "2026-11-v2"
    assert link.consent_at is not None
    assert link.scopes() == ["balance", "records", "pay"]
    assert link.pay_yearly_cap_fen == 200000
    assert not can_view(bob.user, alice, "balance")
    event = AuditEvent.objects.get(action="family.link.request")
    assert event.subject_person_id == alice.pk
    assert event.detail["consent_version"] == "2026-11-v2"


def test_no_agreement_no_link(alice, bob, private_media):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, bob, agreed=False)

    assert refused.value.code == "consent"
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def test_outdated_agreement_is_refused(alice, bob):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, bob, agreement_version="2020-01-v0")

    assert refused.value.code == "consent_outdated"
    assert FamilyLink.objects.count() == 0


def test_parent_born_after_member_is_refused(alice, child):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, child, relationship="parent")

    assert refused.value.code == "relationship_mismatch"
    assert refused.value.fields == {"relationship": [refused.value.message]}
    assert "2012-05-05" in refused.value.message
    assert FamilyLink.objects.count() == 0


def test_child_born_before_member_is_refused(alice, father):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, father, relationship="child")

    assert refused.value.code == "relationship_mismatch"
    assert FamilyLink.objects.count() == 0


def test_child_as_spouse_is_refused(alice, child):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, child, relationship="spouse")

    assert refused.value.code == "relationship_mismatch"


def test_parent_and_child_that_fit_the_numbers_are_accepted(alice, father, child):
    assert request_link(alice, father, relationship="parent").relationship == "parent"
    assert request_link(alice, child, relationship="child").relationship == "child"


def test_name_must_match_the_stored_one(alice, bob):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, bob, name="Robert")

    # the same refusal as for a number nobody holds (tests/family/test_register.py)
    assert refused.value.code == "relative_not_verified"
    assert list(refused.value.fields) == ["id_number"]
    assert FamilyLink.objects.count() == 0


def test_bad_identity_number_names_the_field(alice):
    class Typo:
        name = "X"
        id_number = "110105198503150116"

    with pytest.raises(ApplicationError) as refused:
        request_link(alice, Typo)

    assert refused.value.code == "checksum"
    assert list(refused.value.fields) == ["id_number"]


def test_an_unknown_relative_is_refused_and_nobody_is_created(alice, private_media):
    class Newcomer:
        name = "王小明"
        id_number = make_id_number("110108", dt.date(1988, 1, 2), 35)

    people = InsuredPerson.objects.count()

    with pytest.raises(ApplicationError) as refused:
        request_link(alice, Newcomer)

    assert refused.value.code == "relative_not_verified"
    assert InsuredPerson.objects.count() == people
    assert FamilyLink.objects.count() == 0
    assert stored_files(private_media) == []


def test_cannot_add_oneself(alice):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, alice)

    assert refused.value.code == "self"


def test_mutual_assistance_refused_across_provinces(alice, charlie):
    # charlie is insured in Guangdong (44), alice in Beijing (11).
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, charlie, scope_pay=True)

    # the register says where charlie is insured: the requester is not told
    assert refused.value.code == "relative_not_verified"
    assert "440305" not in refused.value.message
    assert FamilyLink.objects.count() == 0


def test_mutual_assistance_refused_without_a_personal_account(bob, db):
    resident = make_member(
        "Resident", birth=dt.date(1984, 3, 3), seq=51, insurance_type=InsuranceType.RESIDENT
    )

    with pytest.raises(ApplicationError) as refused:
        request_link(resident, bob, scope_pay=True)

    assert refused.value.code == "pay_not_allowed"
    assert list(refused.value.fields) == ["scope_pay"]


def test_approve_grants_access_emails_and_audits(alice, bob, staff, mailoutbox):
    # The decision e-mail goes through the notifications outbox (ADR 0016).
    confirm_email(alice, "alice@example.org")
    link = request_link(alice, bob)
    run_outbox()
    mailoutbox.clear()

    services.link_approve(link_id=link.pk, reviewer=staff)
    run_outbox()

    link.refresh_from_db()
    assert link.status == LinkStatus.APPROVED
    assert link.reviewed_by == staff
    assert can_view(bob.user, alice, "balance")
    assert not can_view(bob.user, alice, "records")
    assert not can_view(bob.user, alice, "pay")
    assert [m.to for m in mailoutbox] == [["alice@example.org"]]
    assert "Bob" in mailoutbox[0].body
    assert AuditEvent.objects.filter(action="family.link.approve", actor=staff).count() == 1


def test_reject_needs_a_reason_and_tells_the_member(alice, bob, staff, mailoutbox):
    confirm_email(alice, "alice@example.org")
    link = request_link(alice, bob)
    run_outbox()
    mailoutbox.clear()

    with pytest.raises(ApplicationError):
        services.link_reject(link_id=link.pk, reviewer=staff, reason=" ")
    run_outbox()
    link.refresh_from_db()
    assert link.status == LinkStatus.PENDING
    assert mailoutbox == []

    services.link_reject(link_id=link.pk, reviewer=staff, reason="The letter is not signed.")
    run_outbox()

    link.refresh_from_db()
    assert (link.status, link.reason) == (LinkStatus.REJECTED, "The letter is not signed.")
    assert "The letter is not signed." in mailoutbox[0].body
    assert not can_view(bob.user, alice, "balance")
    # A rejected request does not block a new one.
    assert request_link(alice, bob).status == LinkStatus.PENDING


def test_deciding_twice_is_a_conflict(alice, bob, staff):
    link = request_link(alice, bob)
    services.link_approve(link_id=link.pk, reviewer=staff)

    with pytest.raises(Conflict):
        services.link_reject(link_id=link.pk, reviewer=staff, reason="late")

    link.refresh_from_db()
    assert link.status == LinkStatus.APPROVED
    assert AuditEvent.objects.filter(action__startswith="family.link.reject").count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_staff_deciding_at_once_only_one_wins(alice, bob, staff, django_user_model):
    other = django_user_model.objects.create(username="staff2", is_staff=True)
    link = request_link(alice, bob)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(fn, **kw):
        try:
            barrier.wait()
            fn(link_id=link.pk, **kw)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(services.link_approve,), kwargs={"reviewer": staff}),
        threading.Thread(
            target=decide,
            args=(services.link_reject,),
            kwargs={"reviewer": other, "reason": "no"},
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["conflict", "ok"]
    decisions = AuditEvent.objects.filter(
        action__in=["family.link.approve", "family.link.reject"]
    ).count()
    assert decisions == 1


def test_non_staff_cannot_decide(alice, bob):
    link = request_link(alice, bob)

    with pytest.raises(ApplicationError) as refused:
        services.link_approve(link_id=link.pk, reviewer=bob.user)

    assert refused.value.status_code == 403
    link.refresh_from_db()
    assert link.status == LinkStatus.PENDING


def test_member_revokes_and_access_ends_at_once(alice, bob, staff):
    link = approved_link(alice, bob, staff)
    assert can_view(bob.user, alice, "balance")

    services.link_end(link=link, user=alice.user)

    link.refresh_from_db()
    assert (link.status, link.ended_by) == (LinkStatus.ENDED, alice.user)
    assert not can_view(bob.user, alice, "balance")
    assert AuditEvent.objects.filter(action="family.link.revoke").count() == 1
    with pytest.raises(Conflict):
        services.link_end(link=link, user=alice.user)


def test_relative_leaves(alice, bob, staff):
    link = approved_link(alice, bob, staff)

    services.link_end(link=link, user=bob.user)

    link.refresh_from_db()
    assert link.status == LinkStatus.ENDED
    assert not can_view(bob.user, alice, "balance")
    assert AuditEvent.objects.filter(action="family.link.leave").count() == 1


def test_staff_cannot_end_a_link(alice, bob, staff):
    link = approved_link(alice, bob, staff)

    with pytest.raises(ApplicationError) as refused:
        services.link_end(link=link, user=staff)

    assert refused.value.status_code == 403
    link.refresh_from_db()
    assert link.status == LinkStatus.APPROVED


def test_payment_grants_for(alice, bob, staff, father, charlie):
    pay = approved_link(alice, bob, staff, scope_pay=True, pay_yearly_cap_fen=100000)
    approved_link(father, bob, staff, relationship="child", scope_pay=False)
    # A resident (no personal account) granting pay scope cannot be created by
    # the service; an approved grant in another province is not returned either.
    approved_link(charlie, bob, staff, scope_records=True)

    grants = selectors.payment_grants_for(patient=bob)

    assert grants == [pay]
    assert grants[0].pay_yearly_cap_fen == 100000


def test_payment_grants_for_skips_ended_links(alice, bob, staff):
    link = approved_link(alice, bob, staff, scope_pay=True)
    services.link_end(link=link, user=alice.user)

    assert selectors.payment_grants_for(patient=bob) == []


def test_counter_lookup_needs_an_approved_power_of_attorney(alice, bob, staff):
    approved_link(alice, bob, staff)  # a commitment letter only

    with pytest.raises(ApplicationError) as refused:
        services.counter_lookup(
            staff_user=staff, member_id_number=alice.id_number, relative_id_number=bob.id_number
        )

    assert refused.value.code == "no_power_of_attorney"
    assert AuditEvent.objects.filter(action="counter.lookup").count() == 0


def test_counter_lookup_is_audited(alice, bob, staff):
    link = approved_link(alice, bob, staff, document_kind="power_of_attorney")

    member, found = services.counter_lookup(
        staff_user=staff, member_id_number=alice.id_number, relative_id_number=bob.id_number
    )

    assert (member, found) == (alice, link)
    event = AuditEvent.objects.get(action="counter.lookup")
    assert (event.actor, event.subject_person_id, event.detail) == (
        staff,
        alice.pk,
        {"relative": bob.pk},
    )


def test_balance_view_shows_ledger_balances(alice, bob, staff, client_for):
    approved_link(alice, bob, staff)
    current, prior = member_pockets(alice)
    fund = system_account("pooled_fund")
    ledger_post(
        idempotency_key="family-test-credit",
        kind="credit",
        postings=[(fund, -180050), (current, 123456), (prior, 56594)],
    )

    response = client_for(bob).get(f"/api/v1/family/persons/{alice.pk}/")

    assert response.status_code == 200
    assert response.json()["balance"] == {
        "current_year": "1234.56",
        "prior_years": "565.94",
        "total": "1800.50",
    }
    assert response.json()["scopes"] == ["balance"]
    assert response.json()["person"]["id_number"] == alice.masked_id_number
    assert "records" not in response.json()


def test_ending_a_link_asks_once_more_and_a_bare_post_ends_nothing(alice, bob, staff, client_for):
    link = approved_link(alice, bob, staff)
    member = client_for(alice)

    page = member.get(f"/family/links/{link.pk}/end/", HTTP_ACCEPT_LANGUAGE="en")
    bare = member.post(f"/family/links/{link.pk}/end/", HTTP_ACCEPT_LANGUAGE="en")

    assert page.status_code == 200 and bare.status_code == 200
    for response in (page, bare):
        assert b'data-testid="end-confirm"' in response.content
        assert b"This cannot be undone" in response.content
    link.refresh_from_db()
    assert link.status == LinkStatus.APPROVED

    done = member.post(f"/family/links/{link.pk}/end/", {"confirm": "yes"})

    assert done.status_code == 302
    link.refresh_from_db()
    assert link.status == LinkStatus.ENDED
