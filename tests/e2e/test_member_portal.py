"""A demo member in Debian's Chromium: each page's figures against the demo's
timeline written down by hand (not against the selectors and formatters that
render the page), language switch, PDF certificate verified on /verify/, and
screenshots (desktop and phone) in test-artifacts/.

张伟's timeline (payments/demo.py, claims/demo.py, portal/demo.py): an employee
in 110105 on a declared base of 18,500.00 a month, every month paid from
January 2022 to October 2026. Own share 2% = 370.00 a month credited to the
personal account; the employer's 9.8% = 1,813.00 goes to the pooled fund.

Current-year funds, 2026: 10 x 370.00 = 3,700.00, less what they paid in 2026:
  9 March outpatient 3,000.00: 60.00 class B first + 1,800.00 deductible +
  342.00 co-payment = 2,202.00 (the fund paid 798.00); 21 September pharmacy
  68.00: 20.40 co-payment (the fund paid 47.60). 3,700.00 - 2,222.40 = 1,477.60.
Prior-years surplus: the rollovers as of 31 December (2022: 4,440.00; 2023:
  4,440.00 - 500.00 = 3,940.00; 2024: 4,440.00 - 1,340.00 = 3,100.00; 2025:
  4,440.00 - 263.00 = 4,177.00) = 15,657.00, less his daughter 张小雨's
  expenses he pays under family mutual assistance (8 October 2025: 361.00;
  17 February 2026: 188.50) = 15,107.50. Total 16,585.10.
"""

import io
import re

import pypdf
import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from members import demo as members_demo
from portal.demo import DEMO_PASSWORD
from tests.e2e.conftest import sign_in

PHONE = {"width": 390, "height": 844}

# 张伟, as worked out by hand above.
ID_NUMBER = "110105198503150115"
MASKED_ID = "1101**********0115"
CURRENT, PRIOR, TOTAL = "¥1,477.60", "¥15,107.50", "¥16,585.10"
MONTHS_PAID = 58  # January 2022 - October 2026
PAID_2026 = "21,830.00"  # 10 x (1,813.00 employer + 370.00 own)


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo")
    return members_demo.person("zhangwei")


@pytest.mark.django_db(transaction=True)
def test_member_portal_pages_match_the_ledger(page, demo, screenshot, live_server):
    assert demo.id_number == ID_NUMBER  # the demo person the figures are about
    sign_in(page, ID_NUMBER, DEMO_PASSWORD)

    # Dashboard (the member's home), in Chinese by default.
    expect(page.get_by_test_id("balance-current")).to_have_text(CURRENT)
    expect(page.get_by_test_id("balance-prior")).to_have_text(PRIOR)
    expect(page.get_by_test_id("balance-total")).to_have_text(TOTAL)
    expect(page.get_by_test_id("rollover")).to_contain_text("¥4,177.00")
    expect(page.get_by_text("历年资金").first).to_be_visible()
    # 58 months = 4 years 10 months, January 2022 to October 2026.
    expect(page.get_by_test_id("contribution-history")).to_contain_text(str(MONTHS_PAID))
    expect(page.get_by_test_id("contribution-history")).to_contain_text("2022-01")
    expect(page.get_by_test_id("contribution-history")).to_contain_text("2026-10")
    rows = page.get_by_test_id("latest-contributions").locator("tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.first.locator("th").first).to_have_text("2026-10")
    expect(rows.first).to_contain_text("¥2,183.00")  # paid: 1,813.00 + 370.00
    expect(rows.first).to_contain_text("¥370.00")  # credited
    expenses = page.get_by_test_id("latest-expenses").locator("tbody tr")
    expect(expenses.first).to_contain_text("2026-09-21")
    expect(expenses.first).to_contain_text("¥68.00")
    expect(expenses.first).to_contain_text("¥47.60")
    expect(expenses.first).to_contain_text("¥20.40")
    screenshot("member-dashboard-zh")

    # Payment record: first page of 50 of the 58 months, then the 2026 filter.
    page.get_by_role("link", name="缴费记录", exact=True).first.click()
    expect(page.get_by_test_id("contribution-row")).to_have_count(50)
    page.select_option("#f-year", "2026")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("contribution-row")).to_have_count(10)
    first = page.get_by_test_id("contribution-row").first
    expect(first).to_contain_text("¥18,500.00")
    expect(first).to_contain_text("¥1,813.00")
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
    page.fill("#c-start", "2026-01")
    page.fill("#c-end", "2026-12")
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
    page.goto("/verify/")
    page.fill("#v-code", code)
    page.get_by_role("button", name="Verify").click()
    verified = page.get_by_test_id("verified")
    expect(verified).to_contain_text(MASKED_ID)
    expect(verified).to_contain_text(PAID_2026)
    expect(verified).to_contain_text("¥3,700.00")  # credited: 10 x 370.00
    expect(page.get_by_test_id("verified-months").locator("tbody tr")).to_have_count(10)
    assert ID_NUMBER not in page.content()
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
    expect(card).to_contain_text("张伟")
    card.locator(f'a[href="/dashboard/{demo.pk}/"]').click()
    expect(page.get_by_test_id("balance-total")).to_have_text(TOTAL)
    assert ID_NUMBER not in page.content()
    expect(page.get_by_test_id("latest-contributions")).to_be_visible()
    screenshot("relative-view-zh")
