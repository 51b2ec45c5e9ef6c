"""`make run` works with no servers: SQLite under var/ and in-process tasks.

The rest of the suite runs on PostgreSQL; this runs the demo path of the
embedded default in a subprocess, so PostgreSQL-only SQL in a seed or service
is caught before a newcomer meets it.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_migrate_seed_demo_and_verify_ledger_on_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PORTAL_VAR_DIR=str(tmp_path), DEBUG="true")

    for args in (["migrate", "--noinput"], ["seed_demo"], ["seed_demo"], ["verify_ledger"]):
        result = _manage(*args, env=env)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"

    assert (tmp_path / "portal.sqlite3").exists()
    assert "ledger consistent" in result.stdout

    # A demo member's dashboard and balance, through the plain-SQL reads.
    shown = _manage("shell", "-c", _SIGNED_IN_PAGES, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = dict(
        line.split(" ", 2)[1:] for line in shown.stdout.splitlines() if line.startswith("SHOWN ")
    )
    assert lines["dashboard"].startswith("200 ")
    assert lines["balance"] == "200"
    assert lines["dashboard"].split(" ", 1)[1] == "contributions,expenses"
    # The payment record page's plain-SQL rows (expenses with their parts).
    assert lines["records"] == "200 contribution-row,expense,parts"


_SIGNED_IN_PAGES = """
from django.test import Client
from members.models import InsuredPerson
p = InsuredPerson.objects.filter(user__isnull=False, insurance_type="employee").first()
c = Client(HTTP_HOST="127.0.0.1")
c.force_login(p.user)
page = c.get("/")
body = page.content.decode()
seen = [s for s in ("contributions", "expenses") if f'data-testid="latest-{s}"' in body]
print("SHOWN dashboard", page.status_code, ",".join(seen))
print("SHOWN balance", c.get("/api/v1/accounts/balance/").status_code)
q = InsuredPerson.objects.filter(user__isnull=False, expenses__parts__isnull=False).first()
c.force_login(q.user)
page = c.get("/dashboard/records/")
body = page.content.decode()
marks = {
    "contribution-row": 'data-testid="contribution-row"',
    "expense": 'data-testid="expense"',
    "parts": "<thead><tr><th scope=\\"col\\">",
}
found = [name for name, mark in marks.items() if mark in body]
print("SHOWN records", page.status_code, ",".join(found))
"""
