"""The whole family-account flow in Debian's Chromium: the member adds a
relative, staff approve, the relative sees the balance, the member revokes,
the relative no longer can."""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.services import ledger_post, member_pockets, system_account
from audit.models import AuditEvent
from family.models import FamilyLink, LinkStatus
from portal.security import totp_code
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.family.files import png


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def sign_out(page) -> None:
    page.context.clear_cookies()


def test_family_flow_end_to_end(page, alice, bob, staff, screenshot):
    current, prior = member_pockets(alice)
    ledger_post(
        idempotency_key="e2e-family-credit",
        kind="credit",
        postings=[(system_account("pooled_fund"), -300000), (current, 120000), (prior, 180000)],
    )

    # The member adds her spouse.
    sign_in(page, alice.id_number, PASSWORD)
    page.get_by_test_id("my-family").click()
    page.get_by_test_id("add-relative").click()
    expect(page.locator("#reminder")).to_be_visible()
    page.check("input[name=agree]")
    page.fill("input[name=name]", bob.name)
    page.fill("input[name=id_number]", bob.id_number)
    page.select_option("select[name=relationship]", "spouse")
    page.check("input[name=scope_balance]")
    page.select_option("select[name=document_kind]", "commitment_letter")
    page.set_input_files(
        "input[name=document]",
        files=[{"name": "letter.png", "mimeType": "image/png", "buffer": png()}],
    )
    screenshot("family-add")
    page.get_by_test_id("submit-relative").click()
    link = FamilyLink.objects.get(member=alice, relative=bob)
    # Waiting for both the review and the relative's confirmation.
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_attribute("data-state", "pending_both")
    sign_out(page)

    # Staff approve it (after the one-time code), with the document shown inline.
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    sign_in(page, "staff", PASSWORD)
    page.goto("/family/review/")
    otp_form = page.locator("main form")
    otp_form.locator("input:not([type=hidden])").first.fill(totp_code(device))
    otp_form.locator("button[type=submit]").click()
    card = page.get_by_test_id(f"review-{link.pk}")
    expect(card.locator("img")).to_be_visible()
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=card.locator("img").element_handle())
    assert card.locator("img").evaluate("img => img.naturalWidth") == 1
    screenshot("family-review")
    page.get_by_test_id(f"approve-{link.pk}").click()
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    sign_out(page)

    # The relative confirms in his own account, then switches to the
    # member's account and sees the balance.
    sign_in(page, bob.id_number, PASSWORD)
    page.get_by_test_id("my-family").click()
    page.get_by_test_id(f"confirm-{link.pk}").click()
    page.get_by_test_id("confirm-link").click()
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_attribute("data-state", "in_effect")
    page.goto("/family/")
    page.get_by_test_id("account-switch").select_option(str(alice.pk))
    # The one relative view of a member (access layer, docs/adr/0012).
    expect(page).to_have_url(re.compile(rf"/dashboard/{alice.pk}/$"))
    expect(page.get_by_test_id("balance-current")).to_have_text("¥1,200.00")
    expect(page.get_by_test_id("balance-prior")).to_have_text("¥1,800.00")
    expect(page.get_by_test_id("balance-total")).to_have_text("¥3,000.00")
    expect(page.get_by_test_id("latest-contributions")).to_have_count(0)
    screenshot("family-relative-balance")
    relative_page = page.url
    sign_out(page)

    # The member revokes.
    sign_in(page, alice.id_number, PASSWORD)
    page.goto("/family/")
    page.get_by_test_id(f"revoke-{link.pk}").click()
    # One more step: what ending means, then the confirming button.
    expect(page.get_by_test_id("end-confirm")).to_contain_text("无法撤销")
    page.get_by_test_id("confirm-end").click()
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_text("已终止")
    sign_out(page)

    # The relative no longer can.
    sign_in(page, bob.id_number, PASSWORD)
    response = page.goto(relative_page)
    assert response.status == 404
    page.goto("/family/")
    expect(page.get_by_test_id("account-switch")).to_have_count(0)
    screenshot("family-relative-after-revoke")

    link.refresh_from_db()
    assert link.status == LinkStatus.ENDED
    actions = list(
        AuditEvent.objects.filter(action__startswith="family.").values_list("action", flat=True)
    )
    assert actions == [
        "family.link.request",
        "family.review.list",  # the queue page named both persons (empty after approval)
        "family.document.view",
        "family.link.approve",
        "family.link.confirm",
        "family.link.revoke",
    ]


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "390px"])
def test_staff_preview_a_pdf_as_an_image_within_the_csp(page, alice, bob, staff, screenshot, width):
    from tests.family.conftest import request_link, upload
    from tests.family.files import pdf

    link = request_link(alice, bob, document=upload(pdf(), "letter.pdf", "application/pdf"))
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.set_viewport_size({"width": width, "height": 844})

    sign_in(page, "staff", PASSWORD)
    page.goto("/family/review/")
    otp_form = page.locator("main form")
    otp_form.locator("input:not([type=hidden])").first.fill(totp_code(device))
    otp_form.locator("button[type=submit]").click()

    preview = page.get_by_test_id(f"preview-{link.pk}")
    expect(preview).to_be_visible()
    preview.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
    )
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [827, 1170]
    box = preview.bounding_box()
    assert box["width"] <= width and box["height"] > 100
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert blocked == []
    screenshot(f"family-review-pdf-{width}")
    assert (
        AuditEvent.objects.filter(action="family.document.preview", object_id=str(link.pk)).count()
        == 1
    )
