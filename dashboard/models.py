"""Certificates the portal issued, so that /verify/ can show exactly what was
printed (docs/adr/0010-certificates.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CertificateKind(models.TextChoices):
    PAYMENT_RECORD = "payment_record", _("Payment record certificate")
    INSURANCE = "insurance", _("Insurance certificate")


class IssuedCertificate(models.Model):
    # 14 random characters and a check character from an alphabet without
    # look-alikes (dashboard/certificates.py CODE_ALPHABET).
    code = models.CharField(max_length=15, unique=True)
    kind = models.CharField(max_length=32, choices=CertificateKind.choices)
    person = models.ForeignKey("members.InsuredPerson", on_delete=models.PROTECT, related_name="+")
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)
    # Exactly what the certificate prints (the identity number masked): the
    # only thing /verify/ shows.
    content = models.JSONField()

    class Meta:
        verbose_name = _("issued certificate")
        verbose_name_plural = _("issued certificates")

    def __str__(self) -> str:
        return self.code


class DisplayPreference(models.Model):
    """How a member likes the portal shown, kept across devices. The elderly
    mode (长辈版): larger type, higher contrast, the main tasks first."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="display_preference"
    )
    elderly_mode = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("display preference")
        verbose_name_plural = _("display preferences")

    def __str__(self) -> str:
        return f"{self.user_id}: elderly={self.elderly_mode}"


class ReadBump(models.Model):
    """One row per person per statement that changed what their pages show,
    appended by database triggers only (migration 0004, docs/adr/0006): a
    person's read version is the sum of ``weight`` over their rows and person
    0's. ``dashboard.tasks.compact_read_versions`` folds a person's rows into
    one with the same sum."""

    id = models.BigAutoField(primary_key=True)
    person_id = models.BigIntegerField()
    weight = models.BigIntegerField(default=1)

    class Meta:
        db_table = "dashboard_readbump"
        indexes = [models.Index(fields=["person_id", "weight"], name="dashboard_readbump_person")]

    def __str__(self) -> str:
        return f"person {self.person_id} +{self.weight}"
