"""HTTP load benchmark: gunicorn on 127.0.0.1, wrk from a second process.

    python bench/bench_http.py [--duration 15] [--persons 1000000]

1. Makes sure both datasets exist (bench/dataset.py: 1,000,000 persons in the
   bench database, 10,000 in the _small one), building them only if missing.
2. Signs members in without the login form (django-axes would lock a hammered
   form): one session per member, created with Django's SessionStore exactly as
   ``login()`` stores it, handed to wrk as a cookie. Members are employees spread
   over the whole dataset; the payment-record endpoints use the 32 long-record
   members. Expense submission uses a bench institution's Bearer token and a
   new Idempotency-Key per request.
3. Starts gunicorn (sync workers, DEBUG=false, BENCH_ENDPOINTS=true so the bare
   view ``/bench/bare`` exists) and, per endpoint, runs wrk with 32 connections
   for a warm-up and then a measured, bounded duration; wrk stops by itself.
4. Writes bench/out/http.json and bench/out/http.md (the section of
   bench/results.md); bench/report.py assembles results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, dataset

CONNECTIONS = 32
THREADS = 2
# Two cores: two sync workers per core keep both busy while one waits on
# PostgreSQL; more only add context switches (wrk and PostgreSQL share the cores).
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
POOL = 320  # distinct signed-in members per endpoint (10 per connection)
PAGE = 50
DEEP_PAGE = 1000
PYTHON = str(common.ROOT / ".venv" / "bin" / "python")
GUNICORN = str(common.ROOT / ".venv" / "bin" / "gunicorn")

# The scale targets (issue 8). Its dashboard and balance rows gave way to
# issue 16's read-path targets (READ_TARGETS below), which the output prints
# as their own table.
TARGETS = {
    "records_page_1000": "requests/s within 20% of page 1",
    "dashboard_scale": "the {big}-person dashboard within 10% of the {small}-person one",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_port() -> int:
    """``BENCH_PORT`` (or the next of the ten after it that is free, for a
    second server up at once) when set, for a machine shared with other
    benches; else any free port."""
    first = int(os.environ.get("BENCH_PORT") or 0)
    for port in range(first, first + 10) if first else ():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    raise SystemExit("wrk is missing: bench/run installs it (apt-get install -y wrk)")


# --- sessions and request lists (run inside Django, against one database) -----


def member_sessions(pids: list[int]) -> dict[int, str]:
    """{pid: session key}: a signed-in session per member, as login() stores it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from members.models import InsuredPerson
    from members.signals import forget_user

    # The backend that signs members in (the others only refuse).
    backend = "members.auth.IdentityNumberOrPhoneBackend"
    assert backend in settings.AUTHENTICATION_BACKENDS
    keys = {}
    for person in InsuredPerson.objects.filter(pk__in=pids).select_related("user"):
        forget_user(person.user.pk)  # the dataset may have been rebuilt since it was cached
        store = SessionStore()
        store[SESSION_KEY] = str(person.user.pk)
        store[BACKEND_SESSION_KEY] = backend
        store[HASH_SESSION_KEY] = person.user.get_session_auth_hash()
        store.set_expiry(6 * 3600)
        store.create()
        keys[person.pk] = store.session_key
    return keys


def spread_employees(n: int) -> list[int]:
    """n employees spread evenly over the whole id range."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT max(id) FROM members_insuredperson")
        top = cur.fetchone()[0]
        step = max(top // (n * 2), 1)
        cur.execute(
            "SELECT id FROM members_insuredperson WHERE insurance_type = 'employee' "
            "AND id %% %s = 0 ORDER BY id LIMIT %s",
            [step, n],
        )
        pids = [r[0] for r in cur.fetchall()]
        if len(pids) < n:  # a small dataset: fill up with the first others
            cur.execute(
                "SELECT id FROM members_insuredperson WHERE insurance_type = 'employee' "
                "AND NOT id = ANY(%s) ORDER BY id LIMIT %s",
                [pids, n - len(pids)],
            )
            pids += [r[0] for r in cur.fetchall()]
        return sorted(pids)


def deep_cursor(pid: int, page: int) -> str | None:
    """The records page's ``after`` cursor that shows page ``page``."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT period, id FROM payments_contribution WHERE person_id = %s "
            "ORDER BY period DESC, id DESC OFFSET %s LIMIT 1",
            [pid, (page - 1) * PAGE - 1],
        )
        row = cur.fetchone()
    return f"{row[0].isoformat()}_{row[1]}" if row else None


def cookie(key: str) -> dict[str, str]:
    from django.conf import settings

    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={key}", "Accept-Language": "zh-hans"}


def get(path: str, key: str | None) -> dict:
    return {"method": "GET", "path": path, "headers": cookie(key) if key else {}, "body": None}


def expense_setup(pids: list[int]) -> list[dict]:
    """A bench institution with a token; one expense body per member."""
    from claims import policy_data
    from claims.models import Institution
    from claims.services import institution_create, institution_token_create

    policy_data.load()
    institution = Institution.objects.filter(name="Bench hospital").first() or institution_create(
        name="Bench hospital", kind="hospital", region="110100"
    )
    _token, raw = institution_token_create(institution=institution)
    return [expense_request(pid, raw) for pid in pids]


def expense_request(pid: int, token: str) -> dict:
    """One expense submission of member ``pid`` by the institution holding ``token``."""
    body = json.dumps(
        {
            "patient_id_number": dataset.id_number_for(pid),
            "service_date": "2026-11-20",
            "care_type": "outpatient",
            "lines": [
                {"catalog_class": "A", "description": "consultation", "amount": "35.00"},
                {"catalog_class": "B", "description": "medicine", "amount": "86.50"},
            ],
        }
    )
    return {
        "method": "POST",
        "path": "/api/v1/claims/expenses/",
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "body": body,
    }


def plan(small: bool) -> dict[str, dict]:
    """{endpoint: {"requests": [...], "expect": status, "keyed": bool}}"""
    pids = spread_employees(POOL)
    keys = member_sessions(pids)
    sessions = [keys[p] for p in pids if p in keys]
    endpoints = {
        "bare": {"requests": [get("/bench/bare", k) for k in sessions], "expect": 200},
        # The floor of every member page: the session and the signed-in user, nothing else.
        "signed_in": {"requests": [get("/bench/signed-in", k) for k in sessions], "expect": 200},
        "dashboard": {"requests": [get("/", k) for k in sessions], "expect": 200},
        "balance": {
            "requests": [get("/api/v1/accounts/balance/", k) for k in sessions],
            "expect": 200,
        },
    }
    if small:
        return endpoints
    from django.db import connection

    with connection.cursor() as cur:
        long_pids = dataset.long_record_pids(cur)
    long_keys = member_sessions(long_pids)
    page1, deep = [], []
    for pid in long_pids:
        cursor = deep_cursor(pid, DEEP_PAGE)
        if cursor and pid in long_keys:
            page1.append(get("/dashboard/records/", long_keys[pid]))
            deep.append(get(f"/dashboard/records/?after={cursor}", long_keys[pid]))
    endpoints["records_page_1"] = {"requests": page1, "expect": 200}
    endpoints[f"records_page_{DEEP_PAGE}"] = {"requests": deep, "expect": 200}
    try:
        endpoints["expense_submit"] = {
            "requests": expense_setup(pids),
            "expect": 201,
            "keyed": True,
        }
    except ImportError as exc:  # claims not there yet
        print(f"expense submission skipped: {exc}", file=sys.stderr, flush=True)
    return endpoints


def plan_in_subprocess(url: str, small: bool) -> dict:
    """Sessions are created in the database the server reads: one process per database."""
    out = subprocess.run(
        [PYTHON, __file__, "--plan", "--url", url] + (["--small"] if small else []),
        env=common.server_env(url),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- server and load ----------------------------------------------------------


class Server:
    def __init__(self, url: str, *, app: str = "portal.wsgi:application", **extra_env: str):
        self.url = url
        self.port = pick_port()
        self.app = app
        self.extra_env = extra_env
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        # All expense submissions use one bench institution's token: its rate
        # limit (API_THROTTLE_INSTITUTION) would measure the limit, not the
        # endpoint. Members' limits stay on (each client is another member).
        env = common.server_env(
            self.url,
            BENCH_ENDPOINTS="true",
            CONN_MAX_AGE="600",
            API_THROTTLE_INSTITUTION="off",
            **self.extra_env,
        )
        self.proc = subprocess.Popen(
            [
                GUNICORN,
                self.app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--worker-class",
                "sync",
                "--backlog",
                "256",
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
            cwd=common.ROOT,
            env=env,
            stdout=sys.stderr,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/bench/bare", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise SystemExit("gunicorn did not answer /bench/bare within 60 s")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def lua_value(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid Lua string literal here
    if isinstance(value, list):
        return "{" + ",".join(lua_value(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"[{lua_value(k)}]={lua_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def run_wrk(base: str, name: str, spec: dict, seconds: int, warmup: int) -> dict:
    script = common.OUT_DIR / f"wrk_{name}.lua"
    header = (
        f"REQUESTS = {lua_value(spec['requests'])}\n"
        f"EXPECT = {spec['expect']}\n"
        f"KEYED = {lua_value(bool(spec.get('keyed')))}\n"
        f"KEY_PREFIX = {lua_value(f'bench-{name}-{time.time_ns()}')}\n"
    )
    script.write_text(header + (common.BENCH_DIR / "wrk_requests.lua").read_text())
    result = {}
    for phase, duration in (("warmup", warmup), ("measure", seconds)):
        if phase == "warmup" and not duration:
            continue
        if phase == "warmup" and spec.get("keyed"):
            # new keys for the measured phase
            script.write_text(
                header.replace('KEY_PREFIX = "', 'KEY_PREFIX = "w')
                + (common.BENCH_DIR / "wrk_requests.lua").read_text()
            )
        out = subprocess.run(
            [
                "wrk",
                "-t",
                str(THREADS),
                "-c",
                str(CONNECTIONS),
                "-d",
                f"{duration}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                base,
                "--",
                str(THREADS),
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise SystemExit(f"wrk gave no figures for {name}:\n{out.stdout}\n{out.stderr}")
        result = json.loads(line[len("WRKJSON ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    for p in ("p50", "p95", "p99"):
        result[f"{p}_ms"] = result[f"{p}_us"] / 1000
    result["sessions"] = len(spec["requests"])
    result["errors"] = (
        result["connect_errors"]
        + result["read_errors"]
        + result["write_errors"]
        + result["timeouts"]
        + result["unexpected_status"]
    )
    print(
        f"  {name:<20} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:6.1f} ms  "
        f"p95 {result['p95_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
        f"errors {result['errors']}",
        file=sys.stderr,
        flush=True,
    )
    return result


def measure(url: str, endpoints: dict, seconds: int, warmup: int) -> dict:
    results = {}
    with Server(url) as server:
        for name, spec in endpoints.items():
            if not spec["requests"]:
                print(f"  {name}: no requests (data missing), skipped", file=sys.stderr, flush=True)
                continue
            results[name] = run_wrk(server.base, name, spec, seconds, warmup)
    return results


SCALE_ROUNDS = 4


def measure_scale(
    big_url: str, big_spec: dict, small_url: str, small_spec: dict, seconds: int, warmup: int
) -> dict:
    """The dashboard at both sizes, alternating: both servers run at once and
    the sizes take turns (big, small, small, big, ...), so a drift of the
    machine's speed during the run (seen: 20% between two runs minutes apart,
    the bare view included) falls on both sizes alike. {size: [req/s, ...]}"""
    runs: dict[str, list[float]] = {"big": [], "small": []}
    with Server(big_url) as big_server, Server(small_url) as small_server:
        servers = {"big": (big_server, big_spec), "small": (small_server, small_spec)}
        for size, (server, spec) in servers.items():
            if warmup:
                run_wrk(server.base, f"dashboard_{size}_warmup", spec, warmup, 0)
        for n in range(SCALE_ROUNDS):
            for size in ("big", "small") if n % 2 == 0 else ("small", "big"):
                server, spec = servers[size]
                runs[size].append(
                    run_wrk(server.base, f"dashboard_{size}", spec, seconds, 0)["rps"]
                )
    return runs


# --- the report ---------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def verdicts(
    big: dict,
    small: dict,
    big_n: int = dataset.FULL_PERSONS,
    small_n: int = dataset.SMALL_PERSONS,
    scale: dict | None = None,
) -> list[tuple[str, str, str, bool | None]]:
    """(what, target, measured, met); the scale row (from ``scale``, the
    alternating dashboard runs, when there are any): faster at the big size
    is met."""
    rows = []
    p1, pd = big.get("records_page_1"), big.get(f"records_page_{DEEP_PAGE}")
    if p1 and pd:
        rr = ratio(pd["rps"], p1["rps"])
        rows.append(
            (
                f"payment record page {DEEP_PAGE:,}",
                TARGETS["records_page_1000"],
                f"{rr:.2f} x page 1 (p95 {pd['p95_ms']:.1f} vs {p1['p95_ms']:.1f} ms)",
                rr >= 0.8,
            )
        )
    d_big, d_small = big.get("dashboard"), small.get("dashboard")
    measured = None
    if scale and scale.get("big") and scale.get("small"):
        b, m = statistics.mean(scale["big"]), statistics.mean(scale["small"])
        rr = ratio(b, m)
        measured = (
            f"{rr:.2f} x ({len(scale['big'])} alternating runs of each size on two servers "
            f"up at once: {b:.1f} vs {m:.1f} req/s on average)"
        )
    elif d_big and d_small:
        rr = ratio(d_big["rps"], d_small["rps"])
        measured = f"{rr:.2f} x (p95 {d_big['p95_ms']:.1f} vs {d_small['p95_ms']:.1f} ms)"
    if measured:
        scale_row = f"dashboard at {big_n:,} vs {small_n:,} persons"
        target = TARGETS["dashboard_scale"].format(big=f"{big_n:,}", small=f"{small_n:,}")
        rows.append((scale_row, target, measured, rr >= 0.9))
    return rows


# The read-path targets of issue 16 (docs/adr/0006-hot-read-paths.md): each a
# ratio to the bare view of the same run, and a p95 bound.
READ_TARGETS = {
    "records_page_1": (0.25, 100.0),
    f"records_page_{DEEP_PAGE}": (0.25, 100.0),
    "dashboard": (0.3, 60.0),
    "balance": (0.5, 50.0),
}
READ_LABELS = {
    "records_page_1": "payment record page 1",
    f"records_page_{DEEP_PAGE}": f"payment record page {DEEP_PAGE:,}",
    "dashboard": "dashboard",
    "balance": "balance API",
}


def read_verdicts(big: dict) -> list[tuple[str, str, str, bool | None]]:
    """(what, target, measured, met) of the issue-16 read-path targets, with
    the signed-in floor (no target: what every member request pays) first."""
    bare = big.get("bare", {}).get("rps", 0)
    rows = []
    floor = big.get("signed_in")
    if floor:
        rows.append(
            (
                "signed-in floor",
                "none (session + user: the floor of every row below)",
                f"{ratio(floor['rps'], bare):.2f} x bare, p95 {floor['p95_ms']:.1f} ms",
                None,
            )
        )
    for name, (least, p95) in READ_TARGETS.items():
        target = f"at least {least} x the bare view's requests/s, p95 under {p95:.0f} ms"
        r = big.get(name)
        if not r:
            rows.append((READ_LABELS[name], target, "not measured", None))
            continue
        rr = ratio(r["rps"], bare)
        met = rr >= least and r["p95_ms"] < p95
        measured = f"{rr:.2f} x bare, p95 {r['p95_ms']:.1f} ms"
        missed = []
        if rr < least:
            missed.append(f"{least / rr if rr else float('inf'):.1f} x on throughput")
        if r["p95_ms"] >= p95:
            missed.append(f"{r['p95_ms'] / p95:.1f} x on p95")
        if missed:
            measured += f" (missed by {', '.join(missed)})"
        rows.append((READ_LABELS[name], target, measured, met))
    return rows


def read_markdown(big: dict) -> list[str]:
    lines = [
        "### Read-path targets (issue 16)",
        "",
        "| what | target | measured | met |",
        "|---|---|---|---|",
    ]
    for what, target, measured, met in read_verdicts(big):
        mark = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {what} | {target} | {measured} | {mark} |")
    lines.append("")
    return lines


def read_marker(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT key, value FROM bench_dataset").fetchall())


def markdown(data: dict) -> str:
    big, small = data["big"], data["small"]
    m = data["machine"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}, Django {m['django']}, gunicorn {m['gunicorn']}, {m['wrk']}; "
        f"run {data['date']}. Server, database and load generator share the machine.",
        "",
    ]
    for label, marker in data["datasets"].items():
        lines.append(
            f"Dataset ({label}): {int(marker.get('persons', 0)):,} persons, built once by "
            f"bench/dataset.py with COPY in {marker.get('seconds', '?')} s "
            f"({marker.get('built_at', '?')}), rows: {marker.get('counts', '?')}; "
            f"verify_ledger: {marker.get('verify_ledger', '?')}. The ledger is aggregated per "
            "person per year (see bench/README.md)."
        )
    quiesced = data.get("quiesced") or {}
    lines.append(
        "Before the load (untimed, `bench.common.quiesce`): "
        + "; ".join(f"{label}: {done}" for label, done in quiesced.items())
        + "."
    )
    lines += [
        "",
        f"gunicorn {data['workers']} sync workers on 127.0.0.1 (DEBUG=false, persistent "
        f"database connections), wrk with {CONNECTIONS} connections in {THREADS} threads from a "
        f"second process on loopback, {data['warmup']} s warm-up then {data['seconds']} s measured "
        f"per endpoint. Each request carries the session cookie of one of {POOL} signed-in "
        "members (the record pages: the 32 long-record members), rotating, so the 32 requests "
        "in flight are 32 different members. Ratios are to the bare view measured in the same "
        "run against the same server. `signed_in` answers the bare view's JSON after reading "
        "the session and the signed-in user: the floor every member page and API pays.",
        "",
    ]
    for label, results, persons in (
        ("bench database", big, data["persons"]),
        ("small database", small, data["small_persons"]),
    ):
        if not results:
            continue
        bare = results.get("bare", {}).get("rps", 0)
        lines += [
            f"### {persons:,} persons ({label})",
            "",
            "| endpoint | req/s | x bare | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in results.items():
            lines.append(
                f"| {name} | {r['rps']:.1f} | {ratio(r['rps'], bare):.2f} | {r['p50_ms']:.1f} | "
                f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
            )
        lines.append("")
    scale = data.get("scale")
    if scale:
        lines += [
            f"### Dashboard at both sizes, alternating ({data['scale_seconds']} s each)",
            "",
            "| persons | req/s, in the order run | mean |",
            "|---|---|---:|",
        ]
        for size, persons in (("big", data["persons"]), ("small", data["small_persons"])):
            figures = ", ".join(f"{x:.1f}" for x in scale[size])
            lines.append(f"| {persons:,} | {figures} | {statistics.mean(scale[size]):.1f} |")
        lines.append("")
    lines += ["### Scale targets", "", "| what | target | measured | met |", "|---|---|---|---|"]
    targets = verdicts(big, small, data["persons"], data["small_persons"], scale)
    for what, target, measured, met in targets:
        mark = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {what} | {target} | {measured} | {mark} |")
    lines.append("")
    lines += read_markdown(big)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", 15)))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--persons", type=int, default=int(os.environ.get("BENCH_PERSONS", dataset.FULL_PERSONS))
    )
    parser.add_argument("--small-persons", type=int, default=dataset.SMALL_PERSONS)
    parser.add_argument("--plan", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--small", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.plan:
        common.setup_django(args.url)
        print(json.dumps(plan(args.small)))
        return 0

    ensure_wrk()
    common.OUT_DIR.mkdir(exist_ok=True)
    big_url, small_url = common.bench_url(), common.small_url()
    for url, persons in ((small_url, args.small_persons), (big_url, args.persons)):
        subprocess.run(
            [PYTHON, str(common.BENCH_DIR / "dataset.py"), "--persons", str(persons), "--url", url],
            env=common.server_env(url),
            check=True,
            stdout=sys.stderr,
        )
    # A dataset just built leaves autovacuum and a checkpoint to run: done
    # now, untimed, not during the load.
    quiesced = {url: common.quiesce(url) for url in (small_url, big_url)}
    print(
        f"load on {common.db_name(big_url)} ({args.persons:,} persons)", file=sys.stderr, flush=True
    )
    big_plan = plan_in_subprocess(big_url, False)
    big = measure(big_url, big_plan, args.duration, args.warmup)
    print(
        f"load on {common.db_name(small_url)} ({args.small_persons:,} persons)",
        file=sys.stderr,
        flush=True,
    )
    small_plan = plan_in_subprocess(small_url, True)
    small = measure(small_url, small_plan, args.duration, args.warmup)
    scale_seconds = max(args.duration // 2, 3)
    print("dashboard at both sizes, alternating", file=sys.stderr, flush=True)
    scale = measure_scale(
        big_url,
        big_plan["dashboard"],
        small_url,
        small_plan["dashboard"],
        scale_seconds,
        args.warmup,
    )
    data = {
        "machine": common.machine_description(big_url),
        "datasets": {"big": read_marker(big_url), "small": read_marker(small_url)},
        "quiesced": {"big": quiesced[big_url], "small": quiesced[small_url]},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "persons": args.persons,
        "small_persons": args.small_persons,
        "workers": WORKERS,
        "seconds": args.duration,
        "warmup": args.warmup,
        "big": big,
        "small": small,
        "scale": scale,
        "scale_seconds": scale_seconds,
    }
    (common.OUT_DIR / "http.json").write_text(json.dumps(data, indent=2))
    (common.OUT_DIR / "http.md").write_text(markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
