"""JSON log lines: request id, user id, route and time taken; identity numbers
never written, whether posted or in a path."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from tests.conftest import PASSWORD


@pytest.fixture
def log_lines():
    """The lines the configured handler writes, parsed."""
    root = logging.getLogger()
    configured = next(
        h for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(configured.formatter)
    root.addHandler(handler)
    try:
        yield lambda: (buffer.getvalue(), [json.loads(x) for x in buffer.getvalue().splitlines()])
    finally:
        root.removeHandler(handler)


def finished(lines):
    return [line for line in lines if line["event"] == "request_finished"]


def test_a_signed_in_request_logs_request_id_user_id_route_and_duration(
    client_for, alice, log_lines
):
    client = client_for(alice)

    response = client.get("/dashboard/records/")

    _, lines = log_lines()
    [line] = finished(lines)
    assert response.status_code == 200
    assert line["request_id"] == response["X-Request-ID"]
    assert len(line["request_id"]) == 32
    assert line["user_id"] == alice.user.pk
    assert line["route"] == "dashboard:records dashboard/records/"
    assert line["code"] == 200
    assert line["request"] == "GET"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert "timestamp" in line
    assert "ip" not in line and "user_agent" not in line


def test_identity_numbers_posted_or_in_a_path_are_never_logged(alice, client, log_lines):
    id_number = alice.id_number

    wrong = client.post("/accounts/login/", {"username": id_number, "password": "wrong"})
    signed_in = client.post("/accounts/login/", {"username": id_number, "password": PASSWORD})
    in_path = client.get(f"/verify/{id_number}")
    not_found = client.get(f"/no-such-page/{id_number}/?id_number={id_number}")

    raw, lines = log_lines()
    assert signed_in.status_code == 302
    assert wrong.status_code == 200
    assert in_path.status_code in (200, 404)
    assert not_found.status_code == 404
    assert id_number not in raw
    assert id_number[:-1] not in raw  # not even with the check digit cut off
    routes = [line["route"] for line in finished(lines)]
    assert routes == [
        "login accounts/login/",
        "login accounts/login/",
        "verify_code verify/<str:code>",
        "unresolved",
    ]
    assert [line["user_id"] for line in finished(lines)] == [None, *[alice.user.pk] * 3]


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("3f2b9c1e-7a4d-4f7e-9a51-0c6f1e2d3b4a", True),
        ("lb-0001.abc_DEF", True),
        ("110105198503150115", False),  # shaped like an identity number
        ("short", False),
        ("<script>alert(1)</script>", False),
        ("x" * 65, False),
    ],
)
def test_an_incoming_request_id_is_kept_only_if_it_is_a_safe_token(
    client, db, log_lines, incoming, kept
):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})

    _, lines = log_lines()
    [line] = finished(lines)
    if kept:
        assert response["X-Request-ID"] == incoming
    else:
        assert response["X-Request-ID"] != incoming
        assert len(response["X-Request-ID"]) == 32
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user_id"] is None
