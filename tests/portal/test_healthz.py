import logging

import pytest
from django.db import OperationalError, connections

from portal import views


def test_healthz_ok_with_database_and_broker(client, db, settings):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_names_the_broker_when_it_is_down(client, db, settings, caplog):
    # nothing listens on port 1; the URL carries a password as real ones do
    settings.CELERY_BROKER_URL = "redis://:broker-secret@127.0.0.1:1/0"

    with caplog.at_level(logging.ERROR, logger="portal.views"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "ok",
        "broker": "error",
        "broken": ["broker"],
    }
    body = response.content.decode()
    for secret in ("127.0.0.1", ":1", "broker-secret", "refused", "Error", "redis"):
        assert secret not in body
    # the operator finds the cause in the log
    (record,) = [r for r in caplog.records if r.name == "portal.views"]
    assert record.levelname == "ERROR"
    assert "127.0.0.1" in str(record.exc_info[1])


@pytest.mark.django_db
def test_healthz_names_the_database_when_it_is_down(client, monkeypatch, caplog):
    # a real connection to a database that does not exist (host, port and name
    # all appear in PostgreSQL's error text)
    broken = type(connections["default"])(
        {**connections.settings["default"], "NAME": "portal_no_such_database_x"}, "default"
    )
    monkeypatch.setattr(views, "connection", broken)

    with caplog.at_level(logging.ERROR, logger="portal.views"):
        response = client.get("/healthz")
    broken.close()

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "error",
        "broker": "ok",
        "broken": ["database"],
    }
    body = response.content.decode()
    for secret in ("portal_no_such_database_x", "127.0.0.1", "5432", "OperationalError", "FATAL"):
        assert secret not in body
    (record,) = [r for r in caplog.records if r.name == "portal.views"]
    assert isinstance(record.exc_info[1], OperationalError)
    assert "portal_no_such_database_x" in str(record.exc_info[1])
