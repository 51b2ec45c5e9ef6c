"""The personal-account ledger page and "what is left this year", checked on
the demo's timeline against figures worked out by hand (see
tests/e2e/test_member_portal.py for 张伟's timeline)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from members import demo as members_demo
from members.models import InsuranceType
from tests.conftest import make_member
from tests.dashboard.helpers import credit, link

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo")
    return members_demo.person("zhangwei")


def _after(current: str, prior: str) -> str:
    """The "balance after" cell's two pockets, as the page marks them up."""
    return f'{current}</span> / <span class="money">{prior}'


def _rows(body: str) -> list[str]:
    return re.findall(r'<tr data-testid="ledger-row">(.*?)</tr>', body, re.S)


def test_the_owner_sees_every_movement_with_the_pockets_after_it(client, demo):
    client.force_login(demo.user)
    body = client.get("/dashboard/ledger/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-testid="ledger-current">¥1,477.60<' in body
    assert 'data-testid="ledger-prior">¥15,107.50<' in body
    assert 'data-testid="as-of">As of ' in body
    rows = _rows(body)
    assert len(rows) == 50  # a page
    # The newest booking: his daughter's 17 February 2026 expense, paid from
    # his prior-years surplus under family mutual assistance.
    assert "2026-02-17" in rows[0] and "family mutual assistance" in rows[0]
    assert "-¥188.50" in rows[0]
    assert _after("¥1,477.60", "¥15,107.50") in rows[0]  # what the pockets hold now
    # Before it: the 21 September pharmacy purchase, 20.40 from this year's money.
    assert "2026-09-21" in rows[1] and "-¥20.40" in rows[1]
    assert _after("¥1,477.60", "¥15,296.00") in rows[1]

    # 58 monthly credits + 5 own expenses + 2 of the daughter's + 4 rollovers = 69.
    nxt = re.search(r'data-testid="next-ledger" href="\?year=&amp;after=(\d+)"', body)
    page2 = client.get(f"/dashboard/ledger/?after={nxt.group(1)}", HTTP_ACCEPT_LANGUAGE="en")
    rows2 = _rows(page2.content.decode())
    assert len(rows2) == 19
    # The oldest line is the first credit booked (one of 2022's, all imported
    # on 15 December 2022): 370.00, 2% of 18,500.00, into an empty account.
    assert "2022-12-15" in rows2[-1] and "Contribution credit for 2022-" in rows2[-1]
    assert _after("¥370.00", "¥0.00") in rows2[-1]
    assert 'data-testid="next-ledger"' not in page2.content.decode()


def test_the_year_filter_and_the_rollover_line(client, demo):
    client.force_login(demo.user)
    body = client.get("/dashboard/ledger/?year=2025", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    rows = _rows(body)
    # 2025: 12 credits, the June pharmacy purchase, the daughter's October
    # emergency visit and the rollover valued 31 December 2025.
    assert len(rows) == 15
    rollover = next(r for r in rows if "Year-end rollover 2025" in r)
    assert "-¥4,177.00" in rollover and "¥4,177.00" in rollover


@pytest.mark.parametrize("after", ["abc", "-1", "9" * 40, "１２", "1e5", ""])
def test_odd_cursors_are_a_first_page_not_an_error(client, demo, after):
    client.force_login(demo.user)
    response = client.get("/dashboard/ledger/", {"after": after, "year": after})
    assert response.status_code == 200


def test_relatives_need_the_records_scope_and_their_view_is_audited(
    alice, bob, charlie, client_for
):
    credit(alice, current_fen=12_300, key="l1")
    link(alice, bob, balance=True, records=False)
    assert client_for(bob).get(f"/dashboard/ledger/?person={alice.pk}").status_code == 404
    assert client_for(charlie).get(f"/dashboard/ledger/?person={alice.pk}").status_code == 404

    link(alice, charlie, balance=False, records=True)
    before = AuditEvent.objects.filter(subject_person=alice).count()
    body = client_for(charlie).get(f"/dashboard/ledger/?person={alice.pk}").content.decode()
    assert "¥123.00" in body
    assert AuditEvent.objects.filter(subject_person=alice).count() == before + 1


def test_a_member_without_a_personal_account_is_told_so(client):
    resident = make_member("Dora", seq=31, insurance_type=InsuranceType.RESIDENT)
    assert not resident.has_personal_account  # the resident scheme has none
    client.force_login(resident.user)
    body = client.get("/dashboard/ledger/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="no-account"' in body
    assert "ledger-row" not in body


def test_what_is_left_this_year_on_the_summary(client, demo):
    client.force_login(demo.user)
    body = client.get("/dashboard/summary/?year=2026", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    room = re.search(r'data-testid="room-outpatient">(.*?)</tr>', body, re.S).group(1)
    # 2026 outpatient pool in Beijing: deductible 1,800.00 (met by the March
    # visit), ceiling 20,000.00 of which the fund paid 798.00 + 47.60.
    assert "¥1,800.00" in room and ">Met<" in room
    assert "¥20,000.00" in room and "¥19,154.40" in room
    inpatient = re.search(r'data-testid="room-inpatient">(.*?)</tr>', body, re.S).group(1)
    assert "¥1,300.00" in inpatient  # nothing met yet: all of it still to meet
