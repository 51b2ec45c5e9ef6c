"""Paying a relative's resident contribution and the access log in Debian's
Chromium (docs/adr/0018): the flow at desktop width and at 390 px in the
elderly mode; every page of it without horizontal scroll or axe violation in
the three modes of test_every_page."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import AccountKind, LedgerAccount
from payments.models import ResidentContributionPayment
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from tests.e2e.test_every_page import MODES, _check_page
from tests.payments.resident_helpers import fund_prior, link, policies, resident_child


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


def _mode(page, elderly: bool) -> None:
    page.context.clear_cookies(name="portal_elderly")
    if elderly:
        origin = "{0.scheme}://{0.netloc}/".format(urlparse(page.url))
        page.context.add_cookies([{"name": "portal_elderly", "value": "1", "url": origin}])


def _check_all(page, paths: list[str]) -> list[str]:
    problems = []
    for mode, viewport, elderly, run_axe in MODES:
        _mode(page, elderly)
        for path in paths:
            problems += _check_page(page, path, "familypay", mode, viewport, run_axe)
    _mode(page, False)
    return problems


def _pay(page, child, year: int, *, double_click: bool = False) -> None:
    page.goto("/family/")
    page.get_by_test_id("pay-resident").click()
    page.get_by_test_id(f"relative-{child.pk}").check()
    page.get_by_test_id("year").select_option(str(year))
    page.get_by_test_id("continue").click()
    expect(page.get_by_test_id("amount")).to_have_text("¥400.00")
    if double_click:  # two POSTs of one confirmation: one payment
        page.get_by_test_id("confirm-pay").dblclick()
    else:
        page.get_by_test_id("confirm-pay").click()
    expect(page.get_by_test_id("resident-paid")).to_be_visible()
    expect(page.get_by_test_id("amount")).to_have_text("¥400.00")


def test_pay_a_relatives_contribution_and_read_the_access_log(page, alice, bob, staff, screenshot):
    year = timezone.localdate().year
    policies()
    first = resident_child("Xiaoyu", seq=42)
    second = resident_child("Xiaoming", seq=44)
    link(alice, first, staff)
    link(alice, second, staff)
    link(alice, bob, staff, relationship="spouse", scope_balance=True, scope_records=True)
    fund_prior(alice, 100000)

    # bob looks at alice's account once: the page shows the three grants he
    # holds (balance, records, the pay form), one access-log entry each.
    sign_in(page, bob.id_number, PASSWORD)
    page.goto(f"/dashboard/{alice.pk}/")
    expect(page.get_by_test_id("balance-prior")).to_have_text("¥1,000.00")
    page.context.clear_cookies()

    sign_in(page, alice.id_number, PASSWORD)
    problems = _check_all(
        page,
        [
            "/payments/family-contribution/",
            f"/payments/family-contribution/confirm/?relative={first.pk}&year={year}",
        ],
    )

    # Desktop: choose, confirm, paid.
    page.set_viewport_size({"width": 1280, "height": 900})
    _pay(page, first, year, double_click=True)
    screenshot("familypay-paid-desktop")
    assert ResidentContributionPayment.objects.filter(relative=first).count() == 1

    # 390 px in the elderly mode: the second child.
    page.set_viewport_size({"width": 390, "height": 844})
    _mode(page, True)
    _pay(page, second, year)
    screenshot("familypay-paid-phone-elderly")
    # A paid year is refused with its reason.
    page.goto(f"/payments/family-contribution/confirm/?relative={second.pk}&year={year}")
    expect(page.get_by_test_id("error")).to_contain_text("缴纳了")
    _mode(page, False)

    prior = LedgerAccount.objects.get(person=alice, kind=AccountKind.MEMBER_PRIOR)
    assert prior.balance_fen == 20000

    # Both payments on her records; bob's one view, by grant, in her access log.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/dashboard/records/")
    expect(page.get_by_test_id("surplus-line")).to_have_count(2)
    page.get_by_test_id("nav-access-log").click()
    entries = page.get_by_test_id("log-entry")
    expect(entries).to_have_count(3)
    for entry in entries.all():
        expect(entry).to_contain_text("Bob")
    expect(entries.filter(has_text="余额")).not_to_have_count(0)
    expect(entries.filter(has_text="缴费记录")).not_to_have_count(0)
    expect(entries.filter(has_text="历年资金支付")).not_to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    page.select_option("#f-kind", "payment")
    page.locator("form[data-testid=log-filters] button[type=submit]").click()
    expect(page.get_by_test_id("log-empty")).to_be_visible()
    screenshot("familypay-access-log-phone")
    payment = ResidentContributionPayment.objects.get(relative=first)
    problems += _check_all(
        page,
        [
            f"/payments/family-contribution/{payment.pk}/",
            "/payments/family-contribution/",
            "/dashboard/records/",
            "/access-log/",
            "/access-log/?kind=view&since=2020-01-01",
            "/access-log/mine/",
        ],
    )
    page.context.clear_cookies()

    # bob's own list: what he did on alice's account.
    sign_in(page, bob.id_number, PASSWORD)
    page.goto("/access-log/mine/")
    expect(page.get_by_test_id("own-entry")).to_have_count(3)
    problems += _check_all(page, ["/access-log/mine/", "/access-log/"])
    assert problems == [], "\n".join(problems)
