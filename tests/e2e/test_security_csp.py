"""In Chromium: the strict CSP blocks nothing the portal needs."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

# Owned by the security work (issue 7); kept here to share the session's browser.


@pytest.fixture
def csp_violations(page):
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return seen


def test_language_switch_works_under_the_csp(page, alice, csp_violations):
    sign_in(page, alice.id_number, PASSWORD)
    expect(page.get_by_test_id("id-number")).to_have_text(alice.masked_id_number)

    page.select_option("#language-select", "en")

    expect(page.locator("h1")).to_have_text("Hello, Alice")
    assert csp_violations == []


def test_staff_enrolment_qr_code_renders_under_the_csp(page, staff, csp_violations, screenshot):
    sign_in(page, "staff", PASSWORD)
    page.goto("/admin/")

    expect(page).to_have_url(re.compile(r"/accounts/two-factor/enroll/"))
    expect(page.locator("svg.segno")).to_be_visible()
    screenshot("staff-otp-enrol")
    assert csp_violations == []


def test_api_docs_render_under_their_policy(page, db, csp_violations):
    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Medical insurance portal")
    assert csp_violations == []
