"""How a message leaves the portal: the ``Sender`` interface and its back ends.

A sender gets one ``OutgoingMessage`` and either returns (accepted by the
channel) or raises. It is called with no database transaction open and no
lock held (ADR 0016), so a slow mail server slows one worker, never a member.

Back ends (``NOTIFICATION_SENDERS`` maps a channel to a class path):
- ``email``: ``EmailSender``, Django's e-mail framework (``EMAIL_BACKEND`` and
  friends; the tests use the locmem and file back ends).
- ``sms``: ``SmsSender`` is the documented adapter, not wired to a provider:
  subclass it, implement ``deliver(phone, text)`` with the provider's client,
  and point ``NOTIFICATION_SENDERS["sms"]`` at the subclass (README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class OutgoingMessage:
    to: str
    subject: str
    body: str
    # Stable per delivery, so a receiving system can drop a repeat (a message
    # sent again after its worker died between sending and recording it).
    message_id: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Sender(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> None: ...


class EmailSender:
    channel = "email"

    def send(self, message: OutgoingMessage) -> None:
        headers = dict(message.headers)
        if message.message_id:
            headers["Message-ID"] = message.message_id
        EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
            headers=headers,
        ).send()


class SenderNotConfigured(RuntimeError):
    pass


class SmsSender:
    """The adapter for text messages. ``message.to`` is a mobile number and
    ``message.body`` the text (the subject is not sent). A provider adapter
    overrides ``deliver``; this base refuses, so nothing is silently lost."""

    channel = "sms"

    def send(self, message: OutgoingMessage) -> None:
        self.deliver(message.to, message.body)

    def deliver(self, phone: str, text: str) -> None:
        raise SenderNotConfigured(
            "No SMS provider is configured: set NOTIFICATION_SENDERS['sms'] to a "
            "subclass of notifications.senders.SmsSender (see README)."
        )


DEFAULT_SENDERS = {"email": "notifications.senders.EmailSender"}


def get_sender(channel: str) -> Sender:
    paths = {**DEFAULT_SENDERS, **getattr(settings, "NOTIFICATION_SENDERS", {})}
    try:
        path = paths[channel]
    except KeyError:
        raise SenderNotConfigured(f"no sender for the channel {channel!r}") from None
    return import_string(path)()
