import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in


def test_member_signs_in_in_chromium_and_switches_language(page, alice, screenshot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator("h1")).to_have_text("登录")
    screenshot("sign-in")

    sign_in(page, alice.id_number, PASSWORD)

    expect(page.locator("h1")).to_contain_text("Alice")
    # The owner's number is masked until they ask for it (shoulder surfing).
    expect(page.get_by_test_id("id-number")).to_have_text(alice.masked_id_number)
    expect(page.get_by_test_id("id-number-full")).to_be_hidden()
    page.get_by_text("显示完整号码").click()
    expect(page.get_by_test_id("id-number-full")).to_have_text(alice.id_number)
    page.select_option("#language-select", "en")
    expect(page.locator("h1")).to_have_text("Hello, Alice")
    screenshot("home-en")


def test_wrong_password_shows_an_error(page, alice):
    sign_in(page, alice.id_number, "wrong-password")

    expect(page.locator(".form-error")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
