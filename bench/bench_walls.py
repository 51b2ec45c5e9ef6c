"""HTTP benchmark of the two throughput walls of issue 16, with their verdicts.

    python bench/bench_walls.py [--duration 15] [--persons 1000000]

Same dataset, server and load generator as ``bench_http.py`` (whose helpers it
uses), its own rows:

1. **Expense submission** over the API with 32 clients (wrk), new
   Idempotency-Key per request, 320 bench members as patients:
   - spread over 10 institutions (request i goes to institution i mod 10);
   - all 32 clients at ONE institution. Before issue 16 every submission to
     an institution queued on its payable's row lock; the target is that one
     institution runs within 1.5 x of ten (no shared row serialises it).
   The two are measured alternately (4 runs each, half the duration each)
   so a drift of the machine's speed falls on both alike.
2. **An audited view**: a relative's view of a member who granted it (the
   relative's balance API, ``/api/v1/accounts/<member>/balance/``, and the
   relative's member page ``/dashboard/<member>/``), each access appended
   to the audit trail, against the same views served by a second gunicorn
   from ``bench/noaudit_wsgi.py`` (auditing switched off, bench only). Both
   servers run at once and the two take turns (4 runs each). A Celery worker
   runs meanwhile, sealing the audit chain as in production (ADR 0014).

Ratios are within this run: expense rows to the bare view of the same
server, the audited view to its unaudited twin. Afterwards the chain is
sealed and verified, and the ledger checked (``ledger_offenders``).
Writes bench/out/walls.json and prints a Markdown section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_http as bh
from bench import common, dataset

INSTITUTIONS = 10
ROUNDS = 4
CELERY = str(common.ROOT / ".venv" / "bin" / "celery")

TARGETS = {
    "expense_10": "at least 0.2 x bare, 32 clients over 10 institutions",
    "expense_1": "all 32 clients at one institution: within 1.5 x of the 10-institution figure",
    "relative_balance": "audited at least 0.8 x the same view without audit, 32 clients",
    "relative_page": "audited at least 0.8 x the same view without audit, 32 clients",
}


# --- the plan (inside Django, against the bench database) ---------------------


def _institutions(label: str, n: int) -> list[str]:
    """n bench institutions named ``label k``, each with a new token."""
    from claims import policy_data
    from claims.models import Institution
    from claims.services import institution_create, institution_token_create

    policy_data.load()
    tokens = []
    for k in range(n):
        name = f"{label} {k + 1}"
        inst = Institution.objects.filter(name=name).first() or institution_create(
            name=name, kind="hospital", region="110100"
        )
        _token, raw = institution_token_create(institution=inst)
        tokens.append(raw)
    return tokens


def _expense_requests(pids: list[int], tokens: list[str]) -> list[dict]:
    return [bh.expense_request(pid, tokens[i % len(tokens)]) for i, pid in enumerate(pids)]


def _relative_pairs(n: int) -> list[tuple[int, int]]:
    """(member, relative) of n approved links granting the balance and the
    records, spread over the dataset, each relative once."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM family_familylink WHERE status = 'approved' "
            "AND scope_balance AND scope_records"
        )
        total = cur.fetchone()[0]
        step = max(total // (n * 2), 1)
        cur.execute(
            "SELECT DISTINCT ON (relative_id) member_id, relative_id FROM ("
            " SELECT member_id, relative_id, row_number() OVER (ORDER BY id) AS rn"
            " FROM family_familylink WHERE status = 'approved'"
            " AND scope_balance AND scope_records) l"
            " WHERE rn %% %s = 0 ORDER BY relative_id LIMIT %s",
            [step, n],
        )
        return [(m, r) for m, r in cur.fetchall()]


def plan() -> dict[str, dict]:
    pids = bh.spread_employees(bh.POOL)
    keys = bh.member_sessions(pids)
    sessions = [keys[p] for p in pids if p in keys]
    pairs = _relative_pairs(bh.POOL)
    rel_keys = bh.member_sessions([r for _m, r in pairs])
    balance = [
        bh.get(f"/api/v1/accounts/{m}/balance/", rel_keys[r]) for m, r in pairs if r in rel_keys
    ]
    page = [bh.get(f"/dashboard/{m}/", rel_keys[r]) for m, r in pairs if r in rel_keys]
    return {
        "bare": {"requests": [bh.get("/bench/bare", k) for k in sessions], "expect": 200},
        "expense_10": {
            "requests": _expense_requests(pids, _institutions("Bench walls hospital", 10)),
            "expect": 201,
            "keyed": True,
        },
        "expense_1": {
            "requests": _expense_requests(pids, _institutions("Bench walls solo hospital", 1)),
            "expect": 201,
            "keyed": True,
        },
        "relative_balance": {"requests": balance, "expect": 200},
        "relative_page": {"requests": page, "expect": 200},
    }


def check() -> dict:
    """After the load: seal the audit chain and verify it; check the ledger."""
    from accounts.selectors import ledger_offenders
    from accounts.services import ledger_fold_deltas
    from audit.models import AuditEvent
    from audit.services import audit_seal, audit_verify

    t0 = time.perf_counter()
    sealed_now = audit_seal()
    seal_s = time.perf_counter() - t0
    problems = audit_verify()
    t0 = time.perf_counter()
    folded = ledger_fold_deltas()
    fold_s = time.perf_counter() - t0
    offenders = ledger_offenders()
    return {
        "audit_events": AuditEvent.objects.count(),
        "sealed_after_run": sealed_now,
        "seal_after_run_s": round(seal_s, 3),
        "audit_problems": problems[:5],
        "deltas_folded": folded,
        "fold_s": round(fold_s, 3),
        "ledger_clean": offenders.clean,
    }


def in_subprocess(url: str, mode: str) -> dict:
    out = subprocess.run(
        [bh.PYTHON, __file__, f"--{mode}", "--url", url],
        env=common.server_env(url),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- load ---------------------------------------------------------------------


class Worker:
    """A Celery worker on a queue of its own: seals the audit chain as in
    production while the audited view is measured."""

    def __init__(self, url: str, queue: str):
        self.url, self.queue = url, queue
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        env = common.server_env(self.url, CELERY_QUEUE=self.queue)
        self.proc = subprocess.Popen(
            [
                CELERY,
                "-A",
                "portal",
                "worker",
                "-Q",
                self.queue,
                "--concurrency",
                "1",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=common.ROOT,
            env=env,
            stdout=sys.stderr,
            start_new_session=True,
        )
        time.sleep(3)
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def alternate(runs: list[tuple[str, str, dict]], seconds: int) -> dict[str, list[dict]]:
    """Each (label, base URL, spec) in turn, ROUNDS times, the order reversed
    every other round: {label: [wrk result, ...]}."""
    out: dict[str, list[dict]] = {label: [] for label, _b, _s in runs}
    for n in range(ROUNDS):
        for label, base, spec in runs if n % 2 == 0 else list(reversed(runs)):
            out[label].append(bh.run_wrk(base, label, spec, seconds, 0))
    return out


def mean_rps(results: list[dict]) -> float:
    return statistics.mean(r["rps"] for r in results) if results else 0.0


def worst_p95(results: list[dict]) -> float:
    return max((r["p95_ms"] for r in results), default=0.0)


def errors(results: list[dict]) -> int:
    return sum(r["errors"] for r in results)


def measure(
    url: str, endpoints: dict, seconds: int, warmup: int, groups=("expense", "relative")
) -> dict:
    half = max(seconds // 2, 3)
    queue = f"bench-walls-{os.getpid()}"
    data: dict = {}
    with bh.Server(url, CELERY_QUEUE=queue) as server:
        data["bare"] = bh.run_wrk(server.base, "bare", endpoints["bare"], seconds, warmup)
        if "expense" in groups:
            for name in ("expense_10", "expense_1"):  # warm both, untimed
                bh.run_wrk(server.base, f"{name}_warmup", endpoints[name], warmup, 0)
            data["expense"] = alternate(
                [(n, server.base, endpoints[n]) for n in ("expense_10", "expense_1")], half
            )
        if "relative" not in groups:
            return data
    # The audited view and its twin each on a server started for them, side
    # by side: the one that served the expense runs would carry their
    # aftermath into one side of the comparison only.
    data["quiesce_relative"] = common.quiesce(url, vacuum=False)
    with (
        Worker(url, queue),
        bh.Server(url, CELERY_QUEUE=queue) as audited,
        bh.Server(url, app="bench.noaudit_wsgi:application", CELERY_QUEUE=queue) as plain,
    ):
        for view in ("relative_balance", "relative_page"):
            spec = endpoints[view]
            if not spec["requests"]:
                continue
            for base in (audited.base, plain.base):  # warm both, untimed
                bh.run_wrk(base, f"{view}_warmup", spec, warmup, 0)
            data[view] = alternate(
                [(f"{view}_audited", audited.base, spec), (f"{view}_plain", plain.base, spec)],
                half,
            )
    return data


# --- the report ---------------------------------------------------------------


def verdicts(data: dict) -> list[tuple[str, str, str, bool | None]]:
    rows = []
    bare = data["bare"]["rps"]
    if "expense" not in data:
        rows += [
            ("expense submission, 10 institutions", TARGETS["expense_10"], "not measured", None),
            ("expense submission, 1 institution", TARGETS["expense_1"], "not measured", None),
        ]
    else:
        rows += _expense_verdicts(data, bare)
    rows += _audit_verdicts(data)
    return rows


def _expense_verdicts(data: dict, bare: float) -> list:
    rows = []
    ten = data["expense"]["expense_10"]
    one = data["expense"]["expense_1"]
    r10 = bh.ratio(mean_rps(ten), bare)
    rows.append(
        (
            "expense submission, 10 institutions",
            TARGETS["expense_10"],
            f"{r10:.3f} x bare ({mean_rps(ten):.1f} vs {bare:.1f} req/s), "
            f"p95 up to {worst_p95(ten):.0f} ms",
            r10 >= 0.2,
        )
    )
    r1 = bh.ratio(mean_rps(ten), mean_rps(one))
    rows.append(
        (
            "expense submission, 1 institution",
            TARGETS["expense_1"],
            f"10 institutions {r1:.2f} x one ({mean_rps(one):.1f} req/s at one, "
            f"{bh.ratio(mean_rps(one), bare):.3f} x bare), p95 up to {worst_p95(one):.0f} ms",
            r1 <= 1.5,
        )
    )
    return rows


def _audit_verdicts(data: dict) -> list:
    rows = []
    for view, label in (
        ("relative_balance", "audited relative view (balance API)"),
        ("relative_page", "audited relative view (member page)"),
    ):
        runs = data.get(view)
        if not runs:
            rows.append((label, TARGETS[view], "not measured", None))
            continue
        audited, plain = runs[f"{view}_audited"], runs[f"{view}_plain"]
        rr = bh.ratio(mean_rps(audited), mean_rps(plain))
        failed = errors(audited) + errors(plain)
        measured = (
            f"{rr:.2f} x ({mean_rps(audited):.1f} vs {mean_rps(plain):.1f} req/s; "
            f"p95 {worst_p95(audited):.0f} vs {worst_p95(plain):.0f} ms)"
        )
        if failed:  # answers other than the expected status: not the view measured
            measured += f"; {failed:,} unexpected answers, so not a measurement of the view"
        rows.append((label, TARGETS[view], measured, rr >= 0.8 and not failed))
    return rows


def markdown(data: dict) -> str:
    m = data["machine"]
    marker = data["dataset"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, PostgreSQL {m['postgresql']}; "
        f"run {data['date']}. Server, database, Celery worker and load generator share it.",
        "",
        f"Dataset: {int(marker.get('persons', 0)):,} persons ({marker.get('counts', '?')}). "
        f"gunicorn {bh.WORKERS} sync workers, wrk {bh.CONNECTIONS} connections; alternating "
        f"runs of {data['half']} s ({ROUNDS} of each), bare view {data['seconds']} s.",
        "",
        "Before the load (untimed, `bench.common.quiesce`): "
        f"{data.get('quiesced', 'nothing')}; before the audited views' runs: "
        f"{data.get('quiesce_relative', 'nothing')}.",
        "",
        "| endpoint | req/s per run | mean | p95 ms (worst) | errors |",
        "|---|---|---:|---:|---:|",
        f"| bare | {data['bare']['rps']:.1f} | {data['bare']['rps']:.1f} | "
        f"{data['bare']['p95_ms']:.1f} | {data['bare']['errors']} |",
    ]
    groups = [data[g] for g in ("expense", "relative_balance", "relative_page") if g in data]
    for group in groups:
        for label, results in group.items():
            figures = ", ".join(f"{r['rps']:.1f}" for r in results)
            lines.append(
                f"| {label} | {figures} | {mean_rps(results):.1f} | {worst_p95(results):.1f} | "
                f"{errors(results)} |"
            )
    c = data["check"]
    lines += [
        "",
        f"Afterwards: {c['audit_events']:,} audit events, {c['sealed_after_run']:,} of them "
        f"still unsealed at the end (sealed in {c['seal_after_run_s']} s), chain problems: "
        f"{c['audit_problems'] or 'none'}; {c['deltas_folded']:,} ledger deltas folded in "
        f"{c['fold_s']} s; ledger clean: {c['ledger_clean']}.",
        "",
        "### Targets (issue 16)",
        "",
        "| what | target | measured | met |",
        "|---|---|---|---|",
    ]
    for what, target, measured, met in verdicts(data):
        mark = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {what} | {target} | {measured} | {mark} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", 15)))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--persons", type=int, default=int(os.environ.get("BENCH_PERSONS", dataset.FULL_PERSONS))
    )
    parser.add_argument(
        "--only", choices=("expense", "relative"), help="measure one group of rows only"
    )
    parser.add_argument("--plan", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.plan or args.check:
        common.setup_django(args.url)
        print(json.dumps(plan() if args.plan else check()))
        return 0

    bh.ensure_wrk()
    # Stopped from outside: still stop the servers and the worker it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    common.OUT_DIR.mkdir(exist_ok=True)
    url = common.bench_url()
    subprocess.run(
        [
            bh.PYTHON,
            str(common.BENCH_DIR / "dataset.py"),
            "--persons",
            str(args.persons),
            "--url",
            url,
        ],
        env=common.server_env(url),
        check=True,
        stdout=sys.stderr,
    )
    print(f"walls: load on {common.db_name(url)}", file=sys.stderr, flush=True)
    endpoints = in_subprocess(url, "plan")
    groups = (args.only,) if args.only else ("expense", "relative")
    quiesced = common.quiesce(url)
    data = measure(url, endpoints, args.duration, args.warmup, groups)
    data.update(
        quiesced=quiesced,
        machine=common.machine_description(url),
        dataset=bh.read_marker(url),
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seconds=args.duration,
        half=max(args.duration // 2, 3),
        check=in_subprocess(url, "check"),
    )
    (common.OUT_DIR / "walls.json").write_text(json.dumps(data, indent=2))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
