"""The access layer's guards on the source tree: every route is in the table
(access/routes.py), and nothing outside ``access/`` and ``family/`` decides
who is staff or reads family links."""

from __future__ import annotations

import re
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

from access.routes import PERSON_KINDS, ROUTES, route_for

ROOT = Path(__file__).resolve().parents[2]


def _names(patterns, ns: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _names(p.url_patterns, ns + (f"{p.namespace}:" if p.namespace else ""))
        elif isinstance(p, URLPattern):
            yield f"{ns}{p.name}" if p.name else f"{ns}<unnamed {p.pattern}>"


def test_every_route_is_in_the_table():
    names = set(_names(get_resolver().url_patterns))

    missing = sorted(n for n in names if route_for(n) is None)

    assert not missing, f"add these routes to access/routes.py: {missing}"
    assert len(names) > 50  # the walk really saw the portal's routes


def test_the_table_names_no_route_that_is_gone():
    names = set(_names(get_resolver().url_patterns)) | {"admin:*", "bench_bare", "bench_signed_in"}

    assert sorted(set(ROUTES) - names) == []


def test_every_person_scoped_route_says_what_it_needs():
    for name, route in ROUTES.items():
        if route.kind in ("person", "own", "ecert"):
            assert route.scope in ("open", "balance", "records", "pay", "errands"), name
    assert {r.kind for r in ROUTES.values()} <= PERSON_KINDS | {"staff", "institution", "public"}


# --- nothing else decides ---------------------------------------------------------

# Files outside access/ and family/ that may still name these, and why.
STAFF_FLAG_ALLOWED = {
    # The sign-in machinery: the staff-page gate must tell "not staff" (403)
    # from "staff, code not yet entered" (sent to the code step), the idle
    # sign-out applies to staff sessions, and user_is_verified_staff is the
    # one formula access.rules.is_verified_staff asks.
    "portal/security.py",
    # The one-time-code pages (moved out of the kernel): only staff accounts
    # enrol and pass the code, so they must ask the flag itself.
    "members/security_views.py",
    # Staff accounts have no inbox: the unread count and the header's inbox
    # link are for members (shows the way, never data).
    "notifications/context.py",
    "notifications/signals.py",
    "templates/base.html",
    # Creates the demo staff accounts (writes the flag, decides nothing).
    "members/demo.py",
}
FAMILY_LINK_ALLOWED = {
    # Loads benchmark data in bulk with COPY; decides nothing.
    "bench/dataset.py",
    # Picks sample member/relative pairs for the audited-view benchmark; the
    # requests it then makes are decided by the layer like any other.
    "bench/bench_walls.py",
    # A surplus-paid resident contribution names the link it was paid under
    # (a foreign key declared as "family.FamilyLink"); no query.
    "payments/models.py",
    # Demo data: gives 李娜's link to 张伟 the errands scope (writes, decides nothing).
    "errands/demo.py",
    # Notifications of link events go to the link's two people: the outbox
    # reads who they are (notifications/outbox.py); it grants nothing.
    "notifications/outbox.py",
}
STAFF_FLAG = re.compile(r"\.is_staff\b|\bis_staff(__\w+)?=(?!=)")
FAMILY_LINK = re.compile(r"\bFamilyLink\b|\bfamily_familylink\b")
APPROVED_FILTER = re.compile(
    r"\.(filter|exclude|get)\([^)]*\bstatus\s*=\s*(LinkStatus\.APPROVED|[\"']approved[\"'])",
    re.S,
)


def _sources():
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.suffix not in (".py", ".html") or not path.is_file():
            continue
        top = rel.split("/", 1)[0]
        if top.startswith(".") or top in ("tests", "var", "build") or "/migrations/" in rel:
            continue
        if path.name == "admin.py":  # the admin is StaffAdminSite: verified staff only
            continue
        yield rel, path.read_text(encoding="utf-8", errors="replace")


def test_no_staff_flag_or_family_link_query_outside_the_layer():
    offenders = []
    for rel, text in _sources():
        inside = rel.startswith(("access/", "family/"))
        if not inside and rel not in STAFF_FLAG_ALLOWED and STAFF_FLAG.search(text):
            offenders.append(f"{rel}: is_staff (ask access.rules.is_verified_staff)")
        if not inside and rel not in FAMILY_LINK_ALLOWED and FAMILY_LINK.search(text):
            offenders.append(f"{rel}: FamilyLink (ask access.lookups)")

    assert offenders == []


def test_links_grant_access_only_through_in_effect():
    offenders = [
        rel
        for rel, text in _sources()
        # family/services.py moves links between states (renewal, the expiry
        # sweep): writes on approved links that may be past their end, never a
        # decision about access.
        if rel not in ("family/models.py", "family/services.py") and APPROVED_FILTER.search(text)
    ]

    assert offenders == []


def test_the_guards_see_what_they_guard(tmp_path):
    # A test that cannot fail is a defect: the patterns catch the real shapes.
    assert STAFF_FLAG.search("if request.user.is_staff:")
    assert STAFF_FLAG.search("User.objects.filter(is_staff=True)")
    assert STAFF_FLAG.search("{% if user.is_staff %}")
    assert not STAFF_FLAG.search("is_staff = serializers.BooleanField()")
    assert FAMILY_LINK.search("FamilyLink.objects.filter(member=p)")
    assert FAMILY_LINK.search("FROM family_familylink l")
    assert APPROVED_FILTER.search(
        "FamilyLink.objects.filter(\n  member=p, status=LinkStatus.APPROVED\n)"
    )
    assert APPROVED_FILTER.search('links.filter(status="approved")')
    assert {rel for rel, _ in _sources()} >= {"dashboard/views.py", "templates/home.html"}
