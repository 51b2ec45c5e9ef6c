"""Every role's pages, walked in Chromium at 1280 px, at 390 px and in the
elderly mode at 390 px: no horizontal page scroll, no axe-core violation of
any impact, no link that fails. Pages are found by following the links each
role is shown, from its home, so a page added later is walked too.
Screenshots of every page in every mode go to test-artifacts/pages/.

Left out on purpose: the admin beyond its index (Django's own pages), the API
(tests/security/test_api_fuzz.py), sign-out and the switches that POST.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from members import demo as members_demo
from members.models import User
from portal.demo import DEMO_PASSWORD
from portal.security import totp_code
from tests.e2e.conftest import ARTIFACTS, sign_in

# (name, viewport, elderly mode, run axe): axe runs at desktop and in the
# elderly mode (its own colours and sizes); the plain phone view has the
# desktop's markup and colours, so it is checked for overflow only.
MODES = [
    ("desktop", {"width": 1280, "height": 900}, False, True),
    ("phone", {"width": 390, "height": 844}, False, False),
    ("elderly", {"width": 390, "height": 844}, True, True),
]
# Not walked: leaving, POST-only switches, Django's own admin pages, the API,
# files and the language switch.
SKIP = re.compile(r"^/(accounts/logout|display/|i18n/|static/|api/|admin/.)")
DOWNLOAD = re.compile(r"\.(csv|pdf)$|/token$|/preview")
MAX_PAGES = 40

AXE = Axe()


def _links(page) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    origin = urlparse(page.url)
    found = []
    for href in hrefs:
        url = urlparse(urldefrag(href)[0])
        if url.scheme in ("http", "https") and url.netloc == origin.netloc:
            found.append(url.path + (f"?{url.query}" if url.query else ""))
    return found


def _route(path: str) -> str:
    """One page per route: ``/staff/settlement/7/`` and ``/8/`` are one page;
    the query string counts only by its names (``?person=`` and ``?year=``
    are different views)."""
    base, _sep, query = path.partition("?")
    names = sorted({part.split("=")[0] for part in query.split("&") if part})
    return re.sub(r"/\d+(?=/|$)", "/N", base) + ("?" + "&".join(names) if names else "")


def _crawl(page, seeds: list[str]) -> tuple[list[str], set[str]]:
    """(pages to walk, every same-origin link seen): breadth first from the
    seeds, following what the role is shown, one page per route."""
    queue, pages, routes, links = list(seeds), [], set(), set()
    while queue and len(pages) < MAX_PAGES:
        path = queue.pop(0)
        if SKIP.match(path) or DOWNLOAD.search(path.split("?")[0]) or _route(path) in routes:
            continue
        response = page.goto(path)
        assert response is not None and response.status < 400, f"{path}: {response.status}"
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        pages.append(path)
        routes.add(_route(path))
        for link in _links(page):
            links.add(link)
            if link not in pages and link not in queue:
                queue.append(link)
    return pages, links


def _check_page(page, path: str, role: str, mode: str, viewport: dict, run_axe: bool) -> list[str]:
    problems = []
    page.set_viewport_size(viewport)
    response = page.goto(path)
    if response is None or response.status >= 400:
        return [f"{path}: answered {response.status if response else 'nothing'}"]
    if mode == "elderly" and not path.startswith("/admin/"):  # Django's own admin layout
        assert page.evaluate("document.documentElement.classList.contains('elderly')"), path
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 1:
        problems.append(f"{path} [{mode}]: {overflow}px horizontal scroll")
    violations = AXE.run(page).response["violations"] if run_axe else []
    for v in violations:
        targets = [n["target"] for n in v["nodes"]][:3]
        problems.append(f"{path} [{mode}]: axe {v['id']} ({v['impact']}) {targets}")
    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
    folder = ARTIFACTS / "pages" / role
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{mode}.png"), full_page=True)
    return problems


def _staff_sign_in(page):
    staff = User.objects.get(username="staff")
    device = TOTPDevice.objects.filter(user=staff, confirmed=True).first()
    sign_in(page, "staff", DEMO_PASSWORD)
    page.goto("/family/review/")
    form = page.locator("main form")
    form.locator("input[name=otp_token]").fill(totp_code(device))
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/family/review/"))


ROLES = {
    # role: (demo sign-in, seeds)
    # The errands pages (ADR 0019) are seeded so the page limit never leaves
    # them out. The password reset's pages after its POST and a link that is not valid
    # (the request page itself is linked from the sign-in page), and an
    # e-mail confirmation link (notifications).
    "anonymous": (
        None,
        [
            "/accounts/login/",
            "/verify/",
            "/accounts/password/reset/sent/",
            "/accounts/password/reset/done/",
            "/accounts/password/reset/MQ/not-a-token/",
            "/profile/email/confirm/not-a-token/",
        ],
    ),
    "member": ("zhangwei", ["/", "/errands/", "/dashboard/insurance-certificate/"]),
    "relative-all-scopes": ("lina", ["/"]),
    "relative-balance-only": ("zhangjianguo", ["/"]),
    "staff": ("staff", ["/"]),
}


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo")
    # The demo's messages (notifications), as the outbox task makes them after
    # commit, so the inbox is walked with messages in it.
    from notifications.outbox import outbox_run

    outbox_run()


@pytest.mark.timeout(1800)  # more pages since the errands (ADR 0019); slow under load
@pytest.mark.django_db(transaction=True)
def test_every_page_of_every_role(demo, browser, live_server):
    # One demo for every role (seeding it is the slow part), a fresh browser
    # context per role.
    problems = []
    for role, (who, seeds) in ROLES.items():
        context = browser.new_context(base_url=live_server.url, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            problems += [f"{role}: {p}" for p in _walk(page, who, seeds, role)]
        finally:
            context.close()

    assert problems == [], "\n".join(problems)


def _walk(page, who, seeds, role) -> list[str]:
    if who == "staff":
        _staff_sign_in(page)
    elif who is not None:
        sign_in(page, members_demo.id_number_of(who), DEMO_PASSWORD)
        expect(page.locator("h1")).to_contain_text(members_demo.person(who).name)

    pages, links = _crawl(page, seeds)

    assert pages, f"{role}: no page reached"
    problems = []
    for link in sorted(links):
        if SKIP.match(link) and not link.startswith("/admin/"):
            continue
        status = page.request.get(link).status
        if status >= 400:
            problems.append(f"link {link}: {status}")
    for mode, viewport, elderly, run_axe in MODES:
        page.context.clear_cookies(name="portal_elderly")
        if elderly:
            origin = "{0.scheme}://{0.netloc}/".format(urlparse(page.url))
            # for the whole site (a cookie set by URL gets that URL's folder as its path)
            page.context.add_cookies([{"name": "portal_elderly", "value": "1", "url": origin}])
        for path in pages:
            problems += _check_page(page, path, role, mode, viewport, run_axe)
    return problems


@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_a_balance_only_relative_finds_no_link_that_fails(demo, browser, live_server):
    """张建国 was granted only 张伟's balance: every link he is shown, from his
    home and from 张伟's account, opens (docs/adr/0012: pages show only what
    the viewer may open), and none leads to the payment record."""
    member = members_demo.person("zhangwei")
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, members_demo.id_number_of("zhangjianguo"), DEMO_PASSWORD)
        page.goto(f"/dashboard/{member.pk}/")
        expect(page.get_by_test_id("balance-total")).to_be_visible()

        pages, links = _crawl(page, ["/", f"/dashboard/{member.pk}/", "/family/"])

        failing = [
            f"{link}: {status}"
            for link in sorted(links)
            if not (SKIP.match(link) and not link.startswith("/admin/"))
            and (status := page.request.get(link).status) >= 400
        ]
        assert failing == []
        assert f"/dashboard/{member.pk}/" in pages
        assert not [link for link in links if f"person={member.pk}" in link]
    finally:
        context.close()
