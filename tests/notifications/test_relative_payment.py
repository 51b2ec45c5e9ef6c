"""A relative's expense paid from the member's prior-years surplus is one
"paid for a relative" message to the member, naming the relative."""

from __future__ import annotations

import datetime as dt

import pytest

from notifications.models import Notification
from tests.claims.conftest import (  # noqa: F401 (fixtures)
    approved_link,
    expense_body,
    fund,
    hospital,
    institution_api,
    policies,
)
from tests.conftest import make_member

from .helpers import confirm_email, run_outbox

pytestmark = pytest.mark.django_db


def test_a_payment_for_a_relative_from_the_surplus(
    policies,  # noqa: F811
    alice,
    hospital,  # noqa: F811
    institution_api,  # noqa: F811
    approved_link,  # noqa: F811
    mailoutbox,
):
    child = make_member(
        "Kid", birth=dt.date(2014, 6, 1), seq=42, insurance_type="resident", signs_in=False
    )
    confirm_email(alice, "alice@example.org")
    fund(alice, prior=100000, key="kid-fund")
    approved_link(alice, child, relationship="child", cap_fen=20000)
    body = expense_body(
        child.id_number,
        "outpatient",
        [{"catalog_class": "A", "amount": "500.00"}, {"catalog_class": "self", "amount": "50.00"}],
    )
    assert institution_api(hospital).submit(body, key="kid-1").status_code == 201

    run_outbox()
    run_outbox()

    paid = Notification.objects.get(recipient=alice.user, event_type="relative_payment")
    assert paid.action == "claims.expense"
    assert paid.params == {"amount_fen": 20000, "relative": "Kid"}
    assert [m.body.splitlines()[0] for m in mailoutbox if m.subject == "为亲属支付"] == [
        "您的历年资金为Kid支付200.00元。"
    ]
    assert (
        Notification.objects.filter(recipient=alice.user).count() == 4
    )  # + credit, request, approve
