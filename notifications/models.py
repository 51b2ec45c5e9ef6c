"""Notifications (docs/adr/0016-notifications-outbox.md).

A ``Notification`` is derived from a durable record (an audit event or a
ledger transaction) by the outbox (``services.outbox_run``), at most once per
(source, source id, recipient): a unique constraint, so a task delivered again
creates nothing new. Each e-mail is a ``Delivery`` row, claimed by a state
transition before it is sent and sent outside any transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    CREDIT = "credit", _("Money paid into my account")
    PAYMENT = "payment", _("Payments from my account")
    RELATIVE_PAYMENT = "relative_payment", _("Payments for a relative from my surplus")
    VIEW = "view", _("A relative or staff looked at my account")
    FAMILY = "family", _("Family links: requests, decisions, changes, expiry and ending")
    ROLLOVER = "rollover", _("Year-end rollover")


class Source(models.TextChoices):
    AUDIT = "audit", "audit event"
    LEDGER = "ledger", "ledger transaction"


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    source_id = models.BigIntegerField()
    event_type = models.CharField(max_length=24, choices=EventType.choices)
    # The audit action or the ledger transaction's kind: picks the wording.
    action = models.CharField(max_length=64)
    # What the wording needs (amounts in fen, names, scopes), read once from
    # the source so the inbox does not join the audit trail or the ledger.
    params = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id", "recipient"], name="notify_once_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-occurred_at", "-id"], name="notify_inbox"),
            models.Index(
                fields=["recipient"], condition=Q(read_at__isnull=True), name="notify_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id} -> {self.recipient_id} ({self.action})"


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("Text message")


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """One message on one channel: a single notification, or one recipient's
    daily digest of views. ``pending -> sending`` is the claim (a conditional
    UPDATE, committed before sending); ``sending -> sent`` is recorded after
    the sender returned, only by the claim that sent it (``claim``)."""

    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    digest_day = models.DateField(null=True, blank=True)
    address = models.CharField(max_length=254)
    state = models.CharField(
        max_length=8, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"],
                condition=Q(notification__isnull=False),
                name="notify_one_delivery_per_channel",
            ),
            models.UniqueConstraint(
                fields=["recipient", "channel", "digest_day"],
                condition=Q(digest_day__isnull=False),
                name="notify_one_digest_per_day",
            ),
            models.CheckConstraint(
                condition=Q(notification__isnull=False) ^ Q(digest_day__isnull=False),
                name="notify_delivery_single_or_digest",
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "id"],
                condition=Q(state__in=["pending", "sending"]),
                name="notify_delivery_todo",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.state} -> {self.recipient_id}"


class EmailAddress(models.Model):
    """A member's e-mail address. ``address`` is used only once confirmed
    (``confirmed_at``); a new address waits in ``pending_address`` until its
    link is opened, and the old one keeps working meanwhile."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_email"
    )
    address = models.EmailField(blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    pending_address = models.EmailField(blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail address")
        verbose_name_plural = _("e-mail addresses")
        indexes = [models.Index(fields=["address"], name="notify_email_address")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.address or '-'}"

    @property
    def confirmed(self) -> str:
        return self.address if self.confirmed_at and self.address else ""


class Preference(models.Model):
    """Per event type: e-mail or not (the inbox always), and for views:
    each at once or a daily digest. No row: ``DEFAULT_PREFERENCES``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_preferences"
    )
    event_type = models.CharField(max_length=24, choices=EventType.choices)
    email = models.BooleanField(default=True)
    digest = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["user", "event_type"], name="notify_one_pref_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.event_type}: email={self.email} digest={self.digest}"


class OutboxCursor(models.Model):
    """How far the outbox has read one source (ids below ``position`` are
    done). Locked FOR UPDATE SKIP LOCKED by one run at a time."""

    source = models.CharField(max_length=16, primary_key=True, choices=Source.choices)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("outbox cursor")
        verbose_name_plural = _("outbox cursors")

    def __str__(self) -> str:
        return f"{self.source} at {self.position}"


# Without a Preference row: e-mail for every type once an address is
# confirmed; views of the account as one daily digest.
DEFAULT_PREFERENCES = {
    EventType.CREDIT: {"email": True, "digest": False},
    EventType.PAYMENT: {"email": True, "digest": False},
    EventType.RELATIVE_PAYMENT: {"email": True, "digest": False},
    EventType.VIEW: {"email": True, "digest": True},
    EventType.FAMILY: {"email": True, "digest": False},
    EventType.ROLLOVER: {"email": True, "digest": False},
}
