"""The member's dashboard shows the latest year-end rollover as what it is."""

import datetime as dt

from accounts.models import AccountKind
from accounts.services import ledger_post, member_pockets, rollover_year, system_account


def _credit(person, fen, key, on):
    current, _prior = member_pockets(person)
    ledger_post(
        idempotency_key=key,
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (current, fen)],
        value_date=on,
    )


def test_the_dashboard_shows_the_latest_rollover_in_english_and_chinese(alice, client_for):
    _credit(alice, 40000, "a-2024", dt.date(2024, 5, 1))
    _credit(alice, 123456, "a-2025", dt.date(2025, 5, 1))
    rollover_year(year=2024)
    rollover_year(year=2025)
    client = client_for(alice)

    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert (
        '<p class="hint" data-testid="rollover">Year-end rollover 2025: ¥1,234.56 moved from '
        "current-year funds to prior-years surplus, as of 31 December 2025.</p>"
    ) in english
    assert "Year-end rollover 2024" not in english
    assert (
        '<p class="hint" data-testid="rollover">2025年度结转：截至2025年12月31日，¥1,234.56'
        "已从当年资金转入历年资金。</p>"
    ) in chinese


def test_a_zero_rollover_is_shown_as_zero_and_no_rollover_shows_nothing(alice, bob, client_for):
    member_pockets(alice)
    _credit(bob, 500, "b-2025", dt.date(2025, 5, 1))
    rollover_year(year=2025)
    _credit(alice, 700, "a-2026", dt.date(2026, 1, 5))

    alice_page = client_for(alice).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Year-end rollover 2025: ¥0.00 moved" in alice_page
    assert 'data-testid="balance-current">¥7.00<' in alice_page


def test_no_rollover_yet_shows_no_line(alice, client_for):
    _credit(alice, 700, "a", dt.date(2026, 1, 5))

    page = client_for(alice).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-testid="balance-current">¥7.00<' in page
    assert 'data-testid="rollover"' not in page
