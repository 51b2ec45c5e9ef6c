"""One notification per event, in the inbox and through the e-mail back end
(locmem here; tests/notifications/test_worker.py uses real workers), none
duplicated when the outbox runs again."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import AccountKind
from accounts.services import ledger_post, member_pockets, rollover_year, system_account
from audit.services import audit_record
from family import services as family
from notifications import outbox
from notifications.models import Delivery, Notification
from notifications.services import deliveries_send, digests_prepare
from tests.conftest import person_for_viewer
from tests.family.conftest import request_link

from .helpers import confirm_email, run_outbox

pytestmark = pytest.mark.django_db


def fund(person, fen: int, key: str, *, value_date=None):
    cur, _prior = member_pockets(person)
    return ledger_post(
        idempotency_key=key,
        kind="test.credit",
        postings=[(system_account(AccountKind.POOLED_FUND), -fen), (cur, fen)],
        value_date=value_date,
    )


def spend(person, fen: int, key: str):
    cur, _prior = member_pockets(person)
    return ledger_post(
        idempotency_key=key,
        kind="test.spend",
        postings=[(cur, -fen), (system_account(AccountKind.POOLED_FUND), fen)],
    )


def inbox(person):
    return sorted(
        (n.event_type, n.action, n.params.get("role", ""))
        for n in Notification.objects.filter(recipient=person.user)
    )


def test_each_event_notifies_once_in_the_inbox_and_by_email(alice, bob, staff, mailoutbox):
    confirm_email(alice, "alice@example.org")
    confirm_email(bob, "bob@example.org")
    fund(alice, 12345, "credit-1")
    spend(alice, 2345, "spend-1")
    link = request_link(alice, bob)  # bob confirms it in his account
    family.link_approve(link_id=link.pk, reviewer=staff)
    person_for_viewer(bob.user, alice.pk, scope="balance")  # bob looks: audited
    person_for_viewer(alice.user, alice.pk, scope="balance")  # her own look: not audited
    family.link_end(link=link, user=bob.user)

    created, sent = run_outbox()

    assert inbox(alice) == [
        ("credit", "test.credit", ""),
        ("family", "family.link.approve", "member"),
        ("family", "family.link.confirm", "member"),
        ("family", "family.link.leave", "member"),
        ("family", "family.link.request", "member"),
        ("payment", "test.spend", ""),
        ("view", "person.balance.view", ""),
    ]
    assert inbox(bob) == [
        ("family", "family.link.approve", "relative"),
        ("family", "family.link.confirm", "relative"),
        ("family", "family.link.leave", "relative"),
        ("family", "family.link.request", "relative"),
    ]
    assert created == 11
    # The view waits for the daily digest (the default); everything else is e-mailed.
    to_alice = sorted(m.subject for m in mailoutbox if m.to == ["alice@example.org"])
    to_bob = sorted(m.subject for m in mailoutbox if m.to == ["bob@example.org"])
    assert sent == 10 == len(mailoutbox)
    assert to_alice == sorted(
        ["入账", "支付", "亲情账户申请已提交", "亲情账户已确认", "亲情账户已批准", "亲情账户已解除"]
    )
    assert len(to_bob) == 4
    credit = next(m for m in mailoutbox if m.subject == "入账")
    assert "123.45" in credit.body

    # when: the task is delivered again (and again)
    assert run_outbox() == (0, 0)
    assert outbox.outbox_sweep() == 0
    assert deliveries_send() == 0

    # then: nothing new, nothing sent twice
    assert Notification.objects.count() == 11
    assert len(mailoutbox) == 10
    assert Delivery.objects.filter(state="sent").count() == 10


def test_no_address_no_email_but_the_inbox_still(alice, mailoutbox):
    fund(alice, 100, "credit-x")

    assert run_outbox() == (1, 0)

    assert inbox(alice) == [("credit", "test.credit", "")]
    assert mailoutbox == []
    assert Delivery.objects.count() == 0


def test_the_unread_count_shown_follows_new_notifications(
    alice, bob, django_capture_on_commit_callbacks
):
    from notifications.selectors import unread_count

    fund(alice, 100, "credit-a")
    fund(bob, 100, "credit-b")
    run_outbox()
    assert unread_count(alice.user) == 1 and unread_count(bob.user) == 1  # now cached

    fund(alice, 200, "credit-a2")
    with django_capture_on_commit_callbacks(execute=True):  # as the outbox's commit does
        run_outbox()

    assert unread_count(alice.user) == 2
    assert unread_count(bob.user) == 1


def test_a_reread_brings_no_mail_for_an_event_noted_before_the_address(alice, mailoutbox):
    """The e-mail follows the choices at the moment an event is noted: the
    hourly sweep reading it again after the member confirmed an address sends
    nothing for it; the next event is mailed."""
    fund(alice, 100, "credit-before")
    assert run_outbox() == (1, 0)
    confirm_email(alice, "alice@example.org")

    assert outbox.outbox_sweep() == 0
    assert deliveries_send() == 0 and mailoutbox == []

    fund(alice, 300, "credit-after")
    assert run_outbox() == (1, 1)
    assert [m.to for m in mailoutbox] == [["alice@example.org"]]


def test_staff_views_are_told_as_staff_and_digested_once_a_day(alice, staff, mailoutbox, settings):
    confirm_email(alice, "alice@example.org")
    for scope in ("balance", "records"):
        audit_record(actor=staff, action=f"person.{scope}.view", subject_person=alice, target=alice)

    run_outbox()
    assert mailoutbox == []  # digest by default

    day = dt.datetime.now(dt.UTC).astimezone().date()
    from django.utils import timezone

    day = timezone.localdate()
    assert digests_prepare(day=day) == 1
    assert digests_prepare(day=day) == 1  # a second run: the same single delivery
    assert deliveries_send() == 1
    assert deliveries_send() == 0

    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    assert mail.body.count("医保经办机构工作人员") == 2
    assert Notification.objects.filter(event_type="view", params__staff=True).count() == 2


def test_a_view_at_once_when_the_member_chose_it(alice, bob, staff, mailoutbox):
    from notifications.services import preferences_set

    confirm_email(alice, "alice@example.org")
    preferences_set(
        user=alice.user,
        choices={"view": {"email": True, "digest": False}, "credit": {"email": False}},
    )
    audit_record(actor=staff, action="person.records.view", subject_person=alice, target=alice)
    fund(alice, 100, "credit-silent")

    run_outbox()

    assert [m.subject for m in mailoutbox] == ["您的账户被查看"]
    assert inbox(alice) == [("credit", "test.credit", ""), ("view", "person.records.view", "")]


def test_the_rollover_is_one_notification(alice, mailoutbox):
    confirm_email(alice, "alice@example.org")
    last_year = dt.date.today().year - 1
    fund(alice, 50000, "credit-last-year", value_date=dt.date(last_year, 6, 1))
    rollover_year(year=last_year)

    run_outbox()
    run_outbox()

    rolled = Notification.objects.get(recipient=alice.user, event_type="rollover")
    assert rolled.params == {"amount_fen": 50000, "year": last_year}
    assert inbox(alice) == [("credit", "test.credit", ""), ("rollover", "rollover", "")]
    assert sorted(m.subject for m in mailoutbox) == ["入账", "年度结转"]


def test_family_events_of_the_whole_catalogue_reach_both_people(alice, bob, staff):
    link = request_link(alice, bob)
    for action in sorted(outbox.FAMILY_ACTIONS):
        audit_record(
            actor=alice.user,
            action=action,
            subject_person=alice,
            target=link,
            detail={"relative": bob.pk, "amount_fen": 1000},
        )

    run_outbox()

    member_side = {n.action for n in Notification.objects.filter(recipient=alice.user)}
    relative_side = {n.action for n in Notification.objects.filter(recipient=bob.user)}
    assert member_side == outbox.FAMILY_ACTIONS - {"family.contribution.pay"}
    assert relative_side == outbox.FAMILY_ACTIONS
    # request made above, plus one per catalogue action (request again included)
    assert Notification.objects.filter(action="family.link.request").count() == 4


def test_the_cursor_stops_at_a_young_gap_and_passes_an_old_one(settings):
    settings.NOTIFICATIONS_OUTBOX_LAG_SECONDS = 60
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    young = now - dt.timedelta(seconds=5)
    old = now - dt.timedelta(seconds=600)
    rows = [{"id": 11, "at": old}, {"id": 12, "at": old}, {"id": 14, "at": young}]

    assert outbox._next_position(10, rows, "at", now) == 12  # 13 may still commit
    rows[2]["at"] = old
    assert outbox._next_position(10, rows, "at", now) == 14  # 13 was rolled back


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_commits_late_is_not_skipped(alice, bob, settings):
    """A ledger transaction with a smaller id commits after one with a larger
    id: the run between them must not move its cursor past the first."""
    import threading

    from django.db import connection, transaction

    from notifications.models import OutboxCursor

    member_pockets(alice)
    # The cursor starts past everything earlier tests left in the sequence.
    settings.NOTIFICATIONS_OUTBOX_LAG_SECONDS = 0
    fund(alice, 1, "before")
    outbox.outbox_run()
    settings.NOTIFICATIONS_OUTBOX_LAG_SECONDS = 3600
    Notification.objects.all().delete()
    bob_current, _prior = member_pockets(bob)
    receivable = system_account(AccountKind.CONTRIBUTIONS_RECEIVABLE)
    inserted, release = threading.Event(), threading.Event()

    def slow():
        try:
            with transaction.atomic():
                fund(alice, 100, "late")
                inserted.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow)
    thread.start()
    assert inserted.wait(30)
    # a larger id, committed first (other accounts: no lock to wait for)
    ledger_post(
        idempotency_key="early",
        kind="test.credit",
        postings=[(receivable, -200), (bob_current, 200)],
    )

    outbox.outbox_run()
    amounts = sorted(n.params["amount_fen"] for n in Notification.objects.all())
    assert amounts == [200]
    early_id = Notification.objects.get().source_id
    assert OutboxCursor.objects.get(source="ledger").position < early_id

    release.set()
    thread.join(30)
    outbox.outbox_run()

    amounts = sorted(n.params["amount_fen"] for n in Notification.objects.all())
    assert amounts == [100, 200]
    assert OutboxCursor.objects.get(source="ledger").position == early_id
