"""Check, before the test suite, that real PostgreSQL and Redis answer.

Prints ``export`` lines with the URLs to use (trying the local ``postgres`` and
``root`` roles when DATABASE_URL is not set). Exits 2 naming what to start, so
the suite never silently falls back to SQLite.
"""

from __future__ import annotations

import os
import sys

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def _pg_ok(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def main() -> int:
    db_url = os.environ.get("DATABASE_URL")
    candidates = (
        [db_url]
        if db_url
        else [f"postgres://{role}@127.0.0.1:5432/postgres" for role in ("postgres", "root")]
    )
    errors = []
    chosen = None
    for url in candidates:
        problem = _pg_ok(url)
        if problem is None:
            chosen = url
            break
        errors.append(f"{url}: {problem}")
    if chosen is None:
        sys.stderr.write(
            "PostgreSQL is not reachable; the tests need it (no SQLite fallback).\n  "
            + "\n  ".join(errors)
            + f"\nStart it with:\n  {PG_START}\nor set DATABASE_URL.\n"
        )
        return 2
    if not db_url:
        # Tests run in their own database (pytest-django prefixes test_).
        chosen = chosen.rsplit("/", 1)[0] + "/portal"

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        sys.stderr.write(
            f"Redis is not reachable at {redis_url}: {exc}\n"
            f"Start it with:\n  {REDIS_START}\nor set REDIS_URL.\n"
        )
        return 2
    print(f"export DATABASE_URL='{chosen}'")
    print(f"export REDIS_URL='{redis_url}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
