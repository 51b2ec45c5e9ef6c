"""Cost of one member read, in-process (no HTTP server, no load generator).

    python bench/profile_reads.py [--n 200] [--profile records_page_1] [--only relative]

Against the bench database (``BENCH_DATABASE_URL``): signs one long-record
member in as ``bench_http.py`` does, then requests each read path ``--n``
times through Django's test client with the production settings (DEBUG off,
Redis sessions and cache) and prints wall and CPU milliseconds (Python's and
the PostgreSQL backend's) and queries per request. ``relative_*`` are a
relative's views of a member who granted them, audited; ``*_plain`` the same
with auditing switched off (as ``bench/noaudit_wsgi.py``). ``--profile NAME``
adds a pyinstrument profile of that path (install pyinstrument yourself; it is
not a dependency of the project).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, dataset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--profile", default="")
    parser.add_argument("--url", default=None)
    parser.add_argument("--only", default="", help="the paths whose name starts so")
    args = parser.parse_args(argv)
    os.environ["BENCH_ENDPOINTS"] = "true"
    os.environ["CONN_MAX_AGE"] = "600"
    # One client asks hundreds of times a second: the per-user API limit
    # would answer 429 (the load runs spread over hundreds of users).
    os.environ["API_THROTTLE_MEMBER"] = "off"
    common.setup_django(args.url or common.bench_url())
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench import bench_http

    with connection.cursor() as cur:
        pid = dataset.long_record_pids(cur)[0]
    key = bench_http.member_sessions([pid])[pid]
    # The dashboard and the balance as bench_http measures them: an employee
    # with an ordinary record (the long-record members carry 50,000 rows).
    plain = bench_http.spread_employees(320)[160]
    plain_key = bench_http.member_sessions([plain])[plain]
    cursor = bench_http.deep_cursor(pid, bench_http.DEEP_PAGE)
    # A relative's views of a member who granted them (bench_walls' audited
    # view), and the same with auditing switched off as bench/noaudit_wsgi.py
    # does it: the difference is what the audit trail costs.
    from bench import bench_walls

    member, relative = bench_walls._relative_pairs(40)[20]
    relative_key = bench_http.member_sessions([relative])[relative]
    paths = {
        "bare": "/bench/bare",
        "signed_in": "/bench/signed-in",
        "dashboard": "/",
        "balance": "/api/v1/accounts/balance/",
        "records_page_1": "/dashboard/records/",
        "records_page_1000": f"/dashboard/records/?after={cursor}",
        "relative_balance": f"/api/v1/accounts/{member}/balance/",
        "relative_balance_plain": f"/api/v1/accounts/{member}/balance/",
        "relative_page": f"/dashboard/{member}/",
        "relative_page_plain": f"/dashboard/{member}/",
    }
    long_client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans", HTTP_HOST="127.0.0.1")
    long_client.cookies[settings.SESSION_COOKIE_NAME] = key
    plain_client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans", HTTP_HOST="127.0.0.1")
    plain_client.cookies[settings.SESSION_COOKIE_NAME] = plain_key
    relative_client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans", HTTP_HOST="127.0.0.1")
    relative_client.cookies[settings.SESSION_COOKIE_NAME] = relative_key
    from access import lookups

    audited = (lookups.audit_record, lookups.audit_record_many, lookups._RECORDED_IN_LOOKUP)
    backend = common.backend_cpu(connection)
    print(f"members {plain} and {pid} (long record), {args.n} requests each", flush=True)
    print(f"{'path':<24} {'wall ms':>8} {'cpu ms':>8} {'db cpu ms':>9} {'queries':>8}")
    for name, path in paths.items():
        if args.only and not name.startswith(args.only):
            continue
        client = long_client if name.startswith("records") else plain_client
        if name.startswith("relative"):
            client = relative_client
            if name.endswith("_plain"):  # as bench/noaudit_wsgi.py
                lookups.audit_record = lambda **kwargs: None
                lookups.audit_record_many = lambda **kwargs: []
                lookups._RECORDED_IN_LOOKUP = {}
            else:
                (lookups.audit_record, lookups.audit_record_many, lookups._RECORDED_IN_LOOKUP) = (
                    audited
                )
        for _ in range(5):  # warm: template cache, connection, user cache
            r = client.get(path)
            assert r.status_code == 200, (name, r.status_code)
        with CaptureQueriesContext(connection) as ctx:
            client.get(path)
        queries = len(ctx.captured_queries)
        reset_queries()
        w0, c0, d0 = time.perf_counter(), time.process_time(), backend()
        for _ in range(args.n):
            client.get(path)
        wall = (time.perf_counter() - w0) * 1000 / args.n
        cpu = (time.process_time() - c0) * 1000 / args.n
        db_cpu = (backend() - d0) * 1000 / args.n
        print(f"{name:<24} {wall:8.2f} {cpu:8.2f} {db_cpu:9.2f} {queries:8d}", flush=True)
        if name == args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(args.n):
                client.get(path)
            profiler.stop()
            print(
                profiler.output_text(
                    unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
