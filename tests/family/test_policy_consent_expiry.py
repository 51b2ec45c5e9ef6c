"""Issue 14 (docs/adr/0017): relationships as policy data, the relative's
consent, expiry and renewal, and changes without ending a link."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from family import selectors, services
from family.models import RULES_2021, RULES_2024, FamilyLink, LinkStatus, RelationshipPolicy
from family.policy import relationship_policy_for
from family.tasks import link_expiry_sweep
from portal.errors import ApplicationError
from tests.conftest import can_view, make_member

from .conftest import request_link

# alice: 1985-03-15, region 110105 (Beijing)


@pytest.fixture
def grandpa(db):
    return make_member("Grandpa", birth=dt.date(1932, 8, 1), seq=51, phone="13900000051")


@pytest.fixture
def sister(db):
    return make_member("Sister", birth=dt.date(1988, 11, 2), seq=62, phone="13900000062")


def approve(link, staff) -> FamilyLink:
    services.link_approve(link_id=link.pk, reviewer=staff)
    link.refresh_from_db()
    return link


def provincial_2021_row() -> RelationshipPolicy:
    """Beijing keeps the 2021 rule (spouse, parents, children): more specific
    than the national 2024 row, so it wins."""
    return RelationshipPolicy.objects.create(
        region="110000", effective_from=dt.date(2021, 4, 13), relationships=list(RULES_2021)
    )


def actions(link) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="family.familylink", object_id=str(link.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- Relationships as policy data ------------------------------------------


def test_the_seeded_rows_are_the_2021_and_2024_national_rules(db):
    rows = {
        r.effective_from: r.relationships
        for r in RelationshipPolicy.objects.filter(region="000000")
    }
    assert rows == {dt.date(2021, 4, 13): RULES_2021, dt.date(2024, 7, 1): RULES_2024}
    assert relationship_policy_for(region="110105", today=dt.date(2024, 6, 30)).relationships == (
        "spouse",
        "parent",
        "child",
    )
    assert relationship_policy_for(region="110105", today=dt.date(2024, 7, 1)).relationships == (
        tuple(RULES_2024)
    )


@pytest.mark.parametrize(
    ("who", "relationship"), [("grandpa", "grandparent_paternal"), ("sister", "sibling")]
)
def test_grandparent_and_sibling_linked_under_2024_and_refused_under_2021(
    alice, grandpa, sister, staff, who, relationship
):
    relative = {"grandpa": grandpa, "sister": sister}[who]

    # Under the 2021 national row (a day before the 2024 rules): refused, nothing left.
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, relative, relationship=relationship, today=dt.date(2024, 6, 30))
    assert refused.value.code == "relationship_not_allowed"
    assert "2024-06-30" in refused.value.message
    assert FamilyLink.objects.count() == 0

    # Under the 2024 rules (today): linked and in effect once approved.
    link = approve(request_link(alice, relative, relationship=relationship), staff)
    assert link.is_in_effect()
    assert can_view(relative.user, alice, "balance")
    assert list(FamilyLink.objects.in_effect()) == [link]

    # A region row with the 2021 rule, edited in the admin, refuses the next one.
    services.link_end(link=link, user=alice.user)
    provincial_2021_row()
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, relative, relationship=relationship)
    assert refused.value.code == "relationship_not_allowed"
    assert FamilyLink.objects.filter(status=LinkStatus.PENDING).count() == 0


def test_the_form_offers_only_what_the_region_allows_today(alice, client_for):
    client = client_for(alice)
    offered = dict(client.get("/family/add/").context["form"].fields["relationship"].choices)
    assert list(offered) == RULES_2024

    provincial_2021_row()
    response = client.get("/family/add/", HTTP_ACCEPT_LANGUAGE="en")
    offered = dict(response.context["form"].fields["relationship"].choices)
    assert list(offered) == RULES_2021
    assert b"Spouse, Parent, Child." in response.content


def test_plausibility_grandparent_older_grandchild_younger_sibling_unchecked(
    alice, grandpa, sister, child
):
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, child, relationship="grandparent_maternal")
    assert refused.value.code == "relationship_mismatch"
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, grandpa, relationship="grandchild_paternal")
    assert refused.value.code == "relationship_mismatch"
    assert FamilyLink.objects.count() == 0
    # A sibling may be born before or after: both pass.
    assert request_link(alice, sister, relationship="sibling").pk
    assert request_link(alice, grandpa, relationship="sibling").pk


def test_sharing_across_the_province_follows_the_policy(alice, charlie, staff):
    # charlie is insured in Guangdong (44), alice in Beijing (11).
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, charlie, relationship="sibling", scope_pay=True)
    assert refused.value.code == "relative_not_verified"

    row = RelationshipPolicy.objects.create(
        region="110000",
        effective_from=dt.date(2025, 1, 1),
        relationships=list(RULES_2024),
        cross_province=True,
    )
    link = approve(request_link(alice, charlie, relationship="sibling", scope_pay=True), staff)
    assert [g.pk for g in selectors.payment_grants_for(patient=charlie)] == [link.pk]

    # The region goes back to sharing within the province: payment stops.
    row.delete()
    assert selectors.payment_grants_for(patient=charlie) == []


def test_a_term_the_policy_does_not_allow_is_refused(alice, bob):
    RelationshipPolicy.objects.create(
        region="110000",
        effective_from=dt.date(2025, 1, 1),
        relationships=list(RULES_2024),
        allow_until_ended=False,
    )
    with pytest.raises(ApplicationError) as refused:
        request_link(alice, bob, term="open")
    assert refused.value.code == "term_not_allowed"
    assert FamilyLink.objects.count() == 0
    assert request_link(alice, bob, term="3y").term == "3y"


# --- The relative's consent ------------------------------------------------


def test_a_link_is_inactive_until_the_relative_confirms(alice, bob, staff, client_for):
    link = approve(request_link(alice, bob, scope_records=True, confirmed=False), staff)
    assert link.status == LinkStatus.APPROVED and link.state == "awaiting_relative"
    client = client_for(bob)
    assert client.get(f"/dashboard/{alice.pk}/").status_code == 404
    assert not can_view(bob.user, alice, "balance")
    assert selectors.grants_for_user(bob.user) == []

    # bob sees the request awaiting his confirmation, and confirms it.
    page = client.get("/family/confirmations/")
    assert [x.pk for x in page.context["awaiting"]] == [link.pk]
    assert client.post(f"/family/links/{link.pk}/confirm/").status_code == 302

    assert client.get(f"/dashboard/{alice.pk}/").status_code == 200
    assert client.get("/family/confirmations/").context["awaiting"] == []
    assert actions(link) == ["family.link.request", "family.link.approve", "family.link.confirm"]
    event = AuditEvent.objects.get(action="family.link.confirm")
    assert (event.actor_id, event.subject_person_id) == (bob.user_id, alice.pk)


def test_only_the_relative_confirms(alice, bob, charlie, staff, client_for):
    link = request_link(alice, bob, confirmed=False)
    with pytest.raises(ApplicationError) as refused:
        services.link_confirm(link=link, user=alice.user)
    assert refused.value.status_code == 403
    assert client_for(alice).post(f"/family/links/{link.pk}/confirm/").status_code == 403
    link.refresh_from_db()
    assert link.relative_confirmed_at is None


def test_the_relative_declines_after_a_confirmation_step(alice, bob, staff, client_for):
    link = request_link(alice, bob, confirmed=False)
    client = client_for(bob)
    asked = client.get(f"/family/links/{link.pk}/decline/")
    assert asked.status_code == 200 and b"confirm-decline" in asked.content
    link.refresh_from_db()
    assert link.status == LinkStatus.PENDING

    assert client.post(f"/family/links/{link.pk}/decline/", {"confirm": "yes"}).status_code == 302
    link.refresh_from_db()
    assert link.status == LinkStatus.DECLINED
    assert actions(link) == ["family.link.request", "family.link.decline"]
    with pytest.raises(ApplicationError):
        services.link_approve(link_id=link.pk, reviewer=staff)


def test_a_minor_s_link_rests_on_the_document_and_review(alice, child, staff):
    link = request_link(alice, child, relationship="child", scope_pay=True)
    assert link.relative_is_minor and link.relative_confirmed_at is None
    assert not link.is_in_effect()
    link = approve(link, staff)
    assert link.is_in_effect()
    assert [p.pk for p in selectors.payment_grants_for(patient=child)] == [link.pk]


def test_the_e_certificate_follows_the_same_consent(alice, bob, staff):
    from access.lookups import ecert_subjects
    from access.viewer import viewer_of_user

    link = approve(request_link(alice, bob, scope_pay=True, confirmed=False), staff)
    assert [p.pk for p in ecert_subjects(viewer_of_user(alice.user))] == [alice.pk]
    services.link_confirm(link=link, user=bob.user)
    assert [p.pk for p in ecert_subjects(viewer_of_user(alice.user))] == [alice.pk, bob.pk]


# --- Expiry and renewal ----------------------------------------------------


def test_expiry_stops_access_at_once_and_renewal_restores_it(alice, bob, staff, client_for):
    link = approve(request_link(alice, bob, term="1y"), staff)
    assert link.expires_at.date() == services.add_years(link.reviewed_at, 1).date()
    client = client_for(bob)
    assert client.get(f"/dashboard/{alice.pk}/").status_code == 200

    # The end date passes (set in the database): the next request is refused,
    # before any job has run.
    past = timezone.now() - dt.timedelta(seconds=1)
    FamilyLink.objects.filter(pk=link.pk).update(expires_at=past)
    assert client.get(f"/dashboard/{alice.pk}/").status_code == 404
    assert FamilyLink.objects.in_effect().count() == 0

    # The job records it once, however often it runs.
    assert link_expiry_sweep() == {"reminded": 0, "expired": 1}
    assert link_expiry_sweep() == {"reminded": 0, "expired": 0}
    assert actions(link).count("family.link.expired") == 1

    # One click, confirmed: renewal from now, recorded with before and after.
    member = client_for(alice)
    asked = member.get(f"/family/links/{link.pk}/renew/")
    assert asked.status_code == 200 and b"confirm-renew" in asked.content
    assert member.post(f"/family/links/{link.pk}/renew/").status_code == 200  # no confirm
    link.refresh_from_db()
    assert link.expires_at == past
    assert member.post(f"/family/links/{link.pk}/renew/", {"confirm": "yes"}).status_code == 302
    link.refresh_from_db()
    assert link.expires_at > timezone.now() + dt.timedelta(days=364)
    event = AuditEvent.objects.get(action="family.link.renew")
    assert event.detail["before"]["expires_at"] == past.isoformat()
    assert event.detail["was_expired"] is True

    client = client_for(bob)
    assert client.get(f"/dashboard/{alice.pk}/").status_code == 200


def test_reminder_30_days_before_once_per_link_and_end_date(alice, bob, staff):
    link = approve(request_link(alice, bob, term="1y"), staff)
    end = link.expires_at
    assert services.links_remind_expiring(now=end - dt.timedelta(days=31)) == 0
    assert services.links_remind_expiring(now=end - dt.timedelta(days=30)) == 1
    assert services.links_remind_expiring(now=end - dt.timedelta(days=29)) == 0
    assert actions(link).count("family.link.expiry_reminder") == 1

    # Renewed before the end: the new end date gets its own reminder.
    renewed = services.link_renew(link=link, user=alice.user, now=end - dt.timedelta(days=20))
    assert renewed.expires_at == services.add_years(end, 1)
    assert services.links_remind_expiring(now=end) == 0
    assert services.links_remind_expiring(now=renewed.expires_at - dt.timedelta(days=10)) == 1
    assert actions(link).count("family.link.expiry_reminder") == 2
    event = AuditEvent.objects.filter(action="family.link.expiry_reminder").last()
    assert event.subject_person_id == alice.pk and event.actor_id is None


def test_until_ended_links_never_expire_and_cannot_be_renewed(alice, bob, staff):
    link = approve(request_link(alice, bob, term="open"), staff)
    assert link.expires_at is None and link.is_in_effect()
    with pytest.raises(ApplicationError) as refused:
        services.link_renew(link=link, user=alice.user)
    assert refused.value.code == "not_renewable"


def test_only_the_member_renews(alice, bob, staff):
    link = approve(request_link(alice, bob), staff)
    with pytest.raises(ApplicationError) as refused:
        services.link_renew(link=link, user=bob.user)
    assert refused.value.status_code == 403


# --- Changing scopes and the yearly cap ------------------------------------


def test_a_scope_change_takes_effect_on_the_next_request(alice, bob, staff, client_for):
    link = approve(request_link(alice, bob, scope_balance=True), staff)
    relative = client_for(bob)
    before = relative.get(f"/api/v1/family/persons/{alice.pk}/").json()
    assert before["scopes"] == ["balance"]

    member = client_for(alice)
    form = {"scope_records": "on"}
    # Taking "balance" away asks once more; nothing changes yet.
    asked = member.post(f"/family/links/{link.pk}/change/", form)
    assert asked.status_code == 200 and b"confirm-change" in asked.content
    link.refresh_from_db()
    assert link.scopes() == ["balance"]
    done = member.post(f"/family/links/{link.pk}/change/", {**form, "confirm": "yes"})
    assert done.status_code == 302
    link.refresh_from_db()
    assert link.scopes() == ["records"] and link.status == LinkStatus.APPROVED

    relative = client_for(bob)
    after = relative.get(f"/api/v1/family/persons/{alice.pk}/").json()
    assert after["scopes"] == ["records"] and "balance" not in after
    event = AuditEvent.objects.get(action="family.link.change")
    assert event.detail["before"] == {"scopes": ["balance"], "pay_yearly_cap_fen": None}
    assert event.detail["after"] == {"scopes": ["records"], "pay_yearly_cap_fen": None}
    assert event.subject_person_id == alice.pk and event.object_id == str(link.pk)


def test_changing_the_yearly_cap_is_recorded_and_used_by_claims(alice, bob, staff, client_for):
    link = approve(request_link(alice, bob, scope_pay=True), staff)
    assert [g.pay_yearly_cap_fen for g in selectors.payment_grants_for(patient=bob)] == [None]
    member = client_for(alice)
    # Adding a cap takes nothing away: no second question.
    response = member.post(
        f"/family/links/{link.pk}/change/",
        {"scope_balance": "on", "scope_pay": "on", "pay_yearly_cap": "1500.00"},
    )
    assert response.status_code == 302
    assert [g.pay_yearly_cap_fen for g in selectors.payment_grants_for(patient=bob)] == [150000]
    event = AuditEvent.objects.get(action="family.link.change")
    assert event.detail["before"]["pay_yearly_cap_fen"] is None
    assert event.detail["after"] == {"scopes": ["balance", "pay"], "pay_yearly_cap_fen": 150000}


def test_a_change_needs_at_least_one_scope_and_only_the_member(alice, bob, staff, client_for):
    link = approve(request_link(alice, bob), staff)
    response = client_for(alice).post(f"/family/links/{link.pk}/change/", {"confirm": "yes"})
    assert response.status_code == 400
    link.refresh_from_db()
    assert link.scopes() == ["balance"]
    assert client_for(bob).get(f"/family/links/{link.pk}/change/").status_code == 403
    assert not AuditEvent.objects.filter(action="family.link.change").exists()


def test_renewal_needs_the_relationship_to_qualify_today(alice, grandpa, staff):
    link = approve(request_link(alice, grandpa, relationship="grandparent_maternal"), staff)
    provincial_2021_row()
    # The link runs to its end date: a policy change ends nothing by itself.
    assert link.is_in_effect()
    with pytest.raises(ApplicationError) as refused:
        services.link_renew(link=link, user=alice.user)
    assert refused.value.code == "relationship_not_allowed"
    expires = link.expires_at
    link.refresh_from_db()
    assert link.expires_at == expires
    assert not AuditEvent.objects.filter(action="family.link.renew").exists()
