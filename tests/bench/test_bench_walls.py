"""The verdicts of bench/bench_walls.py (issue 16's expense and audit rows),
on made-up figures. (The benchmark itself is `make bench`.)"""

from __future__ import annotations

from bench import bench_walls


def _r(rps, p95=10.0):
    return {"rps": rps, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 1.5, "errors": 0}


def _data(ten, one, audited, plain):
    return {
        "bare": _r(1000),
        "expense": {"expense_10": [_r(x) for x in ten], "expense_1": [_r(x) for x in one]},
        "relative_balance": {
            "relative_balance_audited": [_r(x) for x in audited],
            "relative_balance_plain": [_r(x) for x in plain],
        },
    }


def test_the_walls_verdicts():
    rows = bench_walls.verdicts(_data([210, 230], [200, 180], [400, 420], [500, 500]))

    assert [(what, met) for what, _t, _m, met in rows] == [
        ("expense submission, 10 institutions", True),  # 0.22 x bare
        ("expense submission, 1 institution", True),  # ten 1.16 x one
        ("audited relative view (balance API)", True),  # 0.82 x
        ("audited relative view (member page)", None),  # not measured
    ]
    assert rows[0][2].startswith("0.220 x bare")
    assert rows[1][2].startswith("10 institutions 1.16 x one")


def test_a_serialised_institution_and_a_costly_audit_miss():
    rows = bench_walls.verdicts(_data([300, 300], [100, 150], [300, 300], [500, 500]))

    assert [met for _w, _t, _m, met in rows[:3]] == [True, False, False]
    assert rows[1][2].startswith("10 institutions 2.40 x one")
    assert rows[2][2].startswith("0.60 x")


def test_a_view_answering_the_wrong_status_is_no_measurement():
    # The member page once answered a redirect: fast, and no view at all.
    data = _data([300, 300], [300, 300], [500, 500], [500, 500])
    data["relative_balance"]["relative_balance_audited"][0]["errors"] = 21970
    row = bench_walls.verdicts(data)[2]
    assert row[3] is False
    assert "21,970 unexpected answers" in row[2]


def test_the_no_audit_server_boots_and_switches_off_only_the_access_audit():
    # bench_walls serves the audited view's twin from bench/noaudit_wsgi.py; a
    # stale import there stops the whole benchmark. In a child process: the
    # switch must never reach this test session.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import bench.noaudit_wsgi, access.lookups, audit.services;"
        "assert access.lookups.audit_record is not audit.services.audit_record;"
        "assert access.lookups.audit_record(actor=None) is None;"
        "assert access.lookups.audit_record_many(actor=None, actions=[]) == []"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
