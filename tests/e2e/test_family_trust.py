"""Issue 14 in Chromium, at desktop width and at 390 px: a grandparent linked
under the 2024 rules (and not offered under a 2021 row), inactive until the
relative confirms, a scope change seen on the next request, expiry stopping
access at once, and a one-click renewal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import ledger_post, member_pockets, system_account
from audit.models import AuditEvent
from family import services
from family.models import RULES_2021, FamilyLink, RelationshipPolicy
from tests.conftest import PASSWORD, make_member
from tests.e2e.conftest import sign_in
from tests.family.conftest import request_link


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def no_overflow(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "390px"])
def test_grandparent_confirms_scope_change_expiry_and_renewal(
    page, alice, staff, screenshot, width
):
    page.set_viewport_size({"width": width, "height": 844})
    grandpa = make_member("Grandpa", birth=dt.date(1932, 8, 1), seq=51, phone="13900000051")
    current, prior = member_pockets(alice)
    ledger_post(
        idempotency_key=f"e2e-trust-{width}",
        kind="credit",
        postings=[(system_account("pooled_fund"), -50000), (current, 20000), (prior, 30000)],
    )

    # The add form offers a grandparent under the 2024 rules.
    sign_in(page, alice.id_number, PASSWORD)
    page.goto("/family/add/")
    options = page.locator("select[name=relationship] option")
    expect(options).to_have_count(8)
    expect(page.get_by_test_id("consent-hint")).to_be_visible()
    no_overflow(page, width)
    screenshot(f"family-trust-add-{width}")

    link = request_link(
        alice, grandpa, relationship="grandparent_paternal", term="1y", confirmed=False
    )
    services.link_approve(link_id=link.pk, reviewer=staff)
    page.goto(f"/family/links/{link.pk}/")
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_attribute(
        "data-state", "awaiting_relative"
    )
    page.context.clear_cookies()

    # Inactive until the grandparent confirms in his own account.
    sign_in(page, grandpa.id_number, PASSWORD)
    assert page.goto(f"/family/view/{alice.pk}/").status == 404
    page.goto("/family/")
    page.get_by_test_id("to-confirmations").click()
    expect(page.get_by_test_id(f"awaiting-{link.pk}")).to_be_visible()
    no_overflow(page, width)
    page.get_by_test_id(f"awaiting-{link.pk}").locator("a").click()
    expect(page.get_by_test_id("confirm-box")).to_be_visible()
    no_overflow(page, width)
    screenshot(f"family-trust-confirm-{width}")
    page.get_by_test_id("confirm-link").click()
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_attribute("data-state", "in_effect")
    assert page.goto(f"/family/view/{alice.pk}/").status == 200
    expect(page.get_by_test_id("balance-total")).to_have_text("¥500.00")
    expect(page.get_by_test_id("latest-contributions")).to_have_count(0)
    relative_view = f"/family/view/{alice.pk}/"
    page.context.clear_cookies()

    # The member swaps "balance" for "records", with one more question.
    sign_in(page, alice.id_number, PASSWORD)
    page.goto(f"/family/links/{link.pk}/")
    page.get_by_test_id("change-link").click()
    no_overflow(page, width)
    page.uncheck("input[name=scope_balance]")
    page.check("input[name=scope_records]")
    page.get_by_test_id("save-change").click()
    expect(page.get_by_test_id("change-confirm")).to_be_visible()
    no_overflow(page, width)
    screenshot(f"family-trust-change-confirm-{width}")
    page.get_by_test_id("confirm-change").click()
    expect(page.get_by_test_id("consent")).to_be_visible()
    page.context.clear_cookies()

    # The grandparent's next request: records, no balance.
    sign_in(page, grandpa.id_number, PASSWORD)
    page.goto(relative_view)
    expect(page.get_by_test_id("latest-contributions")).to_have_count(1)
    expect(page.get_by_test_id("balance-total")).to_have_count(0)

    # The end date passes: the next request is refused, no job needed.
    FamilyLink.objects.filter(pk=link.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert page.goto(relative_view).status == 404
    page.context.clear_cookies()

    # One-click renewal, confirmed.
    sign_in(page, alice.id_number, PASSWORD)
    page.goto(f"/family/links/{link.pk}/")
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_attribute("data-state", "expired")
    page.get_by_test_id("renew-link").click()
    expect(page.get_by_test_id("new-end")).to_be_visible()
    no_overflow(page, width)
    screenshot(f"family-trust-renew-{width}")
    page.get_by_test_id("confirm-renew").click()
    expect(page.get_by_test_id(f"status-{link.pk}")).to_have_attribute("data-state", "in_effect")

    # Under a 2021 row for the province, a grandparent is no longer offered.
    RelationshipPolicy.objects.create(
        region="110000", effective_from=dt.date(2021, 4, 13), relationships=list(RULES_2021)
    )
    page.goto("/family/add/")
    expect(options).to_have_count(3)
    expect(
        page.locator("select[name=relationship] option[value=grandparent_paternal]")
    ).to_have_count(0)
    page.context.clear_cookies()

    sign_in(page, grandpa.id_number, PASSWORD)
    assert page.goto(relative_view).status == 200
    actions = list(
        AuditEvent.objects.filter(object_id=str(link.pk), action__startswith="family.link.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "family.link.request",
        "family.link.approve",
        "family.link.confirm",
        "family.link.change",
        "family.link.renew",
    ]
