"""The issue-16 read-path verdicts of bench_http: ratios to the bare view of
the same run and a p95 bound, each miss said by how much."""

from bench import bench_http


def _r(rps, p95):
    return {"rps": rps, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 1.5, "errors": 0}


def test_read_verdicts_give_each_target_its_ratio_bound_and_miss():
    big = {
        "bare": _r(1000, 10),
        "signed_in": _r(600, 20),
        "records_page_1": _r(250, 99),
        "records_page_1000": _r(100, 150),
        "dashboard": _r(400, 60),
        "balance": _r(499, 20),
    }

    rows = bench_http.read_verdicts(big)

    assert [(what, measured, met) for what, _t, measured, met in rows] == [
        ("signed-in floor", "0.60 x bare, p95 20.0 ms", None),
        ("payment record page 1", "0.25 x bare, p95 99.0 ms", True),
        (
            "payment record page 1,000",
            "0.10 x bare, p95 150.0 ms (missed by 2.5 x on throughput, 1.5 x on p95)",
            False,
        ),
        ("dashboard", "0.40 x bare, p95 60.0 ms (missed by 1.0 x on p95)", False),
        ("balance API", "0.50 x bare, p95 20.0 ms (missed by 1.0 x on throughput)", False),
    ]
    assert "### Read-path targets (issue 16)" in bench_http.read_markdown(big)


def test_a_read_path_not_measured_has_no_verdict():
    rows = bench_http.read_verdicts({"bare": _r(1000, 10)})
    assert {what: met for what, _t, _m, met in rows} == {
        "payment record page 1": None,
        "payment record page 1,000": None,
        "dashboard": None,
        "balance API": None,
    }
