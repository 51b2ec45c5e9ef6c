"""Shared helpers of the benchmarks: Django setup against a bench database,
creating that database, and describing the machine.

The bench databases are named by ``BENCH_DATABASE_URL`` (default: the
``DATABASE_URL`` of the environment) and ``BENCH_SMALL_DATABASE_URL`` (default:
the same URL with ``_small`` appended to the database name). Only these
databases are ever created or dropped here.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
OUT_DIR = BENCH_DIR / "out"
# The identity-number keys and the secret key live under the var dir; the bench
# builds and serves with its own, so the dataset and the server agree.
BENCH_VAR_DIR = BENCH_DIR / ".var"

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"


def bench_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL


def bench_redis_url() -> str:
    """``BENCH_REDIS_URL``, else ``REDIS_URL``, else database 14 of the local Redis."""
    return (
        os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or "redis://127.0.0.1:6379/14"
    )


def small_url(url: str | None = None) -> str:
    if os.environ.get("BENCH_SMALL_DATABASE_URL"):
        return os.environ["BENCH_SMALL_DATABASE_URL"]
    parts = urlsplit(url or bench_url())
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_small"))


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def maintenance_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def server_env(url: str, **extra: str) -> dict[str, str]:
    """The environment a bench process (builder, gunicorn) runs with."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        # The production set-up: sessions, cache and the signed-in user in Redis.
        REDIS_URL=bench_redis_url(),
        # One keyspace per database: two servers up at once (the dashboard at
        # both sizes) must not take each other's cached users or pages.
        CACHE_KEY_PREFIX=f"bench-{db_name(url)}",
        PORTAL_VAR_DIR=str(BENCH_VAR_DIR),
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def setup_django(url: str) -> None:
    """Point Django at ``url`` (must run before the first settings access)."""
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = bench_redis_url()
    os.environ["CACHE_KEY_PREFIX"] = f"bench-{db_name(url)}"
    os.environ["PORTAL_VAR_DIR"] = str(BENCH_VAR_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "false"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ensure_database(url: str) -> bool:
    """Create the database if missing; True when it was created."""
    import psycopg

    name = db_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(url: str) -> None:
    import psycopg

    name = db_name(url)
    if not name.startswith("portal_bench"):
        raise RuntimeError(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# How long ``quiesce`` waits at most for autovacuum to finish.
QUIESCE_WAIT_SECONDS = 120


def quiesce(url: str, *, vacuum: bool = True, wait: float = QUIESCE_WAIT_SECONDS) -> str:
    """Untimed, before a timed load: let PostgreSQL finish the background work
    the steps before it left (building a dataset, another bench's writes), so
    the load measures the portal and not that aftermath. ``vacuum``: VACUUM
    the database now (what autovacuum would do during the load after a fresh
    dataset); then CHECKPOINT (the dirty pages and the WAL of those writes
    are flushed now, not while the load's commits wait on the disk); then
    wait, at most ``wait`` seconds, until no autovacuum worker runs on this
    server. A run without the rights for a step skips that step. Returns
    what was done, for the report."""
    import psycopg

    done = []
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        for step in (["VACUUM"] if vacuum else []) + ["CHECKPOINT"]:
            try:
                conn.execute(step)
                done.append(step)
            except psycopg.Error as exc:
                print(f"quiesce: {step} skipped: {exc}".strip(), file=sys.stderr, flush=True)
        busy = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        while conn.execute(busy).fetchone()[0]:
            if time.monotonic() - t0 > wait:
                done.append("autovacuum still running")
                break
            time.sleep(1)
    spent = time.monotonic() - t0
    summary = f"{', '.join(done)} ({spent:.0f} s)"
    print(f"quiesce {db_name(url)}: {summary}", file=sys.stderr, flush=True)
    return summary


def verdict_markdown(rows: list[tuple[str, str, str, bool | None]]) -> str:
    """Issue 16's target rows as a Markdown table: (what, target, measured, met);
    ``met`` None when not measured."""
    lines = ["| what | target | measured | met |", "|---|---|---|---|"]
    for what, target, measured, met in rows:
        mark = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {what} | {target} | {measured} | {mark} |")
    return "\n".join(lines) + "\n"


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_description(url: str | None = None) -> dict[str, str]:
    """nproc, CPU model, memory, OS, PostgreSQL, Python, Django, gunicorn, wrk."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    pg = ""
    if url:
        try:
            import psycopg

            with psycopg.connect(url) as conn:
                pg = conn.execute("SHOW server_version").fetchone()[0]
        except Exception:  # the description must not fail the run
            pg = ""
    import django

    try:
        import gunicorn

        gunicorn_version = gunicorn.__version__
    except ImportError:
        gunicorn_version = ""
    wrk = " ".join(_run(["sh", "-c", "wrk -v 2>&1 | head -1"]).split()[:2]).replace("debian/", "")
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
        "postgresql": pg,
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn_version,
        "wrk": wrk,
    }


def backend_cpu(connection):
    """A function giving the CPU seconds the PostgreSQL backend serving
    ``connection`` has used so far (read from /proc: the server runs on this
    machine; 0 where it cannot be read)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    return used
