"""Writes: deliveries (claim, send outside any transaction, record), daily
digests, the member's e-mail address and choices, the inbox's read marks and
self-service password reset (ADR 0016)."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from portal.errors import ApplicationError
from portal.throttles import KEY_PREFIX, _count, parse_rate

from . import wording
from .models import (
    DEFAULT_PREFERENCES,
    Delivery,
    DeliveryState,
    EmailAddress,
    EventType,
    Notification,
    Preference,
)
from .outbox import _pause
from .selectors import forget_unread
from .senders import OutgoingMessage, get_sender

logger = logging.getLogger(__name__)

CONFIRM_SALT = "notifications.email-confirm.v1"


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- Who gets e-mail ------------------------------------------------------------


@dataclass(frozen=True)
class EmailPlan:
    address: str
    prefs: dict[str, dict[str, bool]]

    def immediate(self, event_type: str) -> bool:
        defaults: dict[str, dict[str, bool]] = {str(k): v for k, v in DEFAULT_PREFERENCES.items()}
        pref = self.prefs.get(event_type) or defaults.get(event_type) or {}
        if not pref.get("email"):
            return False
        return not (event_type == EventType.VIEW and pref.get("digest"))

    def digest(self, event_type: str) -> bool:
        pref = self.prefs.get(event_type, {})
        return bool(pref.get("email") and pref.get("digest"))


def email_plan(user_ids) -> dict[int, EmailPlan]:
    """The confirmed address and choices of each of these users who has one."""
    addresses = dict(
        EmailAddress.objects.filter(
            user_id__in=user_ids, confirmed_at__isnull=False, user__is_active=True
        )
        .exclude(address="")
        .values_list("user_id", "address")
    )
    prefs: dict[int, dict[str, dict[str, bool]]] = {
        uid: {str(t): dict(v) for t, v in DEFAULT_PREFERENCES.items()} for uid in addresses
    }
    for p in Preference.objects.filter(user_id__in=addresses):
        prefs[p.user_id][p.event_type] = {"email": p.email, "digest": p.digest}
    return {uid: EmailPlan(address, prefs[uid]) for uid, address in addresses.items()}


# --- Sending ------------------------------------------------------------------------


def _stale() -> dt.timedelta:
    return dt.timedelta(seconds=_setting("NOTIFICATIONS_DELIVERY_STALE_SECONDS", 300))


def _claim(*, limit: int, skip: set[int]) -> tuple[str, list[int]]:
    """Take up to ``limit`` deliveries: pending ones, and ones claimed longer
    ago than the stale time (their worker died). Committed before anything
    is sent, so no lock outlives this function."""
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                Q(state=DeliveryState.PENDING)
                | Q(state=DeliveryState.SENDING, claimed_at__lt=now - _stale())
            )
            .exclude(id__in=skip)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                state=DeliveryState.SENDING,
                claim=token,
                claimed_at=now,
                attempts=F("attempts") + 1,
            )
    return token, ids


def _message(delivery: Delivery, address: str) -> OutgoingMessage:
    domain = _setting("DEFAULT_FROM_EMAIL", "portal@localhost").rpartition("@")[2] or "localhost"
    message_id = f"<delivery-{delivery.pk}@{domain}>"
    footer = _("Manage these messages on your profile page in the medical insurance portal.")
    with translation.override(settings.LANGUAGE_CODE):
        if delivery.notification_id:
            n = delivery.notification
            assert n is not None  # notification_id is set
            title, text = wording.render(n.event_type, n.action, n.params)
            body = f"{text}\n\n{timezone.localtime(n.occurred_at):%Y-%m-%d %H:%M}\n\n{footer}\n"
            return OutgoingMessage(address, title, body, message_id)
        day = delivery.digest_day
        assert day is not None  # a digest delivery has its day
        start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        views = Notification.objects.filter(
            recipient_id=delivery.recipient_id,
            event_type=EventType.VIEW,
            occurred_at__gte=start,
            occurred_at__lt=start + dt.timedelta(days=1),
        ).order_by("occurred_at", "id")
        lines = [
            f"{timezone.localtime(n.occurred_at):%H:%M}  "
            f"{wording.render(n.event_type, n.action, n.params)[1]}"
            for n in views
        ]
        subject = _("Who looked at your account on %(day)s") % {"day": day.isoformat()}
        body = "\n".join(lines) + f"\n\n{footer}\n"
        return OutgoingMessage(address, subject, body, message_id)


def _send_one(delivery_id: int, token: str) -> bool:
    delivery = (
        Delivery.objects.select_related("notification")
        .filter(pk=delivery_id, claim=token, state=DeliveryState.SENDING)
        .first()
    )
    if delivery is None:
        return False
    address = (
        EmailAddress.objects.filter(
            user_id=delivery.recipient_id, confirmed_at__isnull=False, user__is_active=True
        )
        .exclude(address="")
        .values_list("address", flat=True)
        .first()
    )
    if not address:
        Delivery.objects.filter(pk=delivery_id, claim=token).update(
            state=DeliveryState.FAILED, last_error="no confirmed address"
        )
        return False
    try:
        get_sender(delivery.channel).send(_message(delivery, address))
    except Exception as exc:  # the mail server is down, refused, timed out
        logger.warning("delivery %s failed: %s", delivery_id, type(exc).__name__)
        final = delivery.attempts >= _setting("NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS", 5)
        Delivery.objects.filter(pk=delivery_id, claim=token).update(
            state=DeliveryState.FAILED if final else DeliveryState.PENDING,
            last_error=type(exc).__name__[:255],
        )
        return False
    Delivery.objects.filter(pk=delivery_id, claim=token, state=DeliveryState.SENDING).update(
        state=DeliveryState.SENT, sent_at=timezone.now(), address=address
    )
    return True


def deliveries_send(*, limit: int = 50, max_seconds: float | None = None) -> int:
    """Send every delivery waiting; returns how many were sent. Any number of
    workers may run this at once: each claims different rows. No new batch
    is claimed after ``max_seconds`` (well inside the task's time limit, so a
    claimed batch is finished and recorded); beat sends the rest."""
    if max_seconds is None:
        max_seconds = _setting("NOTIFICATIONS_SEND_SECONDS", 60)
    deadline = time.monotonic() + max_seconds
    sent = 0
    tried: set[int] = set()
    while time.monotonic() < deadline:
        token, ids = _claim(limit=limit, skip=tried)
        if not ids:
            return sent
        tried.update(ids)
        _pause("NOTIFICATIONS_SEND_PAUSE")
        for delivery_id in ids:
            sent += _send_one(delivery_id, token)
    return sent


def digests_prepare(*, day: dt.date) -> int:
    """One digest delivery per member who chose the daily digest of views and
    was viewed on ``day`` (local time); once per member and day."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    viewed = set(
        Notification.objects.filter(
            event_type=EventType.VIEW,
            occurred_at__gte=start,
            occurred_at__lt=start + dt.timedelta(days=1),
        ).values_list("recipient_id", flat=True)
    )
    plans = email_plan(viewed)
    rows = [
        Delivery(recipient_id=uid, channel="email", digest_day=day, address=plan.address)
        for uid, plan in plans.items()
        if plan.digest(EventType.VIEW)
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- The inbox --------------------------------------------------------------------


def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(id__in=ids)
    changed = qs.update(read_at=timezone.now())
    forget_unread(user.pk)
    return changed


def preferences_set(*, user, choices: dict[str, dict[str, bool]]) -> None:
    for event_type in EventType.values:
        choice = choices.get(event_type, {})
        Preference.objects.update_or_create(
            user=user,
            event_type=event_type,
            defaults={
                "email": bool(choice.get("email")),
                "digest": bool(choice.get("digest")) and event_type == EventType.VIEW,
            },
        )


# --- The member's e-mail address -----------------------------------------------


def _limited(key: str, rate_setting: str, default: str) -> bool:
    """Count one more against ``key``; True when over the rate."""
    parsed = parse_rate(_setting(rate_setting, default))
    if parsed is None:
        return False
    number, seconds = parsed
    window = int(timezone.now().timestamp() // seconds)
    return _count(f"{KEY_PREFIX}{key}:{window}", seconds + 1) > number


def confirm_token(*, user_id: int, address: str) -> str:
    return signing.dumps({"u": user_id, "a": address}, salt=CONFIRM_SALT, compress=True)


def email_address_set(*, user, address: str, base_url: str) -> EmailAddress:
    """Keep ``address`` as the pending one and send it a confirmation link
    (after commit). The confirmed address, if any, stays in use until then."""
    address = (address or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        message = _("Enter a valid e-mail address, like name@example.com.")
        raise ApplicationError(message, code="invalid_email", fields={"email": [message]}) from None
    if _limited(f"notify:confirm:u{user.pk}", "NOTIFICATIONS_CONFIRM_RATE", "5/hour"):
        raise ApplicationError(
            _("Too many confirmation e-mails were asked for; please try again in an hour."),
            code="too_many_confirmations",
            status_code=429,
        )
    with transaction.atomic():
        record, _created = EmailAddress.objects.select_for_update().get_or_create(user=user)
        record.pending_address = address
        record.pending_since = timezone.now()
        record.save(update_fields=["pending_address", "pending_since"])
        from .tasks import send_email_confirmation

        language = translation.get_language()
        transaction.on_commit(lambda: send_email_confirmation.delay(user.pk, base_url, language))
    return record


def email_confirmation_send(*, user_id: int, base_url: str, language: str | None) -> bool:
    """The task's work: the link for the address pending now."""
    record = EmailAddress.objects.filter(user_id=user_id).exclude(pending_address="").first()
    if record is None:
        return False
    token = confirm_token(user_id=user_id, address=record.pending_address)
    link = base_url.rstrip("/") + reverse("notifications:email_confirm", args=[token])
    hours = _setting("NOTIFICATIONS_CONFIRM_SECONDS", 172800) // 3600
    with translation.override(language or settings.LANGUAGE_CODE):
        body = _(
            "Open this link to confirm this address for messages from the medical insurance "
            "portal (valid for %(hours)s hours):\n\n%(link)s\n\n"
            "If you did not ask for this, ignore this message."
        ) % {"hours": hours, "link": link}
        get_sender("email").send(
            OutgoingMessage(record.pending_address, _("Confirm your e-mail address"), body)
        )
    return True


def email_address_confirm(*, token: str) -> EmailAddress:
    """Check the link: signed by us, not older than NOTIFICATIONS_CONFIRM_SECONDS,
    and for the address still pending (a newer request voids older links)."""
    try:
        data = signing.loads(
            token,
            salt=CONFIRM_SALT,
            max_age=_setting("NOTIFICATIONS_CONFIRM_SECONDS", 172800),
        )
    except signing.SignatureExpired:
        raise ApplicationError(
            _("This confirmation link has expired. Enter the address again to get a new one."),
            code="expired",
        ) from None
    except signing.BadSignature:
        raise ApplicationError(
            _("This confirmation link is not valid. Copy the whole link from the e-mail."),
            code="bad_signature",
        ) from None
    with transaction.atomic():
        record = (
            EmailAddress.objects.select_for_update()
            .filter(user_id=data.get("u"), user__is_active=True)
            .first()
        )
        if record is None or record.pending_address != data.get("a"):
            if record is not None and record.address == data.get("a") and record.confirmed_at:
                return record  # opened twice
            raise ApplicationError(
                _("This link is for an address that is no longer waiting for confirmation."),
                code="not_pending",
            )
        record.address = record.pending_address
        record.confirmed_at = timezone.now()
        record.pending_address = ""
        record.pending_since = None
        record.save()
    return record


def email_address_remove(*, user) -> None:
    EmailAddress.objects.filter(user=user).update(
        address="", confirmed_at=None, pending_address="", pending_since=None
    )


# --- Password reset -----------------------------------------------------------------


def password_reset_request(*, address: str, client_address: str, base_url: str) -> None:
    """Send a reset link to ``address`` if it is a member's confirmed address.

    The answer is the same whether or not it is: the caller shows one page.
    Refused (429) for the address or the client address over their rate,
    whoever they belong to; the per-account rate is silent, since a refusal
    there would say that the account exists."""
    normalised = (address or "").strip().lower()
    over_address = _limited(f"notify:reset:a:{normalised}", "PASSWORD_RESET_RATE_ADDRESS", "3/hour")
    over_client = _limited(
        f"notify:reset:ip:{client_address}", "PASSWORD_RESET_RATE_CLIENT", "20/hour"
    )
    if over_address or over_client:
        raise ApplicationError(
            _("Too many reset requests; please try again in an hour."),
            code="too_many_resets",
            status_code=429,
        )
    record = (
        EmailAddress.objects.filter(
            address__iexact=normalised, confirmed_at__isnull=False, user__is_active=True
        )
        .select_related("user")
        .first()
    )
    # The same steps whether or not the address is known (a counter and a
    # task each), so the time taken does not tell either.
    known = record is not None and record.user.has_usable_password()
    user_id = record.user_id if known and record is not None else None
    if (
        _limited(f"notify:reset:u:{user_id or 'unknown'}", "PASSWORD_RESET_RATE_ACCOUNT", "3/day")
        and known
    ):
        logger.info("password reset for user %s over its rate", user_id)
        user_id = None
    from .tasks import send_password_reset_email

    language = translation.get_language()
    transaction.on_commit(lambda: send_password_reset_email.delay(user_id, base_url, language))


def password_reset_send(*, user_id: int | None, base_url: str, language: str | None) -> bool:
    from members.models import User

    if user_id is None:
        return False
    record = (
        EmailAddress.objects.filter(
            user_id=user_id, confirmed_at__isnull=False, user__is_active=True
        )
        .exclude(address="")
        .first()
    )
    if record is None:
        return False
    user = User.objects.get(pk=user_id)
    link = base_url.rstrip("/") + reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    with translation.override(language or settings.LANGUAGE_CODE):
        body = _(
            "Someone asked to reset the password of your medical insurance portal account. "
            "Open this link to choose a new one (valid for %(minutes)s minutes, once):\n\n"
            "%(link)s\n\nIf it was not you, ignore this message: your password stays as it is."
        ) % {"minutes": minutes, "link": link}
        get_sender("email").send(OutgoingMessage(record.address, _("Reset your password"), body))
    return True
