"""The benchmark tooling on tiny data: the dataset builder, sign-in sessions for
the load tool, the bare view switch and the verdicts. (The benchmark itself is
`make bench`, never part of the test suite.)"""

from __future__ import annotations

import importlib
import json
import os

import pytest
from django.db import connection
from django.test import Client
from django.urls import clear_url_caches

from accounts.models import AccountKind, LedgerAccount
from bench import bench_http, dataset
from claims.models import Expense, ExpensePart
from members.idnumber import parse_id_number
from members.models import InsuredPerson
from members.selectors import person_by_id_number
from payments.models import Contribution

PERSONS = 100


@pytest.fixture(autouse=True)
def _forget_dataset_marker(request):
    """The builder's marker tables are not Django's: the flush between tests
    leaves them, so drop them, or the next build would think it is done."""
    yield
    if "django_db" in {m.name for m in request.node.iter_markers()}:
        from django.db import connections

        with connections["default"].cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_dataset, bench_dropped_index")


def _url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def test_identity_numbers_are_valid_unique_and_spread_over_ages():
    numbers = [dataset.id_number_for(pid) for pid in range(1, 5001)]
    parsed = [parse_id_number(n) for n in numbers]  # raises on any invalid number
    assert len(set(numbers)) == 5000
    years = {p.birth_date.year for p in parsed}
    assert min(years) == 1940 and max(years) == 2019
    assert {p.sex for p in parsed} == {"M", "F"}


@pytest.mark.django_db(transaction=True)
def test_dataset_of_100_persons_is_consistent_and_reused():
    # when
    marker = dataset.build(
        _url(), PERSONS, long_records=2, long_record_rows=120, log=lambda m: None
    )

    # then: every person, with a user, findable by identity number
    assert marker["complete"] == "yes"
    assert marker["verify_ledger"] == "clean: ledger consistent"
    assert InsuredPerson.objects.count() == PERSONS
    assert InsuredPerson.objects.filter(user__isnull=False).count() == PERSONS
    assert person_by_id_number(dataset.id_number_for(37)).pk == 37
    # pockets: current-year = this year's credits less what this year's expenses
    # took from it; prior-years = every earlier year's credits less the same
    employees = InsuredPerson.objects.filter(insurance_type="employee")
    assert employees.count() > 10
    assert Expense.objects.filter(patient__in=employees, account_fen__gt=0).exists()
    for person in employees:
        paid = Contribution.objects.filter(person=person, status="paid")
        this_year = sum(c.credited_fen for c in paid if c.period.year == dataset.LAST_YEAR)
        earlier = sum(c.credited_fen for c in paid if c.period.year < dataset.LAST_YEAR)
        parts = ExpensePart.objects.filter(expense__patient=person)
        spent_current = sum(p.amount_fen for p in parts if p.payer == "current")
        spent_prior = sum(p.amount_fen for p in parts if p.payer == "prior")
        pockets = dict(
            LedgerAccount.objects.filter(person=person).values_list("kind", "balance_fen")
        )
        assert pockets == {
            AccountKind.MEMBER_CURRENT: this_year - spent_current,
            AccountKind.MEMBER_PRIOR: earlier - spent_prior,
        }
    # every expense's split adds up and its account part is in the ledger
    for expense in Expense.objects.all():
        assert expense.total_fen == sum(ln.amount_fen for ln in expense.lines.all())
        assert (expense.ledger_txn_id is not None) == (expense.account_fen > 0)
        # queued for settlement, as expense_submit leaves it
        work = expense.settlement_work
        assert (work.kind, work.institution_id, work.fund_fen) == (
            "expense",
            expense.institution_id,
            expense.fund_fen,
        )
    for person in InsuredPerson.objects.filter(insurance_type="resident"):
        assert not LedgerAccount.objects.filter(person=person).exists()
        assert not Contribution.objects.filter(person=person).exists()
    # the long-record members have 120 rows each
    with connection.cursor() as cur:
        long_pids = dataset.long_record_pids(cur)
        cur.execute("SELECT count(*) FROM bench_dropped_index")
        assert cur.fetchone()[0] == 0  # every dropped index was rebuilt
        cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'contrib_person_period'")
        assert cur.fetchone()[0] == 1
    assert len(long_pids) == 2
    for pid in long_pids:
        assert Contribution.objects.filter(person_id=pid).count() == 120

    # when: built again, it is reused, nothing is added
    rows = Contribution.objects.count()
    again = dataset.build(_url(), PERSONS, long_records=2, long_record_rows=120, log=lambda m: None)
    assert again["built_at"] == marker["built_at"]
    assert Contribution.objects.count() == rows


@pytest.mark.django_db(transaction=True)
def test_sessions_for_the_load_tool_are_signed_in_members():
    # given
    dataset.build(_url(), 40, long_records=0, long_record_rows=60, log=lambda m: None)
    pids = bench_http.spread_employees(3)
    assert len(pids) == 3

    # when
    keys = bench_http.member_sessions(pids)

    # then: each cookie signs in its own member, without the login form
    for pid in pids:
        client = Client()
        client.cookies["sessionid"] = keys[pid]
        response = client.get("/api/v1/accounts/balance/")
        assert response.status_code == 200
        assert response.json()["person_id"] == pid
    assert len(set(keys.values())) == 3


@pytest.mark.django_db
def test_bench_views_exist_only_with_bench_endpoints(client_for, alice, monkeypatch, settings):
    import portal.urls

    client = client_for(alice)
    assert client.get("/bench/bare").status_code == 404
    assert client.get("/bench/signed-in").status_code == 404
    monkeypatch.setenv("BENCH_ENDPOINTS", "true")
    try:
        importlib.reload(portal.urls)
        clear_url_caches()
        response = client.get("/bench/bare")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        response = client.get("/bench/signed-in")
        assert response.json() == {"status": "ok", "signed_in": True}
    finally:
        monkeypatch.delenv("BENCH_ENDPOINTS")
        importlib.reload(portal.urls)
        clear_url_caches()
    assert client.get("/bench/bare").status_code == 404


def _r(rps, p95):
    return {"rps": rps, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 1.5, "errors": 0}


def test_scale_verdicts_compare_page_1000_to_page_one_and_the_two_sizes():
    big = {
        "bare": _r(1000, 10),
        "dashboard": _r(400, 60),
        "balance": _r(600, 20),
        "records_page_1": _r(300, 30),
        "records_page_1000": _r(250, 35),
    }
    small = {"bare": _r(1000, 10), "dashboard": _r(420, 55)}

    rows = bench_http.verdicts(big, small)

    assert [(what, measured, met) for what, _t, measured, met in rows] == [
        ("payment record page 1,000", "0.83 x page 1 (p95 35.0 vs 30.0 ms)", True),
        ("dashboard at 1,000,000 vs 10,000 persons", "0.95 x (p95 60.0 vs 55.0 ms)", True),
    ]
    assert rows[1][1] == "the 1,000,000-person dashboard within 10% of the 10,000-person one"
    at_100k = bench_http.verdicts(big, small, 100_000, 10_000)[1]
    assert at_100k[0] == "dashboard at 100,000 vs 10,000 persons"
    assert at_100k[1].startswith("the 100,000-person dashboard")


def test_the_scale_verdict_uses_the_alternating_runs_when_there_are_some():
    """The single runs of each size are minutes apart; the alternating runs
    decide: a big size slower on average by more than 10% is a miss, even
    where its single run looked faster."""
    big = {"bare": _r(1000, 10), "dashboard": _r(500, 60)}
    small = {"bare": _r(1000, 10), "dashboard": _r(400, 55)}
    grew = bench_http.verdicts(big, small, scale={"big": [400, 420], "small": [480, 470]})[-1]
    assert grew[2].startswith("0.86 x (2 alternating runs") and grew[3] is False
    same = bench_http.verdicts(big, small, scale={"big": [470, 450], "small": [480, 460]})[-1]
    assert same[2].startswith("0.98 x (2 alternating runs") and same[3] is True


def test_request_lists_become_lua_tables():
    assert (
        bench_http.lua_value(
            [{"path": "/a?b=1", "headers": {"Cookie": 'x="1"'}, "body": None, "n": 2}]
        )
        == '{{["path"]="/a?b=1",["headers"]={["Cookie"]="x=\\"1\\""},["body"]=nil,["n"]=2}}'
    )
    assert json.loads(bench_http.lua_value("病历")) == "病历"


@pytest.mark.django_db(transaction=True)
def test_the_import_bench_prints_its_reference_and_verdict(monkeypatch, capsys, settings, tmp_path):
    """bench/bench_import.py on 24 rows against the test database: the import,
    the reference COPY into copies with the same triggers, and the verdict."""
    from bench import bench_import
    from payments.models import PolicyYear
    from payments.policy_data import CAP, DEMO_POLICIES, FLOOR

    # a transactional test's flush drops the migration's policies
    employer, individual, credit, retiree, wages = DEMO_POLICIES["110100"]
    PolicyYear.objects.get_or_create(
        region="110100",
        year=2025,
        defaults={
            "employer_rate": employer,
            "individual_rate": individual,
            "credit_rate": credit,
            "retiree_monthly_credit_fen": retiree,
            "average_wage_fen": wages[2025],
            "base_floor_ratio": FLOOR,
            "base_cap_ratio": CAP,
        },
    )
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    # setup_django points the environment at the bench database (and sets
    # LOG_LEVEL=WARNING, which once silenced every Celery worker the later
    # tests start, so none ever said "ready"): all of it is put back after.
    environment = dict(os.environ)
    monkeypatch.setattr(bench_import, "URL", _url())
    monkeypatch.setattr(bench_import, "ROWS", 24)
    monkeypatch.setattr(bench_import, "REFERENCE_RUNS", 1)
    try:
        bench_import.main()
    finally:
        os.environ.clear()
        os.environ.update(environment)
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_plain_copy")
            bench_import.drop_reference_tables(cur)

    out = capsys.readouterr().out
    assert "| import + credit (contributions_import) |" in out
    assert "reference: plain COPY of every row the import wrote (120: 24 contributions, " in out
    assert "accounts_posting.accounts_posting_apply" in out
    assert "x the time of a plain COPY of the file" in out
    assert "| what | target | measured | met |" in out
    assert "| contributions import | at least 1/4 of the rate of a plain COPY" in out


@pytest.mark.django_db
def test_the_import_bench_loads_again_persons_kept_under_another_key(settings):
    """A fresh clone makes its own hash key: the persons an earlier checkout
    kept in the import bench's database would find nobody under it."""
    from bench import bench_import

    with connection.cursor() as cur:
        bench_import.load_persons(cur, 3)
    kept = set(InsuredPerson.objects.values_list("pk", flat=True))
    with connection.cursor() as cur:
        bench_import.load_persons(cur, 3)  # the same key: kept as they are
    assert set(InsuredPerson.objects.values_list("pk", flat=True)) == kept

    settings.ID_NUMBER_HASH_KEYS = ["the key of another checkout"]
    assert person_by_id_number(bench_import.id_number(2)) is None
    with connection.cursor() as cur:
        bench_import.load_persons(cur, 3)

    assert InsuredPerson.objects.filter(name__startswith="bench ").count() == 3
    assert not kept & set(InsuredPerson.objects.values_list("pk", flat=True))
    assert person_by_id_number(bench_import.id_number(2)).name == "bench 2"


def test_the_import_verdict_compares_times():
    from bench.bench_import import import_verdict

    assert (
        import_verdict(8.0, 2.0)
        .splitlines()[2]
        .endswith("| 1/4.0 (0.25 x the reference's rate) | yes |")
    )
    assert import_verdict(8.1, 2.0).splitlines()[2].endswith("| **no** |")


@pytest.mark.django_db
def test_quiesce_vacuums_and_checkpoints_the_bench_database_before_a_load():
    from bench import common

    def last_vacuum():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute(
                "SELECT last_vacuum FROM pg_stat_user_tables"
                " WHERE relname = 'members_insuredperson'"
            )
            return cur.fetchone()[0]

    def checkpoints():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT checkpoints_req FROM pg_stat_bgwriter")
            return cur.fetchone()[0]

    before, asked = last_vacuum(), checkpoints()
    done = common.quiesce(_url())
    assert done.startswith("VACUUM, CHECKPOINT (")
    after = last_vacuum()
    assert after is not None and (before is None or after > before)
    assert checkpoints() > asked

    # Between two loads of one run: a checkpoint only.
    assert common.quiesce(_url(), vacuum=False).startswith("CHECKPOINT (")
    assert last_vacuum() == after
