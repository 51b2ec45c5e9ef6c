"""`make serve-prod`: gunicorn with deploy/gunicorn.conf.py, DEBUG off,
whitenoise serving collected static files, on the test database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def fetch(url: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http only)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def served(transactional_db, tmp_path):
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        STATIC_ROOT=str(tmp_path / "static"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"),
        VENV=str(VENV),
        DEBUG="true",  # serve-prod must turn it off whatever the caller says
    )
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen(
        [str(ROOT / "scripts/serve-prod")],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve-prod exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"serve-prod not listening after 90 s:\n{log.read_text()}")
    yield base, log
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=40)


def test_serve_prod_serves_a_page_static_files_and_healthz(served):
    base, log = served

    page = fetch(f"{base}/accounts/login/")
    static = fetch(f"{base}/static/js/dashboard-ecert.js")
    health = fetch(f"{base}/healthz")
    missing = fetch(f"{base}/no-such-page/110105198503150115?id=110105198503150115")

    assert page[0] == 200
    assert b"<form" in page[2]
    assert static[0] == 200
    assert static[2] == (ROOT / "static/js/dashboard-ecert.js").read_bytes()
    assert health[0] == 200
    # DEBUG off: a missing page is the plain 404, not Django's debug page.
    assert missing[0] == 404
    assert b"URLconf" not in missing[2]

    # Metrics in multiprocess mode: the workers' counters added up.
    for _ in range(4):
        fetch(f"{base}/healthz")
    metrics = fetch(f"{base}/metrics")
    assert metrics[0] == 200
    text = metrics[2].decode()
    assert 'portal_http_requests_total{method="GET",status="200",view="healthz"} 5.0' in text
    assert 'portal_settlement_work_pending{kind="expense"} 0.0' in text
    refused = fetch(f"{base}/metrics", {"X-Forwarded-For": "203.0.113.9"})
    assert refused[0] == 403

    # The access log: JSON lines with the path only and the request id.
    time.sleep(0.5)
    access = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and '"event": "access"' in line
    ]
    by_path = {line["path"]: line for line in access}
    assert by_path["/healthz"]["status"] == 200
    healthz_ids = [line["request_id"] for line in access if line["path"] == "/healthz"]
    assert health[1]["X-Request-ID"] in healthz_ids
    assert len(healthz_ids) == 5
    assert "/no-such-page/[id-number]" in by_path
    assert "110105198503150115" not in log.read_text()
