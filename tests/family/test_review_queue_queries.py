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


def _pending(n: int, *, same_time: bool = False) -> list:
    """n pending requests; with ``same_time`` they share one created_at (the
    cursor's id tie-break then decides the order)."""
    from django.utils import timezone

    from family.models import FamilyLink

    links = []
    for i in range(n):
        member = make_member(f"M{i}", birth=dt.date(1970, 1, 1 + i % 28), seq=101 + 2 * i)
        relative = make_member(
            f"R{i}", birth=dt.date(1986, 2, 1 + i % 28), seq=301 + 2 * i, signs_in=False
        )
        links.append(request_link(member, relative))
    if same_time:
        FamilyLink.objects.filter(pk__in=[link.pk for link in links]).update(
            created_at=timezone.now()
        )
    return links


def test_review_queue_pages_oldest_first_and_a_later_page_costs_the_same(
    client_for, staff, private_media
):
    links = _pending(23, same_time=True)
    client = client_for(staff)

    first = client.get("/family/review/")
    with CaptureQueriesContext(connection) as q1:
        first = client.get("/family/review/")
    body = first.content.decode()
    shown = [link.pk for link in links if f'data-testid="review-{link.pk}"' in body]
    assert shown == [link.pk for link in links[:20]]
    cursor = body.split('href="?after=')[1].split('"')[0]

    with CaptureQueriesContext(connection) as q2:
        second = client.get(f"/family/review/?after={cursor}")
    body = second.content.decode()
    shown = [link.pk for link in links if f'data-testid="review-{link.pk}"' in body]
    assert shown == [link.pk for link in links[20:]]
    assert 'data-testid="queue-next"' not in body
    assert 'data-testid="queue-first"' in body
    assert len(q2.captured_queries) == len(q1.captured_queries)


def test_review_queue_api_pages_with_a_link_header(client_for, staff, private_media):
    from rest_framework.test import APIClient

    links = _pending(21)
    api = APIClient()
    api.cookies = client_for(staff).cookies

    first = api.get("/api/v1/family/review/")
    assert [item["id"] for item in first.json()] == [link.pk for link in links[:20]]
    next_url = first["Link"].split(">")[0].lstrip("<")
    assert first["Link"].endswith('rel="next"')

    last = api.get(next_url)
    assert [item["id"] for item in last.json()] == [links[20].pk]
    assert "Link" not in last


def test_a_malformed_cursor_shows_the_first_page(client_for, staff, private_media):
    links = _pending(2)
    response = client_for(staff).get("/family/review/?after=not-a-cursor")
    assert response.status_code == 200
    assert f'data-testid="review-{links[0].pk}"' in response.content.decode()
