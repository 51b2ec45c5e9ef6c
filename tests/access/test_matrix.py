"""The whole access matrix: every person-scoped route (access/routes.py)
requested as every role and link state, real requests on PostgreSQL, with the
expected status in each cell.

Roles: the owner (alice); relatives holding exactly one scope (balance,
records, pay); relatives whose link is pending, rejected, ended, or whose
province changed after approval (``cross``: balance and pay granted, pay no
longer possible); an unrelated member; staff with and without the one-time
code; a designated institution (its Bearer token); anonymous.

Pages answer 302 (to sign in) for anonymous visitors and institutions (their
token opens no page); the API answers 403 in the one error shape. Anything a
viewer may not see is 404, exactly as for a person that does not exist.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from access.lookups import payment_grants_for
from access.routes import ROUTES
from audit.models import AuditEvent
from claims.services import institution_create, institution_token_create
from family import services
from members.models import InsuranceType
from tests.conftest import _pass_otp, make_member
from tests.family.conftest import approved_link, request_link

ROLES = [
    "anonymous",
    "owner",
    "rel_balance",
    "rel_records",
    "rel_pay",
    "rel_pending",
    "rel_rejected",
    "rel_ended",
    "rel_cross",
    "unrelated",
    "staff",
    "staff_no_code",
    "institution",
]
RELATIVES_WITHOUT_ACCESS = ["rel_pending", "rel_rejected", "rel_ended"]


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def world(alice, charlie, staff):
    from tests.dashboard.helpers import contribution

    contribution(alice, dt.date(2026, 10, 1))  # through the import, credited
    people = {
        "rel_balance": make_member("Balance Rel", birth=dt.date(1984, 1, 1), seq=61),
        "rel_records": make_member("Records Rel", birth=dt.date(1955, 1, 1), seq=63),
        "rel_pay": make_member("Pay Rel", birth=dt.date(2010, 1, 1), seq=65),
        "rel_pending": make_member("Pending Rel", birth=dt.date(1956, 1, 1), seq=67),
        "rel_rejected": make_member("Rejected Rel", birth=dt.date(2012, 1, 1), seq=69),
        "rel_ended": make_member("Ended Rel", birth=dt.date(1957, 1, 1), seq=71),
        "rel_cross": make_member("Cross Rel", birth=dt.date(2011, 1, 1), seq=73),
    }
    links = {
        "balance": approved_link(alice, people["rel_balance"], staff, relationship="spouse"),
        "records": approved_link(
            alice,
            people["rel_records"],
            staff,
            relationship="parent",
            scope_balance=False,
            scope_records=True,
            document_kind="power_of_attorney",
        ),
        "pay": approved_link(
            alice,
            people["rel_pay"],
            staff,
            relationship="child",
            scope_balance=False,
            scope_pay=True,
        ),
        "pending": request_link(
            alice, people["rel_pending"], relationship="parent", scope_records=True
        ),
        "cross": approved_link(
            alice, people["rel_cross"], staff, relationship="child", scope_pay=True
        ),
    }
    rejected = request_link(alice, people["rel_rejected"], relationship="child", scope_records=True)
    links["rejected"] = services.link_reject(link_id=rejected.pk, reviewer=staff, reason="unclear")
    ended = approved_link(
        alice, people["rel_ended"], staff, relationship="parent", scope_records=True
    )
    links["ended"] = services.link_end(link=ended, user=alice.user)
    # After approval the relative moved to another province: the link still
    # shows the balance, but the surplus may no longer pay.
    cross = people["rel_cross"]
    cross.insured_region = "440305"
    cross.save(update_fields=["insured_region"])

    inst = institution_create(name="City Hospital", kind="hospital", region="110100")
    _token, raw = institution_token_create(institution=inst)
    users = {
        "anonymous": None,
        "owner": alice.user,
        **{role: p.user for role, p in people.items()},
        "unrelated": charlie.user,
        "staff": staff,
        "staff_no_code": staff,
        "institution": None,
    }
    return {
        "alice": alice,
        "people": people,
        "links": links,
        "users": users,
        "institution_token": raw,
    }


def client_as(world, role: str) -> Client:
    if role == "institution":
        return Client(HTTP_AUTHORIZATION=f"Bearer {world['institution_token']}")
    c = Client()
    user = world["users"][role]
    if user is not None:
        c.force_login(user)
        if role == "staff":
            _pass_otp(c, user)
    return c


def cells(default: int, **codes: int) -> dict[str, int]:
    return {role: codes.get(role, default) for role in ROLES}


PAGE_OUT = {"anonymous": 302, "institution": 302}
API_OUT = {"anonymous": 403, "institution": 403}
RECORDS_HOLDERS = {"owner": 200, "rel_records": 200, "staff": 200}
BALANCE_HOLDERS = {"owner": 200, "rel_balance": 200, "rel_cross": 200, "staff": 200}
OPENERS = {**BALANCE_HOLDERS, "rel_records": 200, "rel_pay": 200}
OWN = {r: 200 for r in ROLES if r.startswith("rel_") or r in ("owner", "unrelated")}
NO_PERSON = {"staff": 404, "staff_no_code": 404}
STAFF_ONLY_PAGE = cells(403, **PAGE_OUT, staff=200, staff_no_code=302)

# (route name, url; {m}: alice, {lb}: the balance link, {rp}/{rc}: the pay and
# cross-province relatives, method, {role: status})
MATRIX = [
    ("home", "/", "get", cells(200, **PAGE_OUT)),
    ("dashboard:index", "/dashboard/", "get", cells(200, **PAGE_OUT)),
    ("dashboard:member", "/dashboard/{m}/", "get", cells(404, **PAGE_OUT, **OPENERS)),
    ("family:view", "/family/view/{m}/", "get", cells(302)),
    (
        "dashboard:records",
        "/dashboard/records/?person={m}",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    (
        "dashboard:ledger",
        "/dashboard/ledger/?person={m}",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    (
        "dashboard:records_csv",
        "/dashboard/records.csv?person={m}",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    (
        "dashboard:summary",
        "/dashboard/summary/?person={m}",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    (
        "dashboard:certificate",
        "/dashboard/certificate/?person={m}",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    (
        "dashboard:certificate_pdf",
        "/dashboard/certificate.pdf?person={m}&start=2026-10&end=2026-10",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    ("dashboard:ecert", "/dashboard/ecert/", "get", cells(404, **PAGE_OUT, **OWN)),
    (
        "dashboard:ecert_token",
        "/dashboard/ecert/{rp}/token",
        "get",
        cells(404, **PAGE_OUT, owner=200, rel_pay=200),
    ),
    (
        "dashboard:ecert_token",  # the pay grant no longer holds: not even the member
        "/dashboard/ecert/{rc}/token",
        "get",
        cells(404, **PAGE_OUT, rel_cross=200),
    ),
    (
        "family:switch",
        "/family/switch/?person={m}",
        "get",
        cells(404, **PAGE_OUT, rel_balance=302, rel_records=302, rel_pay=302, rel_cross=302),
    ),
    # The member's own access log and own actions: members only, never ?person=.
    ("audit:access_log", "/access-log/?person={m}", "get", cells(200, **PAGE_OUT, **NO_PERSON)),
    (
        "audit:access_log_csv",
        "/access-log/access-log.csv",
        "get",
        cells(200, **PAGE_OUT, **NO_PERSON),
    ),
    ("audit:own_actions", "/access-log/mine/", "get", cells(200, **PAGE_OUT, **NO_PERSON)),
    # Paying a relative's resident contribution from one's own surplus.
    (
        "payments:resident_choose",
        "/payments/family-contribution/",
        "get",
        cells(200, **PAGE_OUT, **NO_PERSON),
    ),
    (
        "payments:resident_confirm",  # alice's pay relative is not a resident: refused
        "/payments/family-contribution/confirm/?relative={rp}&year=2026",
        "get",
        cells(404, **PAGE_OUT, **NO_PERSON, owner=409),
    ),
    ("payments:resident_paid", "/payments/family-contribution/1/", "get", cells(404, **PAGE_OUT)),
    ("family:confirmations", "/family/confirmations/", "get", cells(200, **PAGE_OUT)),
    # The balance link's renewal and change pages: its member only.
    # Those who may see the link but not act on it: 403.
    (
        "family:renew",
        "/family/links/{lb}/renew/",
        "get",
        cells(404, **PAGE_OUT, owner=200, rel_balance=403, staff=403),
    ),
    (
        "family:change",
        "/family/links/{lb}/change/",
        "get",
        cells(404, **PAGE_OUT, owner=200, rel_balance=403, staff=403),
    ),
    # Declining: the relative named, and only before confirming (this one was).
    (
        "family:decline",
        "/family/links/{lb}/decline/",
        "get",
        cells(404, **PAGE_OUT, owner=403, rel_balance=403, staff=403),
    ),
    (
        "dashboard:insurance_certificate",
        "/dashboard/insurance-certificate/?person={m}",
        "get",
        cells(404, **PAGE_OUT, **RECORDS_HOLDERS),
    ),
    # Errands: the owner, or a relative with the errands scope (none here:
    # tests/errands/test_scope.py); staff review them in the queue instead.
    ("errands:index", "/errands/?person={m}", "get", cells(404, **PAGE_OUT, owner=200)),
    (
        "errands:filing_new",
        "/errands/filing/new/?person={m}",
        "get",
        cells(404, **PAGE_OUT, owner=200),
    ),
    ("family:index", "/family/", "get", cells(200, **PAGE_OUT)),
    ("family:add", "/family/add/", "get", cells(200, **PAGE_OUT, staff=403, staff_no_code=403)),
    (
        "family:link",
        "/family/links/{lb}/",
        "get",
        cells(404, **PAGE_OUT, owner=200, rel_balance=200, staff=200),
    ),
    (
        "family:document",
        "/family/links/{lb}/document/",
        "get",
        cells(404, **PAGE_OUT, owner=200, staff=200),
    ),
    # The balance link's document is a PNG: nothing to render (404), for staff only.
    (
        "family:document_preview",
        "/family/links/{lb}/document/preview/",
        "get",
        {**STAFF_ONLY_PAGE, "staff": 404},
    ),
    ("family:review", "/family/review/", "get", STAFF_ONLY_PAGE),
    ("family:counter", "/family/counter/", "get", STAFF_ONLY_PAGE),
    ("v1:me", "/api/v1/me/", "get", cells(200, **API_OUT)),
    (
        "v1:balance",
        "/api/v1/accounts/balance/",
        "get",
        cells(200, **API_OUT, staff=404, staff_no_code=404),
    ),
    (
        "v1:person-balance",
        "/api/v1/accounts/{m}/balance/",
        "get",
        cells(404, **API_OUT, **BALANCE_HOLDERS),
    ),
    ("v1:family-person", "/api/v1/family/persons/{m}/", "get", cells(404, **API_OUT, **OPENERS)),
    ("v1:family-links", "/api/v1/family/links/", "get", cells(200, **API_OUT)),
    ("v1:family-grants", "/api/v1/family/grants/", "get", cells(200, **API_OUT)),
    (
        "v1:family-link",
        "/api/v1/family/links/{lb}/",
        "get",
        cells(404, **API_OUT, owner=200, rel_balance=200, staff=200),
    ),
    (
        "v1:family-document",
        "/api/v1/family/links/{lb}/document/",
        "get",
        cells(404, **API_OUT, owner=200, staff=200),
    ),
    ("v1:family-review", "/api/v1/family/review/", "get", cells(403, staff=200)),
    ("v1:family-counter", "/api/v1/family/counter/", "post", cells(403, staff=400)),
    ("v1:family-decide", "/api/v1/family/review/{lp}/", "post", cells(403, staff=400)),
    (
        "v1:family-link-end",  # an ended link: its parties learn it has ended, nobody ends it twice
        "/api/v1/family/links/{le}/end/",
        "post",
        cells(404, **API_OUT, owner=409, rel_ended=409, staff=403),
    ),
    # The institution API asks for its Bearer token (401) from everybody else.
    ("v1:claims-expense", "/api/v1/claims/expenses/999999/", "get", cells(401, institution=404)),
]


def _url(template: str, world) -> str:
    return template.format(
        m=world["alice"].pk,
        lb=world["links"]["balance"].pk,
        lp=world["links"]["pending"].pk,
        le=world["links"]["ended"].pk,
        rp=world["people"]["rel_pay"].pk,
        rc=world["people"]["rel_cross"].pk,
    )


@pytest.mark.parametrize(
    ("name", "url", "method", "expected"),
    MATRIX,
    ids=[f"{row[0]}:{row[1]}" for row in MATRIX],
)
def test_route_row(name, url, method, expected, world):
    target = _url(url, world)
    got = {}
    for role in ROLES:
        c = client_as(world, role)
        response = getattr(c, method)(target)
        got[role] = response.status_code
        if target.startswith("/api/") and response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message", "fields"}, (role, target)
        if response.status_code in (403, 404) and not target.startswith("/api/"):
            # a translated page in the portal's layout, never a bare one
            assert b'class="site-header' in response.content or b"<main" in response.content

    assert got == expected


def test_every_person_scoped_route_is_in_the_matrix():
    in_matrix = {row[0] for row in MATRIX}
    person_scoped = {
        name
        for name, route in ROUTES.items()
        if route.kind in ("person", "own", "link", "document", "ecert")
    }
    # Routes that only answer POST with a form are covered by their own tests
    # (ending a link: tests/family/test_access_matrix.py; confirming and
    # declining: tests/family/test_policy_consent_expiry.py; paying a resident
    # contribution: tests/payments/test_resident_contribution.py).
    assert person_scoped - in_matrix <= {
        "family:end",
        "family:confirm",
        "v1:family-link-confirm",
        "v1:family-link-decline",
        "payments:resident_pay",
        # An errand's own pages and documents, by id: tests/errands/test_errands_flow.py
        # and tests/errands/test_scope.py (owner, relative with and without the scope).
        "errands:filing",
        "errands:filing_document",
        "errands:chronic_new",
        "errands:chronic",
        "errands:chronic_document",
        "dashboard:insurance_certificate_pdf",
        # The signed-in member's own inbox and profile (no person in the URL):
        # tests/notifications/test_email_and_reset.py.
        "notifications:inbox",
        "notifications:mark_read",
        "notifications:profile",
        "notifications:preferences",
        "notifications:email_set",
        "notifications:email_remove",
        "notifications:email_confirm",
    }


# --- what the cells mean ---------------------------------------------------------


def test_pay_is_decided_once_for_page_api_ecert_and_claim(world):
    alice = world["alice"]
    cross, pay = world["people"]["rel_cross"], world["people"]["rel_pay"]

    api = client_as(world, "rel_cross").get(f"/api/v1/family/persons/{alice.pk}/").json()
    page = client_as(world, "rel_cross").get(f"/dashboard/{alice.pk}/").content.decode()
    ecert = client_as(world, "owner").get("/dashboard/ecert/").content.decode()

    assert api["scopes"] == ["balance"]
    assert api["pay_not_eligible"] is True
    assert 'data-testid="pay-not-eligible"' in page
    assert 'data-testid="pay"' not in page
    assert f"/dashboard/ecert/{cross.pk}/token" not in ecert
    assert f"/dashboard/ecert/{pay.pk}/token" in ecert or str(pay.pk) in ecert
    assert payment_grants_for(patient=cross) == []
    assert [g.pk for g in payment_grants_for(patient=pay)] == [world["links"]["pay"].pk]


def test_a_balance_only_relative_finds_no_link_that_fails(world):
    alice = world["alice"]
    c = client_as(world, "rel_balance")
    seen, todo = set(), [f"/dashboard/{alice.pk}/", "/", "/family/"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = c.get(url)
        assert response.status_code in (200, 302), url
        if response.status_code != 200 or "html" not in response["Content-Type"]:
            continue
        for href in re.findall(r'href="(/[^"#]*)', response.content.decode()):
            if href.startswith(("/static/", "/accounts/logout", "/admin")):
                continue
            if f"person={alice.pk}" in href or f"/{alice.pk}/" in href or href in ("/", "/family/"):
                todo.append(href.replace("&amp;", "&"))
    assert f"/dashboard/{alice.pk}/" in seen
    assert not any("records" in u for u in seen)  # no tab to what was not granted


def test_a_member_without_a_personal_account_is_not_shown_zero(staff):
    resident = make_member(
        "Resident", birth=dt.date(1980, 1, 1), seq=81, insurance_type=InsuranceType.RESIDENT
    )
    relative = make_member("Resident Rel", birth=dt.date(1981, 1, 1), seq=83)
    approved_link(resident, relative, staff, relationship="spouse")
    c = Client()
    c.force_login(relative.user)

    api = c.get(f"/api/v1/family/persons/{resident.pk}/").json()
    page = c.get(f"/dashboard/{resident.pk}/").content.decode()

    assert api["has_personal_account"] is False
    assert api["balance"] is None
    assert 'data-testid="balance-total"' not in page
    assert 'data-testid="balance"' in page  # the card says there is no personal account


def test_every_non_owner_view_is_audited_once_per_scope(world):
    alice = world["alice"]
    before = AuditEvent.objects.filter(subject_person=alice).count()

    client_as(world, "rel_cross").get(f"/dashboard/{alice.pk}/")
    client_as(world, "owner").get(f"/dashboard/{alice.pk}/")
    client_as(world, "staff").get(f"/dashboard/records/?person={alice.pk}")

    events = list(
        AuditEvent.objects.filter(subject_person=alice)
        .order_by("id")[before:]
        .values_list("action", "actor__username")
    )
    assert [a for a, _ in events] == ["person.balance.view", "person.records.view"]
    assert events[1][1] == "staff"


def test_a_staff_flag_without_the_code_shows_no_full_identity_number(world):
    alice, relative = world["alice"], world["people"]["rel_balance"]
    flagged = alice.user
    flagged.is_staff = True  # a member account flagged staff, no one-time code
    flagged.save(update_fields=["is_staff"])
    link = world["links"]["balance"]
    c = Client()
    c.force_login(flagged)

    page = c.get(f"/family/links/{link.pk}/").content.decode()
    api = c.get(f"/api/v1/family/links/{link.pk}/").json()

    assert relative.id_number not in page
    assert api["relative"]["id_number"] == relative.masked_id_number


def test_a_refusal_is_the_portals_page_even_with_debug_on(world, settings):
    settings.DEBUG = True  # as under `make run`
    alice = world["alice"]

    page = client_as(world, "unrelated").get(f"/dashboard/records/?person={alice.pk}")
    zh = client_as(world, "unrelated").get(
        f"/dashboard/{alice.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert page.status_code == 404
    assert b'class="site-header' in page.content
    assert b"technical_404" not in page.content and b"Django tried these" not in page.content
    assert zh.status_code == 404
    assert 'lang="zh' in zh.content.decode()
