from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.fields import AmountFormField
from portal.money import MAX_BASE_FEN

REGION = RegexValidator(r"^\d{6}$", _("A region code is 6 digits, e.g. 110100."))


class CalculatorForm(forms.Form):
    base = AmountFormField(
        label=_("Monthly contribution base (yuan)"),
        max_fen=MAX_BASE_FEN,
        help_text=_("Usually last year's average monthly salary."),
    )
    region = forms.CharField(
        label=_("Region code"), max_length=6, min_length=6, validators=[REGION]
    )
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)

    @staticmethod
    def defaults() -> dict:
        return {"region": settings.PORTAL_DEFAULT_REGION, "year": timezone.localdate().year}


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Contributions file (CSV, UTF-8)"),
        help_text=_(
            "Columns: id_number, period (YYYY-MM), base, employer_amount, individual_amount, "
            "payer (employer/individual), paid_on (YYYY-MM-DD), status (paid/arrears/refunded)."
        ),
    )
