"""Cross-region filing and chronic-disease application, end to end through
the pages: applied, reviewed (approved, rejected with a reason), followed by
the member and by a relative with the errands scope; refused to others."""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import AuditEvent
from errands.models import ChronicApplication, CrossRegionFiling
from tests.dashboard.helpers import link
from tests.family import files


def _png(name="proof.png"):
    return SimpleUploadedFile(name, files.pillow_png(), content_type="image/png")


def _today():
    return timezone.localdate()


def _temporary(client, *, person=None, destination="310100", days=10):
    data = {
        "kind": "temporary",
        "destination": destination,
        "start_date": _today().isoformat(),
        "end_date": (_today() + dt.timedelta(days=days)).isoformat(),
    }
    if person is not None:
        data["person"] = person.pk
    return client.post("/errands/filing/new/", data)


def _actions():
    """The status changes (the notifications are sent from these)."""
    return list(
        AuditEvent.objects.filter(action__startswith="errands.")
        .exclude(action__endswith=".view")
        .values_list("action", flat=True)
        .order_by("id")
    )


def test_temporary_filing_approved_and_shown_on_the_dashboard(alice, staff, client_for):
    member = client_for(alice)
    assert member.get("/errands/filing/new/").status_code == 200
    r = _temporary(member)
    assert r.status_code == 302, r.content.decode()[:2000]
    filing = CrossRegionFiling.objects.get()
    assert (filing.person, filing.status, filing.destination) == (alice, "pending", "310100")
    assert r["Location"] == f"/errands/filing/{filing.pk}/"
    page = member.get(f"/errands/filing/{filing.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Pending review" in page and "上海市" in page

    queue = client_for(staff).get("/family/review/").content.decode()
    assert f'data-testid="review-filing-{filing.pk}"' in queue
    assert alice.id_number in queue  # staff see the full number (the page view is audited)
    r = client_for(staff).post(f"/errands/review/filing/{filing.pk}/", {"decision": "approve"})
    assert r.status_code == 302
    filing.refresh_from_db()
    assert filing.status == "approved" and filing.reviewed_by == staff

    home = client_for(alice).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="dashboard-filing"' in home
    assert "Cross-region filing for 上海市" in home
    end = (_today() + dt.timedelta(days=10)).isoformat()
    assert f"{_today().isoformat()} to {end}" in home
    assert _actions() == ["errands.filing.submit", "errands.filing.approve"]
    event = AuditEvent.objects.get(action="errands.filing.approve")
    assert event.subject_person_id == alice.pk and event.object_id == str(filing.pk)


def test_long_term_filing_needs_a_document_and_is_rejected_with_a_reason(alice, staff, client_for):
    member = client_for(alice)
    base = {"kind": "long_term", "destination": "440300", "start_date": _today().isoformat()}
    r = member.post("/errands/filing/new/", {**base, "document_kind": "commitment_letter"})
    assert r.status_code == 400
    assert 'data-testid="error-document"' in r.content.decode()
    bad = SimpleUploadedFile("x.png", b"MZ not an image", content_type="image/png")
    r = member.post(
        "/errands/filing/new/", {**base, "document_kind": "commitment_letter", "document": bad}
    )
    assert r.status_code == 400
    assert CrossRegionFiling.objects.count() == 0
    r = member.post(
        "/errands/filing/new/",
        {**base, "document_kind": "commitment_letter", "document": _png()},
    )
    assert r.status_code == 302
    filing = CrossRegionFiling.objects.get()
    assert filing.kind == "long_term" and filing.end_date is None and filing.document_name
    assert member.get(f"/errands/filing/{filing.pk}/document/").status_code == 200

    staff_client = client_for(staff)
    staff_client.post(f"/errands/review/filing/{filing.pk}/", {"decision": "reject"})
    filing.refresh_from_db()
    assert filing.status == "pending"  # no reason: refused
    staff_client.post(
        f"/errands/review/filing/{filing.pk}/",
        {"decision": "reject", "reason": "The commitment letter is not signed."},
    )
    filing.refresh_from_db()
    assert filing.status == "rejected"
    page = client_for(alice).get(f"/errands/filing/{filing.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert "Rejected" in body and "The commitment letter is not signed." in body
    assert _actions() == ["errands.filing.submit", "errands.filing.reject"]


def test_filing_refusals_name_the_field(alice, client_for):
    member = client_for(alice)
    r = _temporary(member, destination="110100")  # where alice is insured
    assert r.status_code == 400 and 'data-testid="error-destination"' in r.content.decode()
    r = member.post(
        "/errands/filing/new/",
        {"kind": "temporary", "destination": "310100", "start_date": _today().isoformat()},
    )
    assert r.status_code == 400 and 'data-testid="error-end_date"' in r.content.decode()
    assert _temporary(member).status_code == 302
    r = _temporary(member)  # the same city again while the first waits
    assert r.status_code == 409
    assert CrossRegionFiling.objects.count() == 1


def test_relative_with_errands_scope_files_and_follows(alice, bob, charlie, staff, client_for):
    link(alice, bob, balance=False, records=False, errands=True)
    relative = client_for(bob)
    assert relative.get(f"/errands/?person={alice.pk}").status_code == 200
    r = _temporary(relative, person=alice)
    assert r.status_code == 302, r.content.decode()[:3000]
    filing = CrossRegionFiling.objects.get()
    assert filing.person == alice and filing.submitted_by == bob.user
    page = relative.get(f"/errands/?person={alice.pk}").content.decode()
    assert 'data-testid="filing-row"' in page
    assert relative.get(f"/errands/filing/{filing.pk}/").status_code == 200
    event = AuditEvent.objects.get(action="errands.filing.submit")
    assert event.actor_id == bob.user.pk and event.subject_person_id == alice.pk
    assert event.detail["by_relative"] is True

    # a stranger, and a relative without the scope, see nothing
    stranger = client_for(charlie)
    assert stranger.get(f"/errands/?person={alice.pk}").status_code == 404
    assert stranger.get(f"/errands/filing/{filing.pk}/").status_code == 404
    assert _temporary(stranger, person=alice).status_code == 404
    assert CrossRegionFiling.objects.count() == 1


def test_relative_without_errands_scope_is_refused(alice, bob, client_for):
    link(alice, bob, balance=True, records=True, errands=False)
    relative = client_for(bob)
    assert relative.get(f"/errands/?person={alice.pk}").status_code == 404
    assert relative.get(f"/errands/filing/new/?person={alice.pk}").status_code == 404
    assert _temporary(relative, person=alice).status_code == 404
    assert (
        relative.post(
            "/errands/chronic/new/", {"person": alice.pk, "disease": "HTN", "document": _png()}
        ).status_code
        == 404
    )
    assert CrossRegionFiling.objects.count() == 0 and ChronicApplication.objects.count() == 0


def test_chronic_application_approved_with_validity_and_rejected(alice, bob, staff, client_for):
    link(alice, bob, balance=False, records=False, errands=True)
    relative = client_for(bob)
    page = relative.get(f"/errands/chronic/new/?person={alice.pk}", HTTP_ACCEPT_LANGUAGE="en")
    assert "Hypertension" in page.content.decode()
    r = relative.post(
        "/errands/chronic/new/", {"person": alice.pk, "disease": "HTN", "document": _png()}
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    htn = ChronicApplication.objects.get()
    r = client_for(alice).post("/errands/chronic/new/", {"disease": "DM"})
    assert r.status_code == 400  # no document
    r = client_for(alice).post("/errands/chronic/new/", {"disease": "DM", "document": _png()})
    assert r.status_code == 302
    dm = ChronicApplication.objects.exclude(pk=htn.pk).get()

    staff_client = client_for(staff)
    queue = staff_client.get("/family/review/").content.decode()
    assert f'data-testid="review-chronic-{htn.pk}"' in queue
    # an approval without a validity period, and no decision at all: refused, said why
    for data, said in (
        ({"decision": "approve"}, "Enter the validity period"),
        ({"decision": "maybe"}, "Choose approve or reject"),
    ):
        r = staff_client.post(
            f"/errands/review/chronic/{htn.pk}/", data, HTTP_ACCEPT_LANGUAGE="en", follow=True
        )
        assert said in r.content.decode()
        htn.refresh_from_db()
        assert htn.status == "pending"
    valid_from, valid_until = _today(), _today() + dt.timedelta(days=730)
    staff_client.post(
        f"/errands/review/chronic/{htn.pk}/",
        {
            "decision": "approve",
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
        },
    )
    staff_client.post(
        f"/errands/review/chronic/{dm.pk}/",
        {"decision": "reject", "reason": "The diagnosis is older than two years."},
    )
    htn.refresh_from_db()
    dm.refresh_from_db()
    assert (htn.status, htn.valid_from, htn.valid_until) == ("approved", valid_from, valid_until)
    assert (dm.status, dm.reason) == ("rejected", "The diagnosis is older than two years.")

    relative = client_for(bob)
    listing = relative.get(f"/errands/?person={alice.pk}", HTTP_ACCEPT_LANGUAGE="en")
    body = listing.content.decode()
    assert "Approved" in body and "Rejected" in body
    assert f"{valid_from.isoformat()} – {valid_until.isoformat()}" in body
    detail = relative.get(f"/errands/chronic/{dm.pk}/").content.decode()
    assert "The diagnosis is older than two years." in detail
    viewed = AuditEvent.objects.filter(action="errands.chronic.view").last()
    assert viewed.actor_id == bob.user.pk and viewed.subject_person_id == alice.pk
    home = client_for(alice).get("/").content.decode()
    assert 'data-testid="dashboard-chronic"' in home
    assert _actions() == [
        "errands.chronic.submit",
        "errands.chronic.submit",
        "errands.chronic.approve",
        "errands.chronic.reject",
    ]


def test_a_decided_errand_cannot_be_decided_again(alice, staff, client_for):
    _temporary(client_for(alice))
    filing = CrossRegionFiling.objects.get()
    staff_client = client_for(staff)
    staff_client.post(f"/errands/review/filing/{filing.pk}/", {"decision": "approve"})
    staff_client.post(
        f"/errands/review/filing/{filing.pk}/", {"decision": "reject", "reason": "late"}
    )
    filing.refresh_from_db()
    assert filing.status == "approved" and filing.reason == ""
    assert _actions() == ["errands.filing.submit", "errands.filing.approve"]


def test_review_needs_verified_staff(alice, bob, client_for, staff, client):
    _temporary(client_for(alice))
    filing = CrossRegionFiling.objects.get()
    r = client_for(bob).post(f"/errands/review/filing/{filing.pk}/", {"decision": "approve"})
    assert r.status_code == 403
    client.logout()
    client.force_login(staff)  # staff without the one-time code
    r = client.post(f"/errands/review/filing/{filing.pk}/", {"decision": "approve"})
    assert r.status_code == 302 and "/review/" not in r["Location"]
    filing.refresh_from_db()
    assert filing.status == "pending"
