"""The member's e-mail address (a signed, expiring confirmation link), the
profile and inbox pages, and self-service password reset through the sender:
rate-limited per address, per account and per client, and never saying
whether an account exists."""

from __future__ import annotations

import re
import time

import pytest

from audit.models import AuditEvent
from notifications.models import EmailAddress, Notification
from notifications.services import confirm_token, email_address_confirm
from portal.errors import ApplicationError
from tests.conftest import PASSWORD

from .helpers import confirm_email, run_outbox

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/\S+)")


def _link(mail) -> str:
    return LINK.search(mail.body).group(1)


def test_adding_an_address_sends_a_link_that_confirms_it(
    alice, client_for, mailoutbox, eager_tasks, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/profile/email/", {"email": " alice@example.org "})
    assert response.status_code == 302
    record = EmailAddress.objects.get(user=alice.user)
    assert (record.address, record.pending_address) == ("", "alice@example.org")
    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    link = _link(mail)

    # GET only shows the button (a mail scanner opening the link confirms nothing)
    assert client.get(link).status_code == 200
    record.refresh_from_db()
    assert record.confirmed_at is None

    page = client.post(link)

    assert page.status_code == 200
    assert 'data-testid="email-confirmed"' in page.content.decode()
    record.refresh_from_db()
    assert (record.confirmed, record.pending_address) == ("alice@example.org", "")
    assert "alice@example.org" in client.get("/profile/").content.decode()


def test_a_bad_address_is_refused_naming_the_field(alice, client_for, mailoutbox):
    response = client_for(alice).post("/profile/email/", {"email": "not-an-address"})

    assert response.status_code == 400
    assert 'data-testid="error-email"' in response.content.decode()
    assert not EmailAddress.objects.filter(user=alice.user).exclude(pending_address="").exists()
    assert mailoutbox == []


def test_a_tampered_link_is_refused_and_changes_nothing(alice, client_for):
    confirm_email(alice, "alice@example.org")
    client_for(alice).post("/profile/email/", {"email": "new@example.org"})
    token = confirm_token(user_id=alice.user.pk, address="new@example.org")
    forged = confirm_token(user_id=alice.user.pk, address="evil@example.org")
    tampered = forged.split(":")[0] + ":" + token.split(":", 1)[1]

    for bad in (tampered, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x"):
        response = client_for(alice).post(f"/profile/email/confirm/{bad}/")
        assert response.status_code == 400
        assert "不是有效" in response.content.decode() or "无效" in response.content.decode()

    record = EmailAddress.objects.get(user=alice.user)
    assert (record.confirmed, record.pending_address) == ("alice@example.org", "new@example.org")


def test_an_expired_link_is_refused(alice, settings):
    settings.NOTIFICATIONS_CONFIRM_SECONDS = 1
    from notifications.services import email_address_set

    email_address_set(user=alice.user, address="alice@example.org", base_url="http://testserver/")
    token = confirm_token(user_id=alice.user.pk, address="alice@example.org")
    time.sleep(2.1)

    with pytest.raises(ApplicationError) as refused:
        email_address_confirm(token=token)

    assert refused.value.code == "expired"
    assert EmailAddress.objects.get(user=alice.user).confirmed == ""


def test_a_newer_address_voids_the_older_link(alice):
    from notifications.services import email_address_set

    email_address_set(user=alice.user, address="old@example.org", base_url="http://testserver/")
    old = confirm_token(user_id=alice.user.pk, address="old@example.org")
    email_address_set(user=alice.user, address="new@example.org", base_url="http://testserver/")

    with pytest.raises(ApplicationError) as refused:
        email_address_confirm(token=old)

    assert refused.value.code == "not_pending"
    assert EmailAddress.objects.get(user=alice.user).confirmed == ""


def test_inbox_lists_marks_read_and_the_nav_counts(alice, client_for, settings):
    from tests.notifications.test_outbox import fund

    settings.LANGUAGE_CODE = "zh-hans"
    fund(alice, 12345, "inbox-credit")
    run_outbox()
    client = client_for(alice)

    home = client.get("/").content.decode()
    assert re.search(r'data-testid="unread-count">1<', home)
    page = client.get("/messages/").content.decode()
    assert "您的个人账户入账123.45元。" in page

    notice = Notification.objects.get(recipient=alice.user)
    assert client.post("/messages/read/", {"id": notice.pk}).status_code == 302

    notice.refresh_from_db()
    assert notice.read_at is not None
    assert 'data-testid="unread-count"' not in client.get("/").content.decode()


def test_nobody_reads_another_members_messages(alice, bob, client_for):
    from tests.notifications.test_outbox import fund

    fund(alice, 100, "private-credit")
    run_outbox()
    notice = Notification.objects.get(recipient=alice.user)
    client = client_for(bob)

    assert "1.00" not in client.get("/messages/").content.decode()
    client.post("/messages/read/", {"id": notice.pk})
    notice.refresh_from_db()
    assert notice.read_at is None


def test_preferences_are_saved_per_event_type(alice, client_for):
    from notifications.selectors import preferences

    client_for(alice).post(
        "/profile/notifications/",
        {"email_credit": "on", "email_view": "on", "digest_view": "now"},
    )

    prefs = preferences(alice.user)
    assert prefs["credit"] == {"email": True, "digest": False}
    assert prefs["payment"] == {"email": False, "digest": False}
    assert prefs["view"] == {"email": True, "digest": False}


# --- Password reset ------------------------------------------------------------------


def _ask(client, address, **extra):
    return client.post("/accounts/password/reset/", {"email": address}, **extra)


def test_reset_through_the_sender_to_the_confirmed_address(
    alice, client, mailoutbox, eager_tasks, django_capture_on_commit_callbacks
):
    confirm_email(alice, "alice@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        response = _ask(client, "ALICE@example.org")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    link = _link(mail)
    form = client.get(link, follow=True)
    assert 'data-testid="reset-save"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
    )
    assert done.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.check_password("a new long passphrase 42")
    assert not alice.user.check_password(PASSWORD)
    assert (
        AuditEvent.objects.filter(action="security.password_reset", actor=alice.user).count() == 1
    )
    # The link works once.
    again = client.get(link, follow=True)
    assert 'data-testid="reset-link-invalid"' in again.content.decode()


def test_reset_answers_the_same_for_an_unknown_or_unconfirmed_address(
    alice, client, mailoutbox, eager_tasks, django_capture_on_commit_callbacks
):
    from notifications.services import email_address_set

    email_address_set(user=alice.user, address="pending@example.org", base_url="http://x/")
    mailoutbox.clear()
    answers = []
    for address in ("nobody@example.org", "pending@example.org"):
        with django_capture_on_commit_callbacks(execute=True):
            response = _ask(client, address)
        answers.append((response.status_code, response["Location"]))

    assert answers == [(302, "/accounts/password/reset/sent/")] * 2
    assert mailoutbox == []


def test_reset_is_limited_per_address(
    alice, client, mailoutbox, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.PASSWORD_RESET_RATE_ADDRESS = "2/hour"
    confirm_email(alice, "alice@example.org")
    statuses = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            statuses.append(_ask(client, "alice@example.org").status_code)
    # the same refusal for an address nobody has: it says nothing about accounts
    for _ in range(3):
        statuses.append(_ask(client, "nobody@example.org").status_code)

    assert statuses == [302, 302, 429, 302, 302, 429]
    assert len(mailoutbox) == 2


def test_reset_is_limited_per_account_silently(
    alice, client, mailoutbox, settings, eager_tasks, django_capture_on_commit_callbacks
):
    settings.PASSWORD_RESET_RATE_ADDRESS = "10/hour"
    settings.PASSWORD_RESET_RATE_ACCOUNT = "2/day"
    confirm_email(alice, "alice@example.org")
    statuses = []
    for spelling in ("alice@example.org", "Alice@example.org", "ALICE@EXAMPLE.ORG"):
        with django_capture_on_commit_callbacks(execute=True):
            statuses.append(_ask(client, spelling).status_code)

    assert statuses == [302, 302, 302]  # the third looks the same ...
    assert len(mailoutbox) == 2  # ... but sends nothing


def test_reset_is_limited_per_client_address(client, settings):
    settings.PASSWORD_RESET_RATE_CLIENT = "3/hour"

    statuses = [_ask(client, f"n{i}@example.org").status_code for i in range(4)]
    other = _ask(client, "n9@example.org", REMOTE_ADDR="10.0.0.9").status_code

    assert statuses == [302, 302, 302, 429]
    assert other == 302
