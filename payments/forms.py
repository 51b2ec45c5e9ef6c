from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.regions import region_name
from portal.fields import AmountFormField
from portal.money import MAX_BASE_FEN

from .models import PolicyYear
from .services import file_too_large, import_max_bytes

REGION = RegexValidator(r"^\d{6}$", _("A region code is 6 digits, e.g. 110100."))


class CalculatorForm(forms.Form):
    base = AmountFormField(
        label=_("Monthly contribution base (yuan)"),
        max_fen=MAX_BASE_FEN,
        help_text=_("Usually last year's average monthly salary."),
    )
    region = forms.ChoiceField(label=_("Region"))
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The places whose policy parameters are held, by name (GB/T 2260).
        codes = PolicyYear.objects.values_list("region", flat=True).distinct().order_by("region")
        self.fields["region"].choices = [(code, region_name(code)) for code in codes]

    @staticmethod
    def defaults() -> dict:
        return {"region": settings.PORTAL_DEFAULT_REGION, "year": timezone.localdate().year}


class ImportForm(forms.Form):
    """The size is checked before the file is read (docs/adr/0008)."""

    file = forms.FileField(
        label=_("Contributions file (CSV, UTF-8)"),
        help_text=_(
            "Columns: id_number, period (YYYY-MM), base, employer_amount, individual_amount, "
            "payer (employer/individual), paid_on (YYYY-MM-DD), status (paid/arrears/refunded)."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > import_max_bytes():
            raise forms.ValidationError(file_too_large(upload.size).message, code="file_too_large")
        return upload


class CorrectionForm(forms.Form):
    """Staff: find a person's month and mark it paid or refunded, with a reason."""

    MARK_PAID = "mark_paid"
    REFUND = "refund"

    id_number = forms.CharField(label=_("Identity number"), max_length=40)
    period = forms.RegexField(
        label=_("Month (YYYY-MM)"),
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        error_messages={"invalid": _("A month is written YYYY-MM, e.g. 2026-03.")},
    )
    action = forms.ChoiceField(
        label=_("Correction"),
        choices=[
            (MARK_PAID, _("The arrears month was paid")),
            (REFUND, _("The paid month was refunded")),
        ],
    )
    paid_on = forms.DateField(
        label=_("Date paid (YYYY-MM-DD)"),
        required=False,
        help_text=_("Only when marking an arrears month paid."),
    )
    reason = forms.CharField(
        label=_("Reason"), min_length=5, max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == self.MARK_PAID and not data.get("paid_on"):
            self.add_error("paid_on", _("A paid record needs the date paid."))
        return data
