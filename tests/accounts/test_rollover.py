"""Year-end rollover: exactly once per member per year, resumable after a kill."""

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import AccountKind, JournalTransaction
from accounts.selectors import ledger_offenders, pocket_balances
from accounts.services import ledger_post, member_pockets, rollover_year, system_account
from portal.errors import ApplicationError
from tests.conftest import make_member

ROOT = Path(__file__).resolve().parents[2]


def _credit(person, fen, key):
    current, _prior = member_pockets(person)
    ledger_post(
        idempotency_key=key,
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (current, fen)],
    )


def _members(n):
    people = []
    for i in range(n):
        person = make_member(f"M{i}", birth=dt.date(1980, 1, 1 + i), seq=11 + 2 * i, signs_in=False)
        _credit(person, 1000 * (i + 1), f"credit-{i}")
        people.append(person)
    return people


def _rollover_keys(year):
    return list(
        JournalTransaction.objects.filter(idempotency_key__startswith=f"rollover:{year}:")
        .order_by("idempotency_key")
        .values_list("idempotency_key", flat=True)
    )


def test_rolling_twice_in_a_row_changes_nothing_the_second_time(alice, bob):
    _credit(alice, 12345, "a")
    _credit(bob, 500, "b")
    member_pockets(bob)[1]  # bob already has prior-years money from before
    _credit_prior = ledger_post(
        idempotency_key="b-prior",
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -700), (member_pockets(bob)[1], 700)],
    )

    first = rollover_year(year=2025, batch_size=1)
    _credit(alice, 99, "a-2026")  # new year's money stays current
    second = rollover_year(year=2025, batch_size=1)

    assert (first.members_rolled, first.fen_moved) == (2, 12845)
    assert (second.members_rolled, second.fen_moved) == (0, 0)
    assert pocket_balances(alice) == type(pocket_balances(alice))(current_fen=99, prior_fen=12345)
    assert pocket_balances(bob).current_fen == 0
    assert pocket_balances(bob).prior_fen == 1200
    assert _rollover_keys(2025) == sorted([f"rollover:2025:{alice.pk}", f"rollover:2025:{bob.pk}"])
    assert _credit_prior.pk
    assert ledger_offenders().clean


def test_a_member_with_nothing_to_move_gets_no_transaction(alice, bob):
    _credit(alice, 100, "a")
    member_pockets(bob)

    result = rollover_year(year=2025)

    assert result.members_rolled == 1
    assert _rollover_keys(2025) == [f"rollover:2025:{alice.pk}"]


def test_a_year_that_is_not_over_is_refused(alice):
    _credit(alice, 100, "a")
    this_year = dt.date.today().year

    with pytest.raises(ApplicationError) as excinfo:
        rollover_year(year=this_year)
    with pytest.raises(CommandError, match="not over yet"):
        call_command("rollover_year", "--year", str(this_year))

    assert excinfo.value.code == "year_not_over"
    assert pocket_balances(alice).current_fen == 100
    assert _rollover_keys(this_year) == []


def test_the_command_rolls_and_reports(alice, capsys):
    _credit(alice, 2500, "a")

    call_command("rollover_year", "--year", "2024")

    assert "1 member(s) rolled, 25.00 yuan moved" in capsys.readouterr().out
    assert pocket_balances(alice).prior_fen == 2500


def test_beat_runs_the_rollover_task_on_1_january_shanghai_time():
    entry = settings.CELERY_BEAT_SCHEDULE["year-end-rollover"]

    assert entry["task"] == "accounts.tasks.rollover_year_task"
    schedule = entry["schedule"]
    assert (schedule.month_of_year, schedule.day_of_month) == ({1}, {1})
    assert (schedule.hour, schedule.minute) == ({0}, {5})
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


def _env_for_test_database():
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env["PYTHONUNBUFFERED"] = "1"
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


@pytest.mark.django_db(transaction=True)
def test_a_rollover_killed_midway_resumes_and_rolls_each_member_exactly_once():
    # given 7 members with 1,000..7,000 fen of current-year money
    people = _members(7)
    # when a real rollover process is SIGKILLed after its second batch of two
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "rollover_year",
            "--year",
            "2025",
            "--batch-size",
            "2",
            "--pause",
            "5",
            "-v",
            "2",
        ],
        cwd=ROOT,
        env=_env_for_test_database(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "batch 2 committed" in line:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert len(_rollover_keys(2025)) == 4
    assert [pocket_balances(p).prior_fen for p in people] == [1000, 2000, 3000, 4000, 0, 0, 0]

    # then running it again finishes the rest, and a third run does nothing
    resumed = rollover_year(year=2025, batch_size=2)
    third = rollover_year(year=2025, batch_size=2)

    assert (resumed.members_rolled, resumed.fen_moved) == (3, 18000)
    assert third.members_rolled == 0
    assert _rollover_keys(2025) == sorted(f"rollover:2025:{p.pk}" for p in people)
    assert [pocket_balances(p) for p in people] == [
        type(pocket_balances(p))(current_fen=0, prior_fen=1000 * (i + 1))
        for i, p in enumerate(people)
    ]
    assert ledger_offenders().clean
