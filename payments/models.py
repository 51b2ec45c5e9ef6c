"""Contributions (缴费记录) and the policy parameters they are computed from.

See docs/domain.md and docs/adr/0002-rollover-and-crediting.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PolicyYear(models.Model):
    """The policy parameters of one region and year, edited in the admin.

    ``region`` is a 6-digit administrative code. A member's policy is the row of
    their insured region, else of its city (``1101xx`` -> ``110100``), else of
    its province (``11xxxx`` -> ``110000``): see ``payments.selectors.policy_for``.
    """

    region = models.CharField(_("region code"), max_length=6)
    year = models.PositiveSmallIntegerField(_("year"))
    average_wage_fen = models.BigIntegerField(
        _("average monthly wage (fen)"),
        help_text=_("The regional average monthly wage the base floor and cap derive from."),
    )
    base_floor_ratio = models.DecimalField(
        _("base floor (ratio of the average wage)"), max_digits=5, decimal_places=4
    )
    base_cap_ratio = models.DecimalField(
        _("base cap (ratio of the average wage)"), max_digits=5, decimal_places=4
    )
    employer_rate = models.DecimalField(_("employer rate"), max_digits=5, decimal_places=4)
    individual_rate = models.DecimalField(_("individual rate"), max_digits=5, decimal_places=4)
    credit_rate = models.DecimalField(
        _("personal-account credit rate"),
        max_digits=5,
        decimal_places=4,
        help_text=_(
            "Share of an in-service employee's own contribution credited to the personal "
            "account (1 = all of it)."
        ),
    )
    retiree_monthly_credit_fen = models.BigIntegerField(
        _("retiree monthly credit (fen)"),
        help_text=_("Fixed monthly credit to a retiree's personal account, from the pooled fund."),
    )
    resident_individual_fen = models.BigIntegerField(
        _("resident scheme: individual contribution (fen a year)"),
        null=True,
        blank=True,
        help_text=_(
            "The urban-rural resident scheme's individual contribution for the year. Empty: a "
            "relative's contribution for this region and year cannot be paid from a surplus."
        ),
    )

    class Meta:
        verbose_name = _("policy year")
        verbose_name_plural = _("policy years")
        ordering = ["region", "-year"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="policy_one_per_region_year"),
            models.CheckConstraint(
                condition=models.Q(region__regex=r"^\d{6}$"), name="policy_region_6_digits"
            ),
            models.CheckConstraint(
                condition=models.Q(base_floor_ratio__gt=0)
                & models.Q(base_cap_ratio__gte=models.F("base_floor_ratio")),
                name="policy_floor_below_cap",
            ),
            models.CheckConstraint(
                condition=models.Q(average_wage_fen__gt=0, retiree_monthly_credit_fen__gte=0),
                name="policy_amounts_sane",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    employer_rate__gte=0,
                    employer_rate__lt=1,
                    individual_rate__gte=0,
                    individual_rate__lt=1,
                    credit_rate__gte=0,
                    credit_rate__lte=1,
                ),
                name="policy_rates_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(resident_individual_fen__isnull=True)
                | models.Q(resident_individual_fen__gt=0),
                name="policy_resident_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.year}"


class Payer(models.TextChoices):
    EMPLOYER = "employer", _("Employer")
    INDIVIDUAL = "individual", _("Individual (flexible employment)")
    # A relative's prior-years surplus paid it (resident scheme, docs/adr/0018).
    RELATIVE = "relative", _("A relative's prior-years surplus")


class ContributionStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    ARREARS = "arrears", _("Arrears")
    REFUNDED = "refunded", _("Refunded")


class ImportBatch(models.Model):
    """One upload (or command run) of a contributions CSV, with its outcome."""

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    rows_total = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_settled = models.PositiveIntegerField(default=0)  # arrears months now paid
    rows_refunded = models.PositiveIntegerField(default=0)  # paid months refunded
    rows_already = models.PositiveIntegerField(default=0)
    rows_bad = models.PositiveIntegerField(default=0)
    # The whole file was refused (encoding, header): the reason.
    refused = models.TextField(blank=True)
    # The bad-row report (CSV: line, column, value, problem), a file under
    # PRIVATE_MEDIA_ROOT/imports/<report_name>; the first IMPORT_REPORT_MAX_ROWS
    # bad rows in full, then a count (docs/adr/0008).
    report_name = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("contribution import")
        verbose_name_plural = _("contribution imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"


class Contribution(models.Model):
    """One month's contribution of one person.

    ``base_fen`` is the declared base clamped to the policy floor and cap;
    ``declared_base_fen`` keeps what was declared. ``credited_fen`` is what the
    personal account receives (posted to the ledger for paid records, with the
    idempotency key ``contribution:<id>:credit``).
    """

    person = models.ForeignKey(
        "members.InsuredPerson", on_delete=models.PROTECT, related_name="contributions"
    )
    period = models.DateField(_("month"), help_text=_("The first day of the month."))
    declared_base_fen = models.BigIntegerField(_("declared base (fen)"))
    base_fen = models.BigIntegerField(_("contribution base (fen)"))
    employer_fen = models.BigIntegerField(_("employer amount (fen)"))
    individual_fen = models.BigIntegerField(_("individual amount (fen)"))
    credited_fen = models.BigIntegerField(_("credited to the personal account (fen)"))
    payer = models.CharField(_("payer"), max_length=10, choices=Payer.choices)
    paid_on = models.DateField(_("date paid"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ContributionStatus.choices)
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="contributions"
    )
    # The import that turned this arrears month paid (docs/adr/0008).
    settled_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="settled"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contribution")
        verbose_name_plural = _("contributions")
        indexes = [models.Index(fields=["person", "-period", "-id"], name="contrib_person_period")]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "period"],
                condition=~models.Q(status="refunded"),
                name="contribution_one_per_person_month",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    declared_base_fen__gte=0,
                    base_fen__gte=0,
                    employer_fen__gte=0,
                    individual_fen__gte=0,
                    credited_fen__gte=0,
                ),
                name="contribution_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(period__day=1), name="contribution_period_first_of_month"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="paid") | models.Q(paid_on__isnull=False),
                name="contribution_paid_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.period:%Y-%m} {self.status}"

    @property
    def credit_key(self) -> str:
        return f"contribution:{self.pk}:credit"

    @property
    def refund_key(self) -> str:
        return f"contribution:{self.pk}:refund"


class ResidentContributionPayment(models.Model):
    """A relative's urban-rural resident-scheme contribution for one year,
    paid from a member's prior-years surplus (2024 rules; docs/adr/0018).

    One per relative and year, whoever paid it. ``contribution`` is the
    relative's paid record it created; ``ledger_txn`` moved the money (key
    ``resident-contribution:<relative>:<year>``). ``submission`` is the
    confirmation form's token: sending the same form again returns this row.
    """

    relative = models.ForeignKey(
        "members.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="resident_contributions_received",
        verbose_name=_("relative"),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    member = models.ForeignKey(
        "members.InsuredPerson",
        on_delete=models.PROTECT,
        related_name="resident_contributions_paid",
        verbose_name=_("paid by"),
    )
    link = models.ForeignKey("family.FamilyLink", on_delete=models.PROTECT, related_name="+")
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    contribution = models.OneToOneField(
        Contribution, on_delete=models.PROTECT, related_name="family_payment"
    )
    ledger_txn = models.OneToOneField(
        "accounts.JournalTransaction", on_delete=models.PROTECT, related_name="+"
    )
    submission = models.CharField(max_length=64, unique=True, editable=False)
    paid_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("resident contribution paid from a surplus")
        verbose_name_plural = _("resident contributions paid from a surplus")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "-created_at"], name="resident_pay_member")]
        constraints = [
            models.UniqueConstraint(fields=["relative", "year"], name="resident_pay_once_a_year"),
            models.CheckConstraint(
                condition=models.Q(amount_fen__gt=0), name="resident_pay_amount_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(member=models.F("relative")), name="resident_pay_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.relative_id} {self.year} paid by {self.member_id}"

    @property
    def ledger_key(self) -> str:
        return resident_ledger_key(self.relative_id, self.year)


def resident_ledger_key(relative_id: int, year: int) -> str:
    return f"resident-contribution:{relative_id}:{year}"
