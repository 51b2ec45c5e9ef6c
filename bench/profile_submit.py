"""Cost of one expense submission, in-process (no HTTP server, no load generator).

    python bench/profile_submit.py [--n 200] [--queries] [--profile] [--relative]

Against ``BENCH_DATABASE_URL`` (default ``DATABASE_URL``), which must be
migrated: makes sure a bench hospital with a token, the benefit policies and
``--n`` employee members exist (created through the services on first use),
tops up each member's pockets from the pooled fund (so the personal account
pays, as for most submissions), then submits one expense per member through
Django's test client with the production settings (DEBUG off, Redis) and the
institution rate limit off, and prints wall and CPU milliseconds and queries
per submission, and the CPU of a bare Django view beside it. Every run uses
new Idempotency-Keys: each request is a new expense, never a replay.
``--relative`` makes every member's spouse pay from their prior-years surplus
(family mutual assistance: the member's own pockets are left empty).
``--queries`` prints the SQL of one submission; ``--profile`` adds a
pyinstrument profile (not a project dependency: install it yourself, see
bench/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

INSTITUTION = "Profile hospital"
REGION = "110105"


def _members(n: int, *, relative: bool) -> list[tuple[object, object | None]]:
    """``n`` employee members (and, with ``relative``, a spouse each who
    authorised them to pay from the spouse's prior-years surplus)."""
    from members.idnumber import make_id_number
    from members.models import InsuredPerson
    from members.selectors import person_by_id_number
    from members.services import person_create

    def person(birth: dt.date, seq: int, name: str) -> InsuredPerson:
        number = make_id_number(REGION, birth, seq)
        return person_by_id_number(number) or person_create(
            id_number=number, name=name, insured_region=REGION
        )

    out = []
    first = dt.date(1975, 1, 1) if relative else dt.date(1960, 1, 1)
    for i in range(n):
        birth = first + dt.timedelta(days=i)
        member = person(birth, 11, f"Profile member {i}")
        spouse = person(birth, 12, f"Profile spouse {i}") if relative else None
        out.append((member, spouse))
    if relative:
        _link_spouses(out)
    return out


def _link_spouses(pairs) -> None:
    """Approved pay links spouse -> member, made as the family app makes them
    in tests (``tests.family.conftest.request_link``) when missing."""
    from access.lookups import payment_grants_for

    missing = [
        (m, s) for m, s in pairs if s.pk not in {g.member_id for g in payment_grants_for(patient=m)}
    ]
    if not missing:
        return
    import tempfile

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from family import services as family_services
    from members.services import member_user_create
    from tests.family.conftest import request_link

    settings.PRIVATE_MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="profile_submit_"))
    users = get_user_model().objects
    reviewer = users.filter(username="profile-reviewer").first() or users.create_superuser(
        username="profile-reviewer", password=uuid.uuid4().hex
    )
    for member, spouse in missing:
        if spouse.user_id is None:
            member_user_create(person=spouse, password=uuid.uuid4().hex)
        link = request_link(spouse, member, relationship="spouse", scope_pay=True)
        family_services.link_approve(link_id=link.pk, reviewer=reviewer)


def _top_up(pairs, *, relative: bool) -> None:
    from accounts.models import AccountKind
    from accounts.services import ledger_post, member_pockets, system_account

    fund = system_account(AccountKind.POOLED_FUND)
    for member, spouse in pairs:
        payer = spouse if relative else member
        current, prior = member_pockets(payer)
        ledger_post(
            idempotency_key=f"profile-submit:top-up:{payer.pk}:{uuid.uuid4()}",
            kind="bench.credit",
            postings=[(fund, -200_000), (current, 100_000), (prior, 100_000)],
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--queries", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--relative", action="store_true")
    parser.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    os.environ["BENCH_ENDPOINTS"] = "true"
    os.environ["CONN_MAX_AGE"] = "600"
    os.environ["API_THROTTLE_INSTITUTION"] = "off"
    common.setup_django(args.url or common.bench_url())
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from claims import policy_data
    from claims.models import Institution
    from claims.services import institution_create, institution_token_create

    today = timezone.localdate()
    policy_data.load(years=[today.year], regions=("110100",))
    institution = Institution.objects.filter(name=INSTITUTION).first() or institution_create(
        name=INSTITUTION, kind="hospital", region="110100"
    )
    _token, raw = institution_token_create(institution=institution)
    pairs = _members(args.n + 6, relative=args.relative)
    _top_up(pairs, relative=args.relative)
    run = uuid.uuid4().hex[:8]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")

    def submit(i: int) -> None:
        member = pairs[i][0]
        body = {
            "patient_id_number": member.id_number,
            "service_date": today.isoformat(),
            "care_type": "outpatient",
            "lines": [
                {"catalog_class": "A", "description": "consultation", "amount": "35.00"},
                {"catalog_class": "B", "description": "medicine", "amount": "86.50"},
            ],
        }
        r = client.post(
            "/api/v1/claims/expenses/",
            json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"profile-{run}-{i}",
        )
        assert r.status_code == 201, (r.status_code, r.content[:500])
        assert r.json()["account"] != "0.00", r.json()  # the personal account paid

    for i in range(5):  # warm: connection, caches, translations
        submit(args.n + i)
    with CaptureQueriesContext(connection) as ctx:
        submit(args.n + 5)
    queries = len(ctx.captured_queries)
    if args.queries:
        for q in ctx.captured_queries:
            print(f"-- {q['time']}s\n{q['sql']}")
    # The yardstick: a bare Django view (fixed JSON, no session, no query).
    bare = Client(HTTP_HOST="127.0.0.1")
    for _ in range(5):
        assert bare.get("/bench/bare").status_code == 200
    c0 = time.process_time()
    for _ in range(args.n):
        bare.get("/bench/bare")
    bare_cpu = (time.process_time() - c0) * 1000 / args.n
    backend = common.backend_cpu(connection)
    w0, c0, d0 = time.perf_counter(), time.process_time(), backend()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    for i in range(args.n):
        submit(i)
    wall = (time.perf_counter() - w0) * 1000 / args.n
    cpu = (time.process_time() - c0) * 1000 / args.n
    db_cpu = (backend() - d0) * 1000 / args.n
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False))
    what = "paid by a relative" if args.relative else "paid from own pockets"
    print(f"expense submission ({what}), {args.n} requests")
    print(f"{'wall ms':>8} {'cpu ms':>8} {'db cpu ms':>9} {'queries':>8}")
    print(f"{wall:8.2f} {cpu:8.2f} {db_cpu:9.2f} {queries:8d}")
    print(f"bare view: {bare_cpu:.2f} ms CPU; a submission: {cpu / bare_cpu:.1f} x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
