"""The staff review queue costs the same number of queries for 1 or many requests."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import make_member

from .conftest import request_link


def _queue_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/family/review/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_review_queue_query_count_is_flat(client_for, staff, alice, private_media):
    client = client_for(staff)
    request_link(alice, make_member("R0", birth=dt.date(1986, 1, 1), seq=20, signs_in=False))
    one = _queue_queries(client)

    for i in range(1, 8):
        relative = make_member(
            f"R{i}", birth=dt.date(1986, 1, 1 + i), seq=20 + 2 * i, signs_in=False
        )
        member = make_member(f"M{i}", birth=dt.date(1970, 2, 1 + i), seq=41 + 2 * i)
        request_link(member, relative)
    many = _queue_queries(client)

    assert many == one
