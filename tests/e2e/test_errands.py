"""Member errands in Debian's Chromium, at desktop width and at 390 px: a
cross-region filing and a chronic-disease application applied for (by the
member and by a relative holding the errands scope), reviewed by staff
(approved, and rejected with a reason), followed by both, refused to a
relative without the scope; the insurance certificate verified at /verify/
and refused when its code is changed."""

from __future__ import annotations

import datetime as dt
import io
import re

import pypdf
import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from errands.models import ChronicApplication, CrossRegionFiling
from portal.security import totp_code
from tests.conftest import PASSWORD
from tests.dashboard.helpers import contribution, link
from tests.e2e.conftest import sign_in
from tests.family.files import png

WIDTHS = pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "390px"])


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture(autouse=True)
def errands_policy_data(db):
    from errands import policy_data

    policy_data.load_current()


def _sign_out(page):
    page.context.clear_cookies()


def _no_overflow(page):
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{page.url}: {overflow}px horizontal scroll"


def _staff(page, staff):
    device = TOTPDevice.objects.filter(user=staff).first() or TOTPDevice.objects.create(
        user=staff, name="phone", confirmed=True
    )
    sign_in(page, "staff", PASSWORD)
    page.goto("/family/review/")
    otp_form = page.locator("main form")
    otp_form.locator("input:not([type=hidden])").first.fill(totp_code(device))
    otp_form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("errands-review")).to_be_visible()


@WIDTHS
def test_errands_end_to_end(page, alice, bob, charlie, staff, screenshot, width):
    page.set_viewport_size({"width": width, "height": 844})
    link(alice, bob, balance=False, records=False, errands=True)
    today = timezone.localdate()

    # The member files a temporary trip to Shanghai.
    sign_in(page, alice.id_number, PASSWORD)
    page.get_by_test_id("my-errands").click()
    page.get_by_test_id("new-filing").click()
    page.check("input[name=kind][value=temporary]")
    page.select_option("select[name=destination]", "310100")
    page.fill("input[name=start_date]", today.isoformat())
    page.fill("input[name=end_date]", (today + dt.timedelta(days=20)).isoformat())
    _no_overflow(page)
    screenshot(f"errands-filing-new-{width}")
    page.get_by_test_id("submit-filing").click()
    filing = CrossRegionFiling.objects.get(person=alice)
    expect(page.get_by_test_id("errand-status")).to_have_text("待审核")
    expect(page.get_by_test_id("destination")).to_have_text("上海市")
    _sign_out(page)

    # The relative with the errands scope applies for hypertension for her.
    sign_in(page, bob.id_number, PASSWORD)
    page.get_by_test_id("errands-for").click()
    page.get_by_test_id("new-chronic").click()
    page.select_option("select[name=disease]", "HTN")
    page.set_input_files(
        "input[name=document]",
        files=[{"name": "diagnosis.png", "mimeType": "image/png", "buffer": png()}],
    )
    _no_overflow(page)
    page.get_by_test_id("submit-chronic").click()
    application = ChronicApplication.objects.get(person=alice)
    expect(page.get_by_test_id("errand-status")).to_have_text("待审核")
    _sign_out(page)

    # Staff approve the filing and reject the application with a reason.
    _staff(page, staff)
    expect(page.get_by_test_id(f"review-filing-{filing.pk}")).to_be_visible()
    _no_overflow(page)
    screenshot(f"errands-review-{width}")
    page.get_by_test_id(f"approve-filing-{filing.pk}").click()
    card = page.get_by_test_id(f"review-chronic-{application.pk}")
    card.locator("textarea").fill("诊断证明不清晰，请重新上传。")
    page.get_by_test_id(f"reject-chronic-{application.pk}").click()
    expect(page.get_by_test_id("errands-queue-empty")).to_be_visible()
    _sign_out(page)

    # The member sees the approved filing with its validity on her home and the
    # rejection with its reason.
    sign_in(page, alice.id_number, PASSWORD)
    expect(page.get_by_test_id("dashboard-filing")).to_contain_text("上海市")
    end = (today + dt.timedelta(days=20)).isoformat()
    expect(page.get_by_test_id("dashboard-filing")).to_contain_text(end)
    _no_overflow(page)
    page.get_by_test_id("my-errands").click()
    expect(page.get_by_test_id("filing-row")).to_contain_text("已通过")
    expect(page.get_by_test_id("chronic-row")).to_contain_text("已驳回")
    page.get_by_test_id("chronic-row").locator("a").click()
    expect(page.get_by_test_id("reason")).to_have_text("诊断证明不清晰，请重新上传。")
    screenshot(f"errands-rejected-{width}")
    _sign_out(page)

    # The relative follows them too; a stranger cannot.
    sign_in(page, bob.id_number, PASSWORD)
    page.goto(f"/errands/?person={alice.pk}")
    expect(page.get_by_test_id("filing-row")).to_contain_text("已通过")
    _no_overflow(page)
    _sign_out(page)
    sign_in(page, charlie.id_number, PASSWORD)
    response = page.goto(f"/errands/?person={alice.pk}")
    assert response.status == 404
    response = page.goto(f"/errands/filing/{filing.pk}/")
    assert response.status == 404


@WIDTHS
def test_relative_without_errands_scope_is_refused(page, alice, bob, width):
    page.set_viewport_size({"width": width, "height": 844})
    link(alice, bob, balance=True, records=True, errands=False)
    sign_in(page, bob.id_number, PASSWORD)
    expect(page.get_by_test_id("errands-for")).to_have_count(0)
    for path in (f"/errands/?person={alice.pk}", f"/errands/filing/new/?person={alice.pk}"):
        assert page.goto(path).status == 404


@WIDTHS
def test_insurance_certificate_verified_and_tampering_refused(page, alice, screenshot, width):
    page.set_viewport_size({"width": width, "height": 844})
    contribution(alice, dt.date(2025, 1, 1))
    contribution(alice, dt.date(2025, 2, 1))
    sign_in(page, alice.id_number, PASSWORD)
    page.goto("/dashboard/insurance-certificate/")
    page.fill("#i-start", "2025-01")
    page.fill("#i-end", "2025-12")
    _no_overflow(page)
    with page.expect_download() as info:
        page.get_by_test_id("download-insurance-pdf").click()
    with open(info.value.path(), "rb") as f:
        reader = pypdf.PdfReader(io.BytesIO(f.read()))
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages).replace("\x00", ""))
    group = "[23456789ABCDEFGHJKMNPQRSTUVWXYZ]"
    codes = set(re.findall(rf"{group}{{4}}-{group}{{4}}-{group}{{4}}-{group}{{3}}", text))
    assert len(codes) == 1
    code = codes.pop()
    _sign_out(page)

    page.goto("/verify/")
    page.fill("#v-code", code)
    page.locator("main form button[type=submit]").click()
    verified = page.get_by_test_id("verified")
    expect(verified).to_contain_text("参保凭证")
    expect(verified).to_contain_text("北京市朝阳区")
    expect(verified).to_contain_text(alice.masked_id_number)
    _no_overflow(page)
    screenshot(f"insurance-verified-{width}")
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    page.fill("#v-code", tampered)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("not-verified")).to_be_visible()
    expect(page.get_by_test_id("verified")).to_have_count(0)
