from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .idnumber import FEMALE, MALE, mask_id_number, normalise


class User(AbstractUser):
    """Who signs in. Members sign in with their identity number or phone, staff
    with a username; the person behind a member's account is ``user.person``."""

    phone = models.CharField(_("mobile phone"), max_length=20, unique=True, null=True, blank=True)
    # Raised by "sign out everywhere" (members.services.user_sign_out_everywhere):
    # it is part of the session hash, so every session signed in before ends.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def _get_session_auth_hash(self, secret=None):
        # Django's hash covers the password hash only (a password change ends
        # other sessions); ours also covers the generation. Generation 0 gives
        # Django's own value, so sessions from before this field stay valid.
        if not self.session_generation:
            return super()._get_session_auth_hash(secret=secret)
        from django.utils.crypto import salted_hmac

        return salted_hmac(
            "members.User.session_auth_hash",
            f"{self.password}|{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


class MemberToken(models.Model):
    """An API token of a portal user (member, relative or staff), sent as
    ``Authorization: Token <key>`` (members.auth.MemberTokenAuthentication).

    Only the key's SHA-256 is stored: the key is shown once, when it is made
    (``POST /api/v1/auth/token/``), so a database dump holds no working token.
    A token ends at ``expires_at`` (``MEMBER_TOKEN_SECONDS`` after it was made)
    or when revoked: by its own sign-out, a password change, "sign out
    everywhere" or deactivation of the user (members.services)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the key, to tell a member's tokens apart.
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        indexes = [models.Index(fields=["user", "revoked_at"], name="membertoken_user_live")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class InsuranceType(models.TextChoices):
    EMPLOYEE = "employee", _("Employee medical insurance (in service)")
    RETIRED = "retired", _("Employee medical insurance (retired)")
    RESIDENT = "resident", _("Urban-rural resident medical insurance")


class Sex(models.TextChoices):
    MALE = MALE, _("Male")
    FEMALE = FEMALE, _("Female")


class InsuredPerson(models.Model):
    """An insured person (参保人). Birth date and sex are derived from the
    identity number by ``members.services.person_create``, never typed."""

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="person"
    )
    # The identity number is never stored in clear: ``id_number`` (below) is a
    # property over the encrypted column; look-ups go through the keyed hash
    # (members.selectors.person_by_id_number). See members/crypto.py.
    id_number_encrypted = models.TextField(_("identity number (encrypted)"), editable=False)
    id_number_hash = models.CharField(
        _("identity number look-up hash"), max_length=64, unique=True, editable=False
    )
    name = models.CharField(_("name"), max_length=50)
    birth_date = models.DateField(_("birth date"), editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, editable=False)
    insurance_type = models.CharField(
        _("insurance type"), max_length=10, choices=InsuranceType.choices
    )
    # Where the person is insured (6-digit administrative code); the first two
    # digits are the province, which family mutual assistance compares.
    insured_region = models.CharField(_("insured region"), max_length=6)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("insured person")
        verbose_name_plural = _("insured persons")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(insured_region__regex=r"^\d{6}$"),
                name="person_insured_region_6_digits",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked_id_number})"

    @property
    def id_number(self) -> str:
        """The identity number in clear (decrypted once per instance)."""
        plain = self.__dict__.get("_id_number_plain")
        if plain is None and self.id_number_encrypted:
            from .crypto import decrypt

            plain = decrypt(self.id_number_encrypted)
            self.__dict__["_id_number_plain"] = plain
        return plain or ""

    @id_number.setter
    def id_number(self, value: str) -> None:
        from .crypto import encrypt_id_number

        value = normalise(value)
        self.id_number_encrypted, self.id_number_hash = encrypt_id_number(value)
        self.__dict__["_id_number_plain"] = value

    def refresh_from_db(self, *args, **kwargs):
        self.__dict__.pop("_id_number_plain", None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def masked_id_number(self) -> str:
        """What everyone but the owner and authorised staff sees."""
        return mask_id_number(self.id_number)

    @property
    def province_code(self) -> str:
        return self.insured_region[:2]

    @property
    def has_personal_account(self) -> bool:
        """Only the employee scheme has a personal account."""
        return self.insurance_type in (InsuranceType.EMPLOYEE, InsuranceType.RETIRED)

    def age_on(self, day: dt.date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


class StaffEnrolmentCode(models.Model):
    """A one-time code an administrator issues so that a staff member can
    enrol an authenticator app (``manage.py issue_enrolment_code`` or the
    admin action). The password alone never enrols: whoever holds it must also
    hold this code. Only its SHA-256 is stored; it expires
    (``STAFF_ENROLMENT_CODE_SECONDS``) and is used at most once
    (members.services.staff_enrolment_code_redeem)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolment_codes")
    code_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    issued_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("staff enrolment code")
        verbose_name_plural = _("staff enrolment codes")

    def __str__(self) -> str:
        return f"enrolment code {self.pk} ({self.user})"
