"""A demo member in Debian's Chromium: each page's figures against the ledger
and the selectors, language switch, PDF certificate verified on /verify/, and
screenshots (desktop and phone) in test-artifacts/."""

import io
import re

import pypdf
import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.selectors import pocket_balances
from members import demo as members_demo
from payments.selectors import contributions_for
from portal.demo import DEMO_PASSWORD
from portal.money import format_yuan
from tests.e2e.conftest import sign_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo")
    return members_demo.person("zhangwei")


@pytest.mark.django_db(transaction=True)
def test_member_portal_pages_match_the_ledger(page, demo, screenshot, live_server):
    balances = pocket_balances(demo)
    latest = contributions_for(demo, limit=5)

    sign_in(page, members_demo.id_number_of("zhangwei"), DEMO_PASSWORD)

    # Dashboard (the member's home), in Chinese by default.
    expect(page.get_by_test_id("balance-current")).to_have_text(format_yuan(balances.current_fen))
    expect(page.get_by_test_id("balance-prior")).to_have_text(format_yuan(balances.prior_fen))
    expect(page.get_by_test_id("balance-total")).to_have_text(format_yuan(balances.total_fen))
    expect(page.get_by_text("历年资金").first).to_be_visible()
    rows = page.get_by_test_id("latest-contributions").locator("tbody tr")
    expect(rows).to_have_count(len(latest))
    expect(rows.first.locator("th").first).to_have_text(latest[0].period.strftime("%Y-%m"))
    screenshot("member-dashboard-zh")

    # Payment record: first page and the filter.
    page.get_by_role("link", name="缴费记录", exact=True).first.click()
    year = latest[0].period.year
    expect(page.get_by_test_id("contribution-row")).to_have_count(
        min(50, len(contributions_for(demo, limit=51)))
    )
    page.select_option("#f-year", str(year))
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("contribution-row")).to_have_count(
        len(contributions_for(demo, year=year, limit=100))
    )
    screenshot("member-records-zh")

    # Switch to English.
    page.select_option("#language-select", "en")
    expect(page.locator("h1")).to_have_text("Payment record")

    # Yearly summary with charts.
    page.get_by_role("link", name="Yearly summary").click()
    expect(page.locator("h1")).to_contain_text("Yearly summary")
    expect(page.locator("svg[role=img]").first).to_be_visible()
    expect(page.get_by_test_id("deduction-row").first).to_contain_text(demo.name)
    screenshot("member-summary-en")

    # Certificate: download the PDF, read its code, verify it on /verify/.
    page.get_by_role("link", name="Certificate", exact=True).click()
    page.fill("#c-start", f"{year}-01")
    page.fill("#c-end", f"{year}-12")
    with page.expect_download() as info:
        page.get_by_test_id("download-pdf").click()
    pdf = info.value
    with open(pdf.path(), "rb") as f:
        data = f.read()
    text = re.sub(
        r"\s+",
        "",
        "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages).replace(
            "\x00", ""
        ),
    )
    group = "[23456789ABCDEFGHJKMNPQRSTUVWXYZ]"
    codes = set(re.findall(rf"{group}{{4}}-{group}{{4}}-{group}{{4}}-{group}{{3}}", text))
    assert len(codes) == 1  # printed once in large type, once in the address
    code = codes.pop()
    assert f"/verify/{code}" in text
    paid = [c for c in contributions_for(demo, year=year, limit=100) if c.status == "paid"]
    page.goto("/verify/")
    page.fill("#v-code", code)
    page.get_by_role("button", name="Verify").click()
    verified = page.get_by_test_id("verified")
    expect(verified).to_contain_text(demo.masked_id_number)
    expect(verified).to_contain_text(
        format_yuan(sum(c.employer_fen + c.individual_fen for c in paid))
    )
    expect(verified).to_contain_text(str(len(paid)))
    assert demo.id_number not in page.content()
    screenshot("verify-en")
    page.fill("#v-code", code[:-1] + ("A" if code[-1] != "A" else "B"))  # a typo
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("not-verified")).to_be_visible()

    # Electronic certificate: a QR for the member and each relative he may pay for.
    page.goto("/dashboard/ecert/")
    cards = page.get_by_test_id("ecert")
    expect(cards).to_have_count(3)
    expect(cards.first.locator("img.ecert-qr")).to_have_attribute(
        "src", re.compile("^data:image/svg")
    )
    screenshot("member-ecert-en")

    # Phone screen.
    page.set_viewport_size(PHONE)
    page.goto("/")
    expect(page.get_by_test_id("balance-total")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page scrolls sideways on a phone ({width}px)"
    screenshot("member-dashboard-phone")
    page.goto("/dashboard/summary/")
    screenshot("member-summary-phone")


@pytest.mark.django_db(transaction=True)
def test_relative_sees_granting_member_card(page, demo, screenshot):
    sign_in(page, members_demo.id_number_of("lina"), DEMO_PASSWORD)
    card = page.get_by_test_id("granted-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(demo.name)
    card.get_by_role("link").click()
    expect(page.get_by_test_id("balance-total")).to_have_text(
        format_yuan(pocket_balances(demo).total_fen)
    )
    expect(page.get_by_test_id("latest-contributions")).to_be_visible()
    screenshot("relative-view-zh")
