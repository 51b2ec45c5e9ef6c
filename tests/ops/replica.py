"""A real streaming replica of the test server, for tests/ops/test_replica.py.

A second PostgreSQL 15 cluster on a free port, made with ``pg_basebackup -R``
from the server the tests run on, started with ``pg_ctl`` as the ``postgres``
system user. The primary must accept replication connections from
127.0.0.1: if its pg_hba.conf has no such rule, ``allow_replication`` appends
``host replication all 127.0.0.1/32 trust`` and reloads (idempotent: it looks
at ``pg_hba_file_rules`` first). That needs a superuser connection and a
writable pg_hba.conf (root on a fresh CI machine); otherwise the tests are
skipped, saying why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from django.db import connection

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
HBA_LINE = "host replication all 127.0.0.1/32 trust"


class ReplicaUnavailable(Exception):
    pass


def allow_replication() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)"
            " AND (type = 'local' OR address = '127.0.0.1') AND auth_method = 'trust'"
        )
        if cursor.fetchone()[0]:
            return
        cursor.execute("SHOW hba_file")
        hba = Path(cursor.fetchone()[0])
        try:
            text = hba.read_text()
            if HBA_LINE not in text:
                hba.write_text(
                    text.rstrip("\n") + f"\n# added by the portal's replica tests\n{HBA_LINE}\n"
                )
        except OSError as exc:
            raise ReplicaUnavailable(f"cannot add a replication rule to {hba}: {exc}") from exc
        cursor.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


class Replica:
    def __init__(self):
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="portal-replica-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "replica.log"

    def start(self) -> None:
        if not (PG_BIN / "pg_basebackup").exists():
            raise ReplicaUnavailable(f"no PostgreSQL binaries under {PG_BIN}")
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ReplicaUnavailable("no postgres system user") from exc
        if os.geteuid() == 0:
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        allow_replication()
        db = connection.settings_dict
        # A standby needs these at least as high as on its primary.
        mirrored = []
        with connection.cursor() as cursor:
            for name in (
                "max_connections",
                "max_worker_processes",
                "max_wal_senders",
                "max_prepared_transactions",
                "max_locks_per_transaction",
            ):
                cursor.execute(f"SHOW {name}")
                mirrored.append(f"{name} = {cursor.fetchone()[0]}\n")
        backup = _as_postgres(
            [
                str(PG_BIN / "pg_basebackup"),
                "-h", db["HOST"] or "127.0.0.1",
                "-p", str(db["PORT"] or 5432),
                "-U", db["USER"] or "postgres",
                "-D", str(self.data),
                "-R", "-X", "stream", "-c", "fast",
            ]
        )  # fmt: skip
        if backup.returncode:
            raise ReplicaUnavailable(f"pg_basebackup failed: {backup.stderr}")
        # Debian keeps the configuration under /etc: give the copy its own.
        (self.data / "postgresql.conf").write_text(
            f"port = {self.port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\n"
            "hot_standby = on\n"
            "shared_buffers = 32MB\n"
            "fsync = off\n" + "".join(mirrored)
        )
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        (self.data / "pg_ident.conf").write_text("")
        if os.geteuid() == 0:
            for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
                os.chown(self.data / name, pg.pw_uid, pg.pw_gid)
        started = _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start"]
        )
        if started.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise ReplicaUnavailable(f"replica did not start: {started.stderr}\n{log}")

    def stop(self) -> None:
        if self.data.exists():
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)
