"""Family links (亲情账户): a member grants a close relative access to their account."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Relationship(models.TextChoices):
    """What the relative is to the member (the Civil Code's close relatives).
    Which of them qualify is policy data (``RelationshipPolicy``)."""

    SPOUSE = "spouse", _("Spouse")
    PARENT = "parent", _("Parent")
    CHILD = "child", _("Child")
    SIBLING = "sibling", _("Brother or sister")
    GRANDPARENT_PATERNAL = "grandparent_paternal", _("Grandparent (father's side)")
    GRANDPARENT_MATERNAL = "grandparent_maternal", _("Grandparent (mother's side)")
    GRANDCHILD_PATERNAL = "grandchild_paternal", _("Grandchild (son's child)")
    GRANDCHILD_MATERNAL = "grandchild_maternal", _("Grandchild (daughter's child)")


# The 2021 national rule (spouse, parents, children) and the July 2024 one
# (the Civil Code's close relatives): the seeded policy rows.
RULES_2021 = [Relationship.SPOUSE, Relationship.PARENT, Relationship.CHILD]
RULES_2024 = [
    Relationship.SPOUSE,
    Relationship.PARENT,
    Relationship.CHILD,
    Relationship.SIBLING,
    Relationship.GRANDPARENT_PATERNAL,
    Relationship.GRANDPARENT_MATERNAL,
    Relationship.GRANDCHILD_PATERNAL,
    Relationship.GRANDCHILD_MATERNAL,
]
NATIONAL_REGION = "000000"


class RelationshipPolicy(models.Model):
    """Which relationships may be linked, and how, in a region from a date on.

    ``region`` is a 6-digit code: a county (``110105``), a city (``110100``),
    a province (``110000``) or ``000000`` for the national rule. A member's
    policy on a day is the row of the most specific of those four codes that
    has a row in force (``effective_from`` on or before the day), the latest
    such row of that code (``family.policy.relationship_policy_for``).
    """

    region = models.CharField(
        _("region code"),
        max_length=6,
        help_text=_("County, city (xxxx00), province (xx0000) or 000000 for the national rule."),
    )
    effective_from = models.DateField(_("in force from"))
    # A list of Relationship values (JSON, so the embedded SQLite works too;
    # the admin form offers them as check boxes and refuses anything else).
    relationships = models.JSONField(_("relationships that qualify"), default=list)
    cross_province = models.BooleanField(
        _("sharing may cross the province"),
        default=False,
        help_text=_("Whether the prior-years surplus may pay for a relative insured elsewhere."),
    )
    allow_until_ended = models.BooleanField(
        _("links may run until the member ends them"),
        default=True,
        help_text=_("Otherwise every link runs for one or three years and must be renewed."),
    )
    note = models.CharField(_("source"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("family relationship policy")
        verbose_name_plural = _("family relationship policies")
        ordering = ["region", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "effective_from"], name="family_policy_one_per_region_date"
            ),
            models.CheckConstraint(
                condition=Q(region__regex=r"^\d{6}$"), name="family_policy_region_6_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.effective_from.isoformat()}"


class LinkStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    ENDED = "ended", _("Ended")
    DECLINED = "declined", _("Declined by the relative")


class LinkTerm(models.TextChoices):
    """How long a link runs from its approval (renewal adds the same again)."""

    ONE_YEAR = "1y", _("One year")
    THREE_YEARS = "3y", _("Three years")
    UNTIL_ENDED = "open", _("Until I end it")


# A term's length in years (None: until ended), keyed by the stored value.
TERM_YEARS: dict[str, int | None] = {
    LinkTerm.ONE_YEAR: 1,
    LinkTerm.THREE_YEARS: 3,
    LinkTerm.UNTIL_ENDED: None,
}
ADULT_AGE = 18


class DocumentKind(models.TextChoices):
    COMMITMENT_LETTER = "commitment_letter", _("Personal commitment letter")
    POWER_OF_ATTORNEY = "power_of_attorney", _("Power of attorney")


class DocumentType(models.TextChoices):
    PDF = "application/pdf", "PDF"
    JPEG = "image/jpeg", "JPEG"
    PNG = "image/png", "PNG"


# Links that still count: at most one per (member, relative) pair.
OPEN_STATUSES = (LinkStatus.PENDING, LinkStatus.APPROVED)


def consent_given_q() -> Q:
    return Q(relative_confirmed_at__isnull=False) | Q(relative_is_minor=True)


class FamilyLinkQuerySet(models.QuerySet):
    def in_effect(self, now: dt.datetime | None = None) -> FamilyLinkQuerySet:
        """Links that grant access right now: approved by staff, confirmed by
        the relative (or the relative was a minor, when the document and the
        review stand for consent), and not past their end. Every access
        decision starts here; checked on every request, never by a job."""
        now = now or timezone.now()
        return self.filter(
            consent_given_q(),
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            status=LinkStatus.APPROVED,
        )

    def awaiting_confirmation(self) -> FamilyLinkQuerySet:
        """Open links an adult relative has not confirmed yet."""
        return self.filter(
            status__in=OPEN_STATUSES, relative_confirmed_at__isnull=True, relative_is_minor=False
        )


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
    relationship = models.CharField(_("relationship"), max_length=24, choices=Relationship.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=LinkStatus.choices, default=LinkStatus.PENDING
    )
    scope_balance = models.BooleanField(_("see the balance"), default=False)
    scope_records = models.BooleanField(_("see payment record and expenses"), default=False)
    scope_pay = models.BooleanField(_("pay from the prior-years surplus"), default=False)
    # Run errands for the member: cross-region filing, chronic-disease application.
    scope_errands = models.BooleanField(_("run errands for the member"), default=False)
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

    # The relative's own consent (docs/adr/0017): an adult relative confirms
    # in their account; a minor's link rests on the document and the review.
    relative_is_minor = models.BooleanField(_("relative under 18 at the request"), default=False)
    relative_confirmed_at = models.DateTimeField(
        _("confirmed by the relative"), null=True, blank=True
    )
    # Expiry: the term runs from the approval; NULL expires_at = until ended.
    term = models.CharField(
        _("term"), max_length=4, choices=LinkTerm.choices, default=LinkTerm.ONE_YEAR
    )
    expires_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    renewed_at = models.DateTimeField(null=True, blank=True)
    # The expires_at a reminder / an expiry event was recorded for (once each).
    reminded_for = models.DateTimeField(null=True, blank=True, editable=False)
    expiry_recorded_for = models.DateTimeField(null=True, blank=True, editable=False)

    objects = FamilyLinkQuerySet.as_manager()

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
                condition=Q(scope_balance=True)
                | Q(scope_records=True)
                | Q(scope_pay=True)
                | Q(scope_errands=True),
                name="family_some_scope",
            ),
            models.CheckConstraint(
                condition=Q(pay_yearly_cap_fen__isnull=True) | Q(pay_yearly_cap_fen__gt=0),
                name="family_cap_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="approved", expires_at__isnull=False),
                name="family_link_expiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} -> {self.relative_id} ({self.relationship}, {self.status})"

    def scopes(self) -> list[str]:
        return [
            s
            for s, on in (
                ("balance", self.scope_balance),
                ("records", self.scope_records),
                ("pay", self.scope_pay),
                ("errands", self.scope_errands),
            )
            if on
        ]

    @property
    def consent_given(self) -> bool:
        return self.relative_confirmed_at is not None or self.relative_is_minor

    @property
    def needs_confirmation(self) -> bool:
        return self.status in OPEN_STATUSES and not self.consent_given

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def is_in_effect(self, now: dt.datetime | None = None) -> bool:
        """The same rule as ``FamilyLinkQuerySet.in_effect``, for a loaded row."""
        return (
            self.status == LinkStatus.APPROVED and self.consent_given and not self.is_expired(now)
        )

    @property
    def state(self) -> str:
        """What the member and the relative see: the status, refined."""
        if self.status == LinkStatus.APPROVED:
            if self.is_expired():
                return "expired"
            if not self.consent_given:
                return "awaiting_relative"
            return "in_effect"
        if self.status == LinkStatus.PENDING and not self.consent_given:
            return "pending_both"
        return str(self.status)

    @property
    def is_image(self) -> bool:
        return self.document_type in (DocumentType.JPEG, DocumentType.PNG)
