"""One money format on every page, in both languages: ``¥1,234.56`` (and
``-¥5.00``), never a bare number next to a ¥ elsewhere or a trailing 元."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from members import demo as members_demo
from portal.money import format_money

AMOUNT = re.compile(r"^-?¥\d{1,3}(,\d{3})*\.\d{2}$")
# The text of every element the templates mark as money.
MONEY_CELL = re.compile(r'class="[^"]*\bmoney\b[^"]*"[^>]*>([^<]*)<')


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "¥0.00"), (5, "¥0.05"), (123456, "¥1,234.56"), (-500, "-¥5.00"), (None, "")],
)
def test_format_money(fen, text):
    assert format_money(fen) == text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_amount_on_the_member_pages_has_one_format(client, language):
    call_command("seed_demo")
    zhangwei = members_demo.person("zhangwei")
    client.force_login(zhangwei.user)
    pages = ["/", "/dashboard/records/", "/dashboard/summary/", "/dashboard/certificate/"]
    amounts = 0
    for url in pages:
        body = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        for text in MONEY_CELL.findall(body):
            # "¥1,477.60 / ¥15,296.00": the two pockets after an expense.
            for amount in filter(None, (part.strip() for part in text.split(" / "))):
                assert AMOUNT.match(amount), (url, text)
                amounts += 1
        # Not "1,234.56 元" and not "¥ in one place, 元 in another".
        assert not re.search(r"\d\s*元", body), url
    assert amounts >= 10  # the test saw the pages' amounts

    # An expense's reasons name amounts the same way.
    body = client.get("/dashboard/records/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "¥1,800.00" in body  # the 2026 outpatient visit's deductible
