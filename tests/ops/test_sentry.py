"""Sentry: off without a DSN; personal data scrubbed from every event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.sentry import FILTERED, scrub_event

# (the suite's PostgreSQL guard needs the test database set up)
pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ID = "110105198503150115"
ID_X = "11010519850315002X"


def realistic_event() -> dict:
    return {
        "event_id": "a" * 32,
        "level": "error",
        "message": f"Person {ID} not found",
        "exception": {
            "values": [
                {
                    "type": "ApplicationError",
                    "value": f"no member with identity number {ID_X}",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "expense_submit",
                                "vars": {"patient_id_number": ID, "name": "张伟"},
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "url": f"http://portal.example.org/verify/{ID}",
            "method": "POST",
            "query_string": f"id_number={ID}",
            "data": {"username": ID, "password": "secret", "name": "张伟"},
            "cookies": {"sessionid": "abc", "csrftoken": "def"},
            "headers": {
                "Authorization": "Bearer inst_0123456789",
                "Cookie": "sessionid=abc",
                "X-CSRFToken": "def",
                "User-Agent": "Mozilla/5.0",
                "X-Request-ID": "3f2b9c1e7a4d4f7e9a510c6f1e2d3b4a",
            },
            "env": {"REMOTE_ADDR": "198.51.100.7"},
        },
        "user": {"id": 42, "username": ID, "email": "zhang@example.org", "ip_address": "1.2.3.4"},
        "extra": {"patient_name": "张伟", "full_name": "李娜", "batch": 7, "note": f"x{ID}y {ID}"},
        "breadcrumbs": {
            "values": [
                {
                    "category": "query",
                    "message": "SELECT * FROM members_insuredperson WHERE id_hash = %s",
                    "data": {"params": [ID, "张伟"]},
                },
                {"category": "django", "message": f"GET /verify/{ID}"},
            ]
        },
        "tags": {"route": "verify_code"},
    }


def test_the_scrubber_removes_identity_numbers_names_bodies_cookies_and_authorization():
    event = scrub_event(realistic_event(), {})

    text = json.dumps(event, ensure_ascii=False)
    assert ID not in text and ID_X not in text
    assert "张伟" not in text and "李娜" not in text
    assert "secret" not in text and "inst_0123456789" not in text
    assert "sessionid" not in text and "198.51.100.7" not in text and "1.2.3.4" not in text
    assert "zhang@example.org" not in text
    request = event["request"]
    assert "data" not in request and "cookies" not in request and "env" not in request
    assert request["headers"]["Authorization"] == FILTERED
    assert request["headers"]["Cookie"] == FILTERED
    assert request["headers"]["X-CSRFToken"] == FILTERED
    assert request["headers"]["User-Agent"] == "Mozilla/5.0"
    assert request["query_string"] == FILTERED
    assert request["url"] == "http://portal.example.org/verify/[id-number]"
    assert event["user"] == {"id": 42}
    assert event["message"] == "Person [id-number] not found"
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert frame == {"function": "expense_submit"}
    assert event["extra"] == {
        "patient_name": FILTERED,
        "full_name": FILTERED,
        "batch": 7,
        "note": "x[id-number]y [id-number]",  # even inside a longer token
    }
    assert event["breadcrumbs"]["values"][0] == {
        "category": "query",
        "message": "SELECT * FROM members_insuredperson WHERE id_hash = %s",
    }
    assert event["breadcrumbs"]["values"][1]["message"] == "GET /verify/[id-number]"
    assert event["tags"] == {"route": "verify_code"}


_PROBE = """
import django, sentry_sdk
django.setup()
client = sentry_sdk.get_client()
from portal.sentry import scrub_event
print("ACTIVE", client.is_active())
if client.is_active():
    print("PII", client.options["send_default_pii"])
    print("SCRUB", client.options["before_send"] is scrub_event)
"""


def _probe(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", **extra)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.split(" ")[0].isupper()]


def test_without_a_dsn_sentry_is_not_initialised():
    assert _probe() == ["ACTIVE False"]


def test_with_a_dsn_sentry_starts_without_personal_data_and_with_the_scrubber():
    # Port 9 (discard) on loopback: nothing is ever sent anywhere.
    assert _probe(SENTRY_DSN="http://public@127.0.0.1:9/1") == [
        "ACTIVE True",
        "PII False",
        "SCRUB True",
    ]
