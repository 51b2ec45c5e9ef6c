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
from django.utils import timezone

from accounts.models import (
    AccountKind,
    JournalTransaction,
    LedgerAccount,
    Rollover,
    YearEndClosing,
)
from accounts.selectors import (
    Balances,
    account_balances_fen,
    ledger_offenders,
    pocket_balances,
)
from accounts.services import (
    RolloverResult,
    institution_payable,
    ledger_post,
    member_pockets,
    rollover_year,
    system_account,
)
from portal.errors import ApplicationError
from tests.conftest import make_member

ROOT = Path(__file__).resolve().parents[2]


DEC_2025 = dt.date(2025, 6, 1)  # a day in 2025
JAN_2026 = dt.date(2026, 1, 15)  # a day in the new year, before a late rollover


def _credit(person, fen, key, on=DEC_2025):
    current, _prior = member_pockets(person)
    ledger_post(
        idempotency_key=key,
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (current, fen)],
        value_date=on,
    )


def _spend(person, fen, key, on=JAN_2026):
    current, _prior = member_pockets(person)
    ledger_post(
        idempotency_key=key,
        kind="test.spend",
        postings=[(current, -fen), (institution_payable(1), fen)],
        value_date=on,
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


def _markers(year):
    """{person id: (amount, as of 31 December, at the run, has a transaction)}"""
    return {
        r.person_id: (r.amount_fen, r.balance_as_of_fen, r.balance_at_run_fen, r.transaction_id)
        for r in Rollover.objects.filter(year=year)
    }


def _state():
    return (
        sorted(account_balances_fen(LedgerAccount.objects.values_list("pk", flat=True)).items()),
        JournalTransaction.objects.count(),
        Rollover.objects.count(),
    )


def test_rolling_twice_in_a_row_changes_nothing_the_second_time(alice, bob):
    _credit(alice, 12345, "a")
    _credit(bob, 500, "b")
    _credit_prior = ledger_post(
        idempotency_key="b-prior",
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -700), (member_pockets(bob)[1], 700)],
        value_date=dt.date(2024, 12, 1),
    )
    rollover_year(year=2024)  # 2024 had activity: it closes first

    first = rollover_year(year=2025, batch_size=1)
    _credit(alice, 99, "a-2026", on=timezone.localdate())  # new year's money stays current
    second = rollover_year(year=2025, batch_size=1)

    assert (first.members_rolled, first.fen_moved) == (2, 12845)
    assert (second.members_rolled, second.fen_moved) == (0, 0)
    assert pocket_balances(alice) == Balances(current_fen=99, prior_fen=12345)
    assert pocket_balances(bob) == Balances(current_fen=0, prior_fen=1200)
    assert _rollover_keys(2025) == sorted([f"rollover:2025:{alice.pk}", f"rollover:2025:{bob.pk}"])
    assert set(
        JournalTransaction.objects.filter(kind="rollover").values_list("value_date", flat=True)
    ) == {dt.date(2025, 12, 31)}
    assert _credit_prior.pk
    assert ledger_offenders().clean


def test_a_late_rollover_and_a_rerun_leave_new_year_credits_in_the_current_pocket(alice, bob):
    # given 2025 money, and January 2026 credits posted before the late rollover
    _credit(alice, 10000, "a-2025")
    _credit(alice, 2500, "a-2026", on=JAN_2026)
    _credit(bob, 800, "b-2026", on=JAN_2026)

    late = rollover_year(year=2025)
    _credit(bob, 300, "b-2026-later", on=timezone.localdate())
    again = rollover_year(year=2025)

    assert (late.members_rolled, late.fen_moved) == (1, 10000)
    assert (again.members_rolled, again.fen_moved) == (0, 0)
    assert pocket_balances(alice) == Balances(current_fen=2500, prior_fen=10000)
    assert pocket_balances(bob) == Balances(current_fen=1100, prior_fen=0)
    txn = JournalTransaction.objects.get(idempotency_key=f"rollover:2025:{alice.pk}")
    assert txn.value_date == dt.date(2025, 12, 31)
    assert _markers(2025) == {
        alice.pk: (10000, 10000, 12500, txn.pk),
        bob.pk: (0, 0, 800, None),
    }
    assert ledger_offenders().clean


@pytest.mark.parametrize(
    ("credited_2026", "spent_2026", "moved", "left_current"),
    [
        (3000, 2000, 10000, 1000),  # spending within the new credits: all of 2025 moves
        (3000, 5000, 8000, 0),  # 2,000 over the new credits came out of 2025's money
        (0, 10000, 0, 0),  # all of 2025's money was spent in January
    ],
)
def test_new_year_spending_before_a_late_rollover_first_uses_new_year_credits(
    alice, credited_2026, spent_2026, moved, left_current
):
    # given 10,000 fen as of 31 December 2025, then January credits and spending
    _credit(alice, 10000, "a-2025")
    if credited_2026:
        _credit(alice, credited_2026, "a-2026", on=dt.date(2026, 1, 10))
    _spend(alice, spent_2026, "s-2026", on=dt.date(2026, 1, 20))

    result = rollover_year(year=2025)

    assert result.fen_moved == moved
    assert pocket_balances(alice) == Balances(current_fen=left_current, prior_fen=moved)
    assert _markers(2025)[alice.pk][:3] == (moved, 10000, 10000 + credited_2026 - spent_2026)
    assert ledger_offenders().clean


def test_a_member_with_nothing_to_move_gets_a_zero_record_and_later_runs_skip_them(
    alice, bob, django_assert_max_num_queries
):
    _credit(alice, 100, "a")
    member_pockets(bob)  # a pocket, nothing in it at the end of 2025

    result = rollover_year(year=2025)
    _credit(bob, 400, "b-2026", on=timezone.localdate())
    before = _state()
    with django_assert_max_num_queries(3):
        later = rollover_year(year=2025)

    assert result.members_rolled == 1
    assert later == RolloverResult(year=2025, members_rolled=0, fen_moved=0, batches=0)
    assert _rollover_keys(2025) == [f"rollover:2025:{alice.pk}"]
    assert _markers(2025)[bob.pk] == (0, 0, 0, None)
    assert _state() == before
    assert pocket_balances(bob) == Balances(current_fen=400, prior_fen=0)
    assert YearEndClosing.objects.get(year=2025).completed_at is not None


def test_a_year_is_refused_while_an_earlier_year_with_activity_is_not_closed(alice):
    _credit(alice, 700, "a-2024", on=dt.date(2024, 5, 1))
    _credit(alice, 300, "a-2025")
    before = _state()

    with pytest.raises(ApplicationError) as excinfo:
        rollover_year(year=2025)
    with pytest.raises(CommandError, match="roll over 2024 first"):
        call_command("rollover_year", "--year", "2025")

    assert excinfo.value.code == "earlier_year_open"
    assert "cannot be rolled over before 2024" in excinfo.value.message
    assert _state() == before
    assert not YearEndClosing.objects.filter(year=2025).exists()
    # then closing the years in order works
    assert rollover_year(year=2024).fen_moved == 700
    assert rollover_year(year=2025).fen_moved == 300
    assert pocket_balances(alice) == Balances(current_fen=0, prior_fen=1000)


def test_a_partly_done_earlier_year_is_not_closed(alice, bob):
    _credit(alice, 700, "a-2024", on=dt.date(2024, 5, 1))
    _credit(bob, 200, "b-2024", on=dt.date(2024, 5, 1))
    YearEndClosing.objects.create(year=2024)  # a run that was killed before it finished

    with pytest.raises(ApplicationError, match="roll over 2024 first"):
        rollover_year(year=2025)

    assert rollover_year(year=2024).fen_moved == 900
    assert rollover_year(year=2025).fen_moved == 0


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
    _credit(alice, 2500, "a", on=dt.date(2024, 3, 1))

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
    assert len(_markers(2025)) == 4
    assert [pocket_balances(p).prior_fen for p in people] == [1000, 2000, 3000, 4000, 0, 0, 0]
    # and new-year money arrives for a member done and one not yet done
    _credit(people[0], 55, "new-0", on=timezone.localdate())
    _credit(people[6], 66, "new-6", on=timezone.localdate())

    # then running it again finishes the rest, and a third run does nothing
    resumed = rollover_year(year=2025, batch_size=2)
    third = rollover_year(year=2025, batch_size=2)

    assert (resumed.members_rolled, resumed.fen_moved) == (3, 18000)
    assert third.members_rolled == 0
    assert _rollover_keys(2025) == sorted(f"rollover:2025:{p.pk}" for p in people)
    assert [pocket_balances(p) for p in people] == [
        Balances(current_fen={0: 55, 6: 66}.get(i, 0), prior_fen=1000 * (i + 1))
        for i, p in enumerate(people)
    ]
    assert sorted(m[0] for m in _markers(2025).values()) == [1000 * (i + 1) for i in range(7)]
    assert ledger_offenders().clean
