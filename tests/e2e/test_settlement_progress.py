# ruff: noqa: F811  (fixtures imported from tests/claims/conftest.py are parameters)
"""Staff start settlement in Debian's Chromium and watch the batch's progress
bar move to done while a real Celery worker settles it chunk by chunk."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from celery import current_app
from django.core.management import call_command
from django.db.models import Sum
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.selectors import account_balance_fen
from accounts.services import institution_payable
from claims.models import Expense, SettlementBatch, SettlementEntry
from claims.services import LineInput, expense_submit
from portal.security import totp_code
from tests.claims.conftest import claims_worker, fund, hospital, policies  # noqa: F401
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in


@pytest.mark.django_db(transaction=True)
def test_staff_settle_now_and_watch_the_progress_bar_reach_done(
    page,
    screenshot,
    policies,
    alice,
    hospital,
    staff,
    claims_worker,
):
    fund(alice, current=10000)
    for i in range(6):
        expense_submit(
            institution=hospital,
            idempotency_key=f"e2e-settle-{i}",
            patient_id_number=alice.id_number,
            service_date=dt.date(2026, 3, 1),
            care_type="outpatient",
            lines=[LineInput("A", 300000)],
        )
    # 300000 - 180000 deductible at 70 %, then 5 x 300000 at 70 %.
    fund_total = Expense.objects.filter(institution=hospital).aggregate(s=Sum("fund_fen"))["s"]
    assert fund_total == 84000 + 5 * 210000
    payable_before = account_balance_fen(institution_payable(hospital.pk))

    # A real worker on this test's own queue: 3 chunks of 2, 1.5 s apart.
    w = claims_worker
    w.start(CLAIMS_SETTLEMENT_CHUNK_SIZE="2", CLAIMS_SETTLEMENT_CHUNK_PAUSE="1.5")
    # The button's task (sent by the live server in this process) goes there too.
    default_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = w.queue
    # (settle_batch is routed to the settlement queue: point it there too)
    kind_queues = override_settings(CELERY_KIND_QUEUES={"settlement": w.queue})
    kind_queues.enable()
    try:
        # Staff sign in with a password, then a TOTP code.
        device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
        sign_in(page, "staff", PASSWORD)
        page.goto("/staff/settlement/")
        expect(page).to_have_url(re.compile(r"/accounts/two-factor/"))
        otp_form = page.locator("main form")
        otp_form.locator("input[name=otp_token]").fill(totp_code(device))
        otp_form.locator("button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/staff/settlement/$"))

        page.get_by_test_id("settle-now").click()
        # What would be settled, then the confirming button.
        expect(page.get_by_test_id("settle-confirm")).to_contain_text(hospital.name)
        page.get_by_test_id("confirm-settle").click()

        batch = SettlementBatch.objects.get(institution=hospital)
        expect(page).to_have_url(re.compile(rf"/staff/settlement/{batch.pk}/$"))
        bar = page.locator("#progress-bar")
        box = page.locator("#batch-progress")
        # The bar moves through an intermediate value (33 or 66) ...
        page.wait_for_function(
            "() => { const v = document.getElementById('progress-bar').value;"
            " return v > 0 && v < 100; }",
            timeout=15_000,
        )
        # ... and reaches done.
        expect(box).to_have_attribute("data-status", "done", timeout=20_000)
        expect(bar).to_have_js_property("value", 100)
        expect(box.locator('[data-field="percent"]')).to_have_text("100")
        expect(box.locator('[data-field="expense_count"]')).to_have_text("6")
        expect(box.locator('[data-field="fund"]')).to_have_text("¥11,340.00")
    finally:
        current_app.conf.task_default_queue = default_queue
        kind_queues.disable()

    batch.refresh_from_db()
    assert (batch.status, batch.expense_count, batch.chunks_done, batch.fund_fen) == (
        "done",
        6,
        3,
        1134000,
    )

    # The page, reloaded, lists the settled expenses and the fund total.
    page.reload()
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(6)
    expense_ids = sorted(
        SettlementEntry.objects.filter(batch=batch).values_list("expense_id", flat=True)
    )
    for pk in expense_ids:
        expect(rows.filter(has_text=f"#{pk}")).to_have_count(1)
    expect(box.locator('[data-field="fund"]')).to_have_text("¥11,340.00")
    expect(bar).to_have_js_property("value", 100)
    screenshot("staff-settlement-progress")

    payable = institution_payable(hospital.pk)
    assert account_balance_fen(payable) - payable_before == 1134000
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().strip() == "ledger consistent"
