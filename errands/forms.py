from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from members.regions import cities

from .models import FilingDocumentKind, FilingKind

FILE_WIDGET = forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png"})


class DateInput(forms.DateInput):
    input_type = "date"


class FilingForm(forms.Form):
    """Input shape only; the rules live in services.filing_submit."""

    kind = forms.ChoiceField(
        label=_("Kind of filing"), choices=FilingKind.choices, widget=forms.RadioSelect
    )
    destination = forms.ChoiceField(label=_("Where you will be treated"))
    start_date = forms.DateField(label=_("From"), widget=DateInput)
    end_date = forms.DateField(
        label=_("Until (temporary trip only)"), required=False, widget=DateInput
    )
    document_kind = forms.ChoiceField(
        label=_("Document (long-term residence only)"),
        choices=[("", "—"), *FilingDocumentKind.choices],
        required=False,
    )
    document = forms.FileField(
        label=_("Proof of residence or signed commitment letter (PDF, JPEG or PNG)"),
        required=False,
        allow_empty_file=True,
        widget=FILE_WIDGET,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [("", "—"), *cities()]


class ChronicForm(forms.Form):
    disease = forms.ChoiceField(label=_("Disease"))
    document = forms.FileField(
        label=_("Medical document: diagnosis or hospital record (PDF, JPEG or PNG)"),
        allow_empty_file=True,
        error_messages={"required": _("Please attach the medical document.")},
        widget=FILE_WIDGET,
    )

    def __init__(self, *args, diseases=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["disease"].choices = [("", "—")] + [(d.code, d.display_name) for d in diseases]


class ChronicApproveForm(forms.Form):
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput)
    valid_until = forms.DateField(label=_("Valid until"), widget=DateInput)
