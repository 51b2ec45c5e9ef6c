import datetime as dt

import pytest

from audit.models import AuditEvent
from tests.conftest import make_member
from tests.dashboard.helpers import contribution, contributions, credit, link, months


def test_member_home_is_the_dashboard_with_both_pockets(alice, client_for):
    credit(alice, current_fen=123456, prior_fen=500000)
    contribution(alice, dt.date(2025, 11, 1))

    response = client_for(alice).get("/")

    assert response.status_code == 200
    body = response.content.decode()
    # 1,234.56 + the 160.00 November credited
    assert 'data-testid="balance-current">¥1,394.56<' in body
    assert 'data-testid="balance-prior">¥5,000.00<' in body
    assert 'data-testid="balance-total">¥6,394.56<' in body
    assert "2025-11" in body
    assert "880.00" in body  # 160 + 720 yuan paid that month


def test_staff_home_is_unchanged(staff, client_for):
    response = client_for(staff).get("/")
    assert response.status_code == 200
    assert b'data-testid="balance"' not in response.content


def _dashboard_queries(client, django_assert_max_num_queries, expected_max):
    with django_assert_max_num_queries(expected_max) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_dashboard_query_count_is_flat_in_records_and_relatives(
    alice, client_for, django_assert_max_num_queries
):
    credit(alice, current_fen=100, prior_fen=100)
    contribution(alice, dt.date(2025, 1, 1))
    granter = make_member("G0", birth=dt.date(1960, 1, 1), seq=21)
    link(granter, alice, relationship="child")
    client = client_for(alice)
    few = _dashboard_queries(client, django_assert_max_num_queries, 12)

    contributions(alice, months(40, last=dt.date(2024, 12, 1)))
    for i in range(6):
        link(make_member(f"G{i + 1}", birth=dt.date(1961 + i, 1, 1), seq=23 + 2 * i), alice)
    many = _dashboard_queries(client, django_assert_max_num_queries, 12)

    assert many == few
    body = client.get("/").content.decode()
    assert body.count('data-testid="granted-card"') == 7


def test_relative_sees_only_the_granted_scopes_and_is_audited(alice, bob, client_for):
    credit(alice, current_fen=1000, prior_fen=2000)
    contribution(alice, dt.date(2025, 3, 1))
    link(alice, bob, balance=True, records=False)
    client = client_for(bob)

    response = client.get(f"/dashboard/{alice.pk}/")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="balance-total">¥190.00<' in body  # 10 + 20 + 160 credited
    assert 'data-testid="latest-contributions"' not in body
    assert alice.id_number not in body
    assert alice.masked_id_number in body
    assert (
        AuditEvent.objects.filter(
            actor=bob.user, action="person.balance.view", subject_person=alice
        ).count()
        == 1
    )
    assert client.get(f"/dashboard/records/?person={alice.pk}").status_code == 404


def test_stranger_gets_404_and_nothing_is_recorded(alice, charlie, client_for):
    client = client_for(charlie)
    before = AuditEvent.objects.count()

    assert client.get(f"/dashboard/{alice.pk}/").status_code == 404
    assert client.get(f"/dashboard/records/?person={alice.pk}").status_code == 404
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("path", ["/", "/dashboard/records/", "/dashboard/summary/"])
def test_pages_need_sign_in(client, path, db):
    response = client.get(path)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
