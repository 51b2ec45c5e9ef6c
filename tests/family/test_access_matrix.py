"""Every cell of the access matrix: who gets what on every family page and API.

Roles: anonymous, the member (alice, who granted), a relative per scope
(balance / records / pay, each holding exactly one), an unrelated member
(charlie) and staff. Pages: 302 to sign-in for anonymous; API: 403 in the one
error shape. Anything one may not see is a 404 (a stranger learns nothing),
staff-only pages are 403 for members.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from audit.models import AuditEvent
from family import services
from family.models import LinkStatus
from tests.conftest import _pass_otp, make_member

from .conftest import approved_link

ROLES = ["anonymous", "member", "rel_balance", "rel_records", "rel_pay", "unrelated", "staff"]


@pytest.fixture
def cast(alice, charlie, staff):
    rel_balance = make_member("Balance Relative", birth=dt.date(1984, 1, 1), seq=61)
    rel_records = make_member("Records Relative", birth=dt.date(1955, 1, 1), seq=63)
    rel_pay = make_member("Pay Relative", birth=dt.date(2010, 1, 1), seq=65, signs_in=True)
    links = {
        "balance": approved_link(alice, rel_balance, staff, relationship="spouse"),
        "records": approved_link(
            alice,
            rel_records,
            staff,
            relationship="parent",
            scope_balance=False,
            scope_records=True,
            document_kind="power_of_attorney",
        ),
        "pay": approved_link(
            alice, rel_pay, staff, relationship="child", scope_balance=False, scope_pay=True
        ),
    }
    users = {
        "anonymous": None,
        "member": alice.user,
        "rel_balance": rel_balance.user,
        "rel_records": rel_records.user,
        "rel_pay": rel_pay.user,
        "unrelated": charlie.user,
        "staff": staff,
    }
    return {"member": alice, "links": links, "users": users}


def client_as(user) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
        if user.is_staff:
            _pass_otp(c, user)  # staff pages need a verified one-time code
    return c


# (name, url template, {role: status}); {m} = member id, {lb} = balance link id.
OK_FOR_SIGNED_IN = {r: 200 for r in ROLES if r != "anonymous"}
GET_MATRIX = [
    ("home", "/", {"anonymous": 302, **OK_FOR_SIGNED_IN}),
    ("family index", "/family/", {"anonymous": 302, **OK_FOR_SIGNED_IN}),
    ("add relative", "/family/add/", {"anonymous": 302, **OK_FOR_SIGNED_IN, "staff": 403}),
    (
        "link page",
        "/family/links/{lb}/",
        {
            "anonymous": 302,
            "member": 200,
            "rel_balance": 200,
            "rel_records": 404,
            "rel_pay": 404,
            "unrelated": 404,
            "staff": 200,
        },
    ),
    (
        "document",
        "/family/links/{lb}/document/",
        {
            "anonymous": 302,
            "member": 200,
            "rel_balance": 404,
            "rel_records": 404,
            "rel_pay": 404,
            "unrelated": 404,
            "staff": 200,
        },
    ),
    (
        "member view",
        "/dashboard/{m}/",
        {
            "anonymous": 302,
            "member": 200,
            "rel_balance": 200,
            "rel_records": 200,
            "rel_pay": 200,
            "unrelated": 404,
            "staff": 200,
        },
    ),
    # The old relative view leads to the one that stays, for everybody.
    ("old member view", "/family/view/{m}/", {r: 302 for r in ROLES}),
    (
        "switch",
        "/family/switch/?person={m}",
        {
            "anonymous": 302,
            "member": 404,
            "rel_balance": 302,
            "rel_records": 302,
            "rel_pay": 302,
            "unrelated": 404,
            "staff": 404,
        },
    ),
    (
        "review queue",
        "/family/review/",
        {"anonymous": 302, **{r: 403 for r in ROLES[1:-1]}, "staff": 200},
    ),
    (
        "counter",
        "/family/counter/",
        {"anonymous": 302, **{r: 403 for r in ROLES[1:-1]}, "staff": 200},
    ),
    ("api me", "/api/v1/me/", {"anonymous": 403, **OK_FOR_SIGNED_IN}),
    ("api links", "/api/v1/family/links/", {"anonymous": 403, **OK_FOR_SIGNED_IN}),
    ("api grants", "/api/v1/family/grants/", {"anonymous": 403, **OK_FOR_SIGNED_IN}),
    (
        "api link",
        "/api/v1/family/links/{lb}/",
        {
            "anonymous": 403,
            "member": 200,
            "rel_balance": 200,
            "rel_records": 404,
            "rel_pay": 404,
            "unrelated": 404,
            "staff": 200,
        },
    ),
    (
        "api document",
        "/api/v1/family/links/{lb}/document/",
        {
            "anonymous": 403,
            "member": 200,
            "rel_balance": 404,
            "rel_records": 404,
            "rel_pay": 404,
            "unrelated": 404,
            "staff": 200,
        },
    ),
    (
        "api person",
        "/api/v1/family/persons/{m}/",
        {
            "anonymous": 403,
            "member": 200,
            "rel_balance": 200,
            "rel_records": 200,
            "rel_pay": 200,
            "unrelated": 404,
            "staff": 200,
        },
    ),
    (
        "api review",
        "/api/v1/family/review/",
        {"anonymous": 403, **{r: 403 for r in ROLES[1:-1]}, "staff": 200},
    ),
]
CELLS = [(name, url, role, codes[role]) for name, url, codes in GET_MATRIX for role in ROLES]


@pytest.mark.parametrize(
    ("page", "url", "role", "expected"), CELLS, ids=[f"{c[0]}-{c[2]}" for c in CELLS]
)
def test_get_cell(page, url, role, expected, cast):
    target = url.format(m=cast["member"].pk, lb=cast["links"]["balance"].pk)

    response = client_as(cast["users"][role]).get(target)

    assert response.status_code == expected, (page, role, response.status_code)
    if target.startswith("/api/") and expected >= 400:
        assert set(response.json()["error"]) >= {"code", "message", "fields"}


# What each role sees on the member view: exactly the scopes granted.
SCOPES_SEEN = {
    "member": ["balance", "records", "pay"],
    "rel_balance": ["balance"],
    "rel_records": ["records"],
    "rel_pay": ["pay"],
    "staff": ["balance", "records"],
}


@pytest.mark.parametrize("role", list(SCOPES_SEEN))
def test_member_view_shows_only_what_was_granted(role, cast):
    c = client_as(cast["users"][role])
    member = cast["member"]

    api = c.get(f"/api/v1/family/persons/{member.pk}/").json()
    html = c.get(f"/dashboard/{member.pk}/", follow=True).content.decode()

    assert api["scopes"] == SCOPES_SEEN[role]
    assert ("balance" in api) == ("balance" in SCOPES_SEEN[role])
    assert ("records" in api) == ("records" in SCOPES_SEEN[role])
    testids = {"balance": "balance", "records": "latest-contributions", "pay": "pay"}
    for scope, testid in testids.items():
        if role == "member":  # the owner's own home: no relative's pay card
            continue
        assert (f'data-testid="{testid}"' in html) == (scope in SCOPES_SEEN[role]), scope
    if role != "member":  # the owner's own home shows their number; nobody else's page does
        assert member.id_number not in html


def test_non_owner_views_are_audited(cast):
    member = cast["member"]
    before = AuditEvent.objects.filter(subject_person=member, action="person.balance.view").count()

    client_as(cast["users"]["rel_balance"]).get(f"/dashboard/{member.pk}/")
    client_as(cast["users"]["member"]).get(f"/dashboard/{member.pk}/")

    after = AuditEvent.objects.filter(subject_person=member, action="person.balance.view")
    assert after.count() == before + 1
    assert after.last().actor == cast["users"]["rel_balance"]


@pytest.mark.parametrize(
    ("role", "expected", "ends"),
    [
        ("anonymous", 302, False),
        ("rel_records", 404, False),
        ("unrelated", 404, False),
        ("staff", 403, False),
        ("rel_balance", 302, True),
        ("member", 302, True),
    ],
)
def test_end_link_cell(role, expected, ends, cast):
    link = cast["links"]["balance"]

    response = client_as(cast["users"][role]).post(
        f"/family/links/{link.pk}/end/", {"confirm": "yes"}
    )

    assert response.status_code == expected
    link.refresh_from_db()
    assert (link.status == LinkStatus.ENDED) is ends


@pytest.mark.parametrize(
    ("role", "expected", "ends"),
    [
        ("anonymous", 403, False),
        ("rel_pay", 404, False),
        ("unrelated", 404, False),
        ("staff", 403, False),
        ("rel_balance", 200, True),
        ("member", 200, True),
    ],
)
def test_api_end_link_cell(role, expected, ends, cast):
    link = cast["links"]["balance"]

    response = client_as(cast["users"][role]).post(f"/api/v1/family/links/{link.pk}/end/")

    assert response.status_code == expected
    link.refresh_from_db()
    assert (link.status == LinkStatus.ENDED) is ends


@pytest.mark.parametrize("role", ["anonymous", "member", "rel_balance", "unrelated"])
def test_non_staff_cannot_decide_or_use_the_counter(role, cast, alice, bob):
    from .conftest import request_link

    pending = request_link(alice, bob)
    c = client_as(cast["users"][role])

    page = c.post(f"/family/review/{pending.pk}/", {"decision": "approve"})
    api = c.post(f"/api/v1/family/review/{pending.pk}/", {"decision": "approve"})
    counter = c.post(
        "/api/v1/family/counter/",
        {
            "member_id_number": alice.id_number,
            "relative_id_number": cast["links"]["records"].relative.id_number,
        },
    )

    assert page.status_code == (302 if role == "anonymous" else 403)
    assert api.status_code == 403
    assert counter.status_code == 403
    pending.refresh_from_db()
    assert pending.status == LinkStatus.PENDING
    assert not AuditEvent.objects.filter(action="counter.lookup").exists()


def test_ended_link_stops_every_door_at_once(cast):
    link = cast["links"]["balance"]
    relative = client_as(cast["users"]["rel_balance"])
    member = cast["member"]
    assert relative.get(f"/dashboard/{member.pk}/").status_code == 200

    services.link_end(link=link, user=member.user)

    assert relative.get(f"/dashboard/{member.pk}/").status_code == 404
    assert relative.get(f"/api/v1/family/persons/{member.pk}/").status_code == 404
    assert relative.get(f"/family/switch/?person={member.pk}").status_code == 404
    assert relative.get("/api/v1/family/grants/").json() == []


def test_staff_counter_page_for_power_of_attorney(cast):
    staff = client_as(cast["users"]["staff"])
    member = cast["member"]
    holder = cast["links"]["records"].relative
    letter_only = cast["links"]["balance"].relative

    ok = staff.post(
        "/family/counter/",
        {"member_id_number": member.id_number, "relative_id_number": holder.id_number},
    )
    refused = staff.post(
        "/family/counter/",
        {"member_id_number": member.id_number, "relative_id_number": letter_only.id_number},
    )

    assert ok.status_code == 200
    assert 'data-testid="counter-result"' in ok.content.decode()
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action="counter.lookup").count() == 1


def test_staff_without_a_verified_code_are_kept_out(cast):
    link = cast["links"]["balance"]
    c = Client()
    c.force_login(cast["users"]["staff"])

    assert c.get("/family/review/").status_code == 302
    assert c.get("/family/counter/").status_code == 302
    assert c.get(f"/family/links/{link.pk}/document/").status_code == 404
    assert c.get("/api/v1/family/review/").status_code == 403
    assert c.get(f"/api/v1/family/links/{link.pk}/document/").status_code == 404


def test_document_is_served_safely(cast):
    link = cast["links"]["balance"]

    response = client_as(cast["users"]["staff"]).get(f"/family/links/{link.pk}/document/")

    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == (f'inline; filename="family-document-{link.pk}.png"')
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert AuditEvent.objects.filter(action="family.document.view").count() == 1


def test_review_queue_oldest_first_with_documents_inline(cast, alice, bob, father, staff):
    from .conftest import request_link, upload
    from .files import pdf

    first = request_link(alice, bob)
    second = request_link(
        alice, father, relationship="parent", document=upload(pdf(), "x.pdf", "application/pdf")
    )

    html = client_as(staff).get("/family/review/").content.decode()

    assert html.index(f'data-testid="review-{first.pk}"') < html.index(
        f'data-testid="review-{second.pk}"'
    )
    assert f'<img class="document-image" src="/family/links/{first.pk}/document/"' in html
    # A PDF is shown as images rendered on the server (the CSP allows no <object>).
    assert f'<img class="document-image" src="/family/links/{second.pk}/document/preview/"' in html
    assert "<object" not in html
    assert 'data-testid="age"' in html
    # places by name, not region codes (alice and bob are insured in 110105)
    assert "北京市朝阳区" in html
    assert f"· {alice.insured_region}</dd>" not in html


def test_records_relative_sees_the_payment_record_and_the_counter_shows_it(cast):
    from tests.dashboard.helpers import contribution

    member = cast["member"]
    contribution(member, dt.date(2026, 10, 1))  # through the import, credited

    api = client_as(cast["users"]["rel_records"]).get(f"/api/v1/family/persons/{member.pk}/")
    balance_only = client_as(cast["users"]["rel_balance"]).get(
        f"/api/v1/family/persons/{member.pk}/"
    )
    counter = client_as(cast["users"]["staff"]).post(
        "/api/v1/family/counter/",
        {
            "member_id_number": member.id_number,
            "relative_id_number": cast["links"]["records"].relative.id_number,
        },
    )

    expected = [
        {
            "period": "2026-10-01",
            "base": "8000.00",
            "employer": "720.00",
            "individual": "160.00",
            "credited": "160.00",
            "status": "paid",
        }
    ]
    assert api.json()["records"] == {"contributions": expected, "expenses": []}
    assert "records" not in balance_only.json()
    assert counter.status_code == 200
    assert counter.json()["records"]["contributions"] == expected
    assert AuditEvent.objects.filter(action="counter.lookup").count() == 1
