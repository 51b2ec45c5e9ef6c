"""scripts/backup-verify: dump, restore into a new database, and prove the
restored ledger and audit trail; a tampered backup fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.selectors import ledger_offenders
from audit.models import AuditEvent
from payments.services import contributions_import
from tests.claims.conftest import fund
from tests.payments.helpers import csv_bytes

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def _url(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _run(*args, database_url):
    env = dict(os.environ, DATABASE_URL=database_url, VENV=str(VENV))
    return subprocess.run(
        [str(ROOT / "scripts/backup-verify"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _psql(database_url, sql):
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", database_url, "-c", sql], check=True
    )


@pytest.fixture
def live_data(transactional_db, alice, charlie):
    """Committed ledger rows and audit events, and an anchor file."""
    fund(alice, current=50000, prior=20000)
    contributions_import(
        data=csv_bytes(
            f"{alice.id_number},2025-01,8000,784.00,160.00,employer,2025-01-15,paid",
            f"{charlie.id_number},2025-01,5000,450,150,individual,2025-01-20,paid",
        ),
        file_name="jan.csv",
    )
    assert ledger_offenders().clean
    assert AuditEvent.objects.count() >= 1


def test_backup_verify_passes_on_a_sound_backup_and_fails_on_a_tampered_one(live_data, tmp_path):
    # given: the anchor the operator keeps outside the database
    anchors = tmp_path / "audit-anchors.txt"
    call_command("verify_audit", anchor_file=anchors)
    anchors_before = anchors.read_text()
    source = _url(connection.settings_dict["NAME"])

    # when: a sound backup
    good = _run(
        "--anchor-file",
        str(anchors),
        "--keep-dump",
        str(tmp_path / "good.dump"),
        database_url=source,
    )

    # then
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ledger consistent" in good.stdout
    assert "audit trail intact" in good.stdout
    assert "backup-verify: OK" in good.stdout
    assert anchors.read_text() == anchors_before  # the operator's file is left as it was
    scratch = _scratch_databases()
    assert scratch == []  # dropped after the check

    # when: the backup was tampered with (an audit event rewritten, a balance changed)
    corrupt = f"{connection.settings_dict['NAME']}_corrupt"
    admin = _url("postgres")
    _psql(admin, f'DROP DATABASE IF EXISTS "{corrupt}"')
    _psql(admin, f'CREATE DATABASE "{corrupt}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "-d", _url(corrupt), str(tmp_path / "good.dump")],
            check=True,
        )
        _psql(
            _url(corrupt),
            "SET session_replication_role = replica;"
            " UPDATE audit_auditevent SET detail = '{\"tampered\": true}'"
            " WHERE id = (SELECT min(id) FROM audit_auditevent);"
            " UPDATE accounts_ledgeraccount SET balance_fen = balance_fen + 1"
            " WHERE id = (SELECT min(id) FROM accounts_ledgeraccount WHERE balance_fen > 0);",
        )
        subprocess.run(
            ["pg_dump", "-Fc", "-d", _url(corrupt), "-f", str(tmp_path / "bad.dump")], check=True
        )
    finally:
        _psql(admin, f'DROP DATABASE IF EXISTS "{corrupt}" WITH (FORCE)')
    bad = _run(
        "--from-dump",
        str(tmp_path / "bad.dump"),
        "--anchor-file",
        str(anchors),
        database_url=source,
    )

    # then
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "audit trail broken" in bad.stderr
    assert "ledger NOT consistent: 1 account(s)" in bad.stderr
    assert "backup-verify: FAILED" in bad.stderr
    assert _scratch_databases() == []


def _scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'portal_verify_%%'")
        return [row[0] for row in cursor.fetchall()]
