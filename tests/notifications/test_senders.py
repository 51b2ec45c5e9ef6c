"""The sender interface: e-mail through Django's mail framework, a mail
server that refuses (a real SMTP connection to a closed port) leaves the
delivery waiting and then failed, never half-sent; SMS is an adapter that
refuses until a provider is plugged in."""

from __future__ import annotations

import socket

import pytest

from notifications.models import Delivery
from notifications.senders import (
    OutgoingMessage,
    Sender,
    SenderNotConfigured,
    SmsSender,
    get_sender,
)
from notifications.services import deliveries_send

from .helpers import confirm_email, run_outbox
from .test_outbox import fund

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refusing_mail_server_leaves_the_delivery_waiting_then_failed(alice, settings):
    confirm_email(alice, "alice@example.org")
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _closed_port(), "timeout": 2},
        }
    }
    settings.NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS = 2
    fund(alice, 100, "refused-credit")

    assert run_outbox() == (1, 0)
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "ConnectionRefusedError"

    assert deliveries_send() == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.sent_at) == ("failed", 2, None)
    assert deliveries_send() == 0  # failed stays failed


def test_the_email_sender_sends_one_message_with_its_message_id(mailoutbox):
    sender = get_sender("email")
    assert isinstance(sender, Sender)

    sender.send(OutgoingMessage("a@example.org", "Subject", "Body", "<delivery-7@localhost>"))

    [mail] = mailoutbox
    assert (mail.to, mail.subject, mail.body) == (["a@example.org"], "Subject", "Body")
    assert mail.extra_headers["Message-ID"] == "<delivery-7@localhost>"


class RecordingSms(SmsSender):
    sent: list[tuple[str, str]] = []

    def deliver(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


def test_sms_is_an_adapter_that_refuses_until_a_provider_is_plugged_in(settings):
    with pytest.raises(SenderNotConfigured):
        get_sender("sms")
    with pytest.raises(SenderNotConfigured):
        SmsSender().send(OutgoingMessage("13900000001", "", "text"))

    settings.NOTIFICATION_SENDERS = {
        **settings.NOTIFICATION_SENDERS,
        "sms": "tests.notifications.test_senders.RecordingSms",
    }
    sender = get_sender("sms")
    sender.send(OutgoingMessage("13900000001", "ignored", "您的个人账户入账1.00元。"))

    assert isinstance(sender, Sender)
    assert RecordingSms.sent == [("13900000001", "您的个人账户入账1.00元。")]
