"""Family links (亲情账户): a member grants a close relative access to their account."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Relationship(models.TextChoices):
    """What the relative is to the member."""

    SPOUSE = "spouse", _("Spouse")
    PARENT = "parent", _("Parent")
    CHILD = "child", _("Child")


class LinkStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    ENDED = "ended", _("Ended")


class DocumentKind(models.TextChoices):
    COMMITMENT_LETTER = "commitment_letter", _("Personal commitment letter")
    POWER_OF_ATTORNEY = "power_of_attorney", _("Power of attorney")


class DocumentType(models.TextChoices):
    PDF = "application/pdf", "PDF"
    JPEG = "image/jpeg", "JPEG"
    PNG = "image/png", "PNG"


# Links that still count: at most one per (member, relative) pair.
OPEN_STATUSES = (LinkStatus.PENDING, LinkStatus.APPROVED)


class FamilyLink(models.Model):
    member = models.ForeignKey(
        "members.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="family_links_granted",
        verbose_name=_("member"),
    )
    relative = models.ForeignKey(
        "members.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="family_links_received",
        verbose_name=_("relative"),
    )
    relationship = models.CharField(_("relationship"), max_length=10, choices=Relationship.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=LinkStatus.choices, default=LinkStatus.PENDING
    )
    scope_balance = models.BooleanField(_("see the balance"), default=False)
    scope_records = models.BooleanField(_("see payment record and expenses"), default=False)
    scope_pay = models.BooleanField(_("pay from the prior-years surplus"), default=False)
    pay_yearly_cap_fen = models.BigIntegerField(_("yearly cap (fen)"), null=True, blank=True)

    consent_version = models.CharField(max_length=32)
    consent_at = models.DateTimeField()

    document_kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    document_name = models.CharField(max_length=64, unique=True, editable=False)
    document_type = models.CharField(max_length=20, choices=DocumentType.choices)
    document_size = models.PositiveIntegerField()
    document_sha256 = models.CharField(max_length=64)

    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("family link")
        verbose_name_plural = _("family links")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "relative"],
                condition=Q(status__in=["pending", "approved"]),
                name="family_one_open_link_per_pair",
            ),
            models.CheckConstraint(
                condition=~Q(member=models.F("relative")), name="family_not_self"
            ),
            models.CheckConstraint(
                condition=Q(scope_balance=True) | Q(scope_records=True) | Q(scope_pay=True),
                name="family_some_scope",
            ),
            models.CheckConstraint(
                condition=Q(pay_yearly_cap_fen__isnull=True) | Q(pay_yearly_cap_fen__gt=0),
                name="family_cap_positive",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.member_id} -> {self.relative_id} ({self.relationship}, {self.status})"

    def scopes(self) -> list[str]:
        return [
            s
            for s, on in (
                ("balance", self.scope_balance),
                ("records", self.scope_records),
                ("pay", self.scope_pay),
            )
            if on
        ]

    @property
    def is_image(self) -> bool:
        return self.document_type in (DocumentType.JPEG, DocumentType.PNG)
