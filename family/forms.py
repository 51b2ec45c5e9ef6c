from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from members.fields import IdNumberFormField
from portal.fields import AmountFormField
from portal.money import MAX_YEARLY_CAP_FEN

from .models import DocumentKind, LinkTerm, Relationship
from .policy import FamilyPolicy
from .services import AGREEMENT_VERSION


class LinkRequestForm(forms.Form):
    """Input shape only; every rule lives in services.link_request."""

    agree = forms.BooleanField(
        label=_("I have read the reminder and agree"),
        error_messages={
            "required": _("Please read the reminder and agree before adding a relative.")
        },
    )
    agreement_version = forms.CharField(widget=forms.HiddenInput, initial=AGREEMENT_VERSION)
    name = forms.CharField(label=_("Relative's name"), max_length=50)
    id_number = IdNumberFormField(
        label=_("Relative's identity number"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text"}),
    )
    relationship = forms.ChoiceField(label=_("The relative is my"), choices=Relationship.choices)
    term = forms.ChoiceField(
        label=_("The link runs for"),
        choices=LinkTerm.choices,
        initial=LinkTerm.ONE_YEAR,
        required=False,  # not sent (an older page, a script): one year, the shortest
        help_text=_("From the approval. You can renew it, change it or end it at any time."),
    )
    scope_balance = forms.BooleanField(label=_("See my balance"), required=False)
    scope_records = forms.BooleanField(
        label=_("See my payment record and expenses"), required=False
    )
    scope_pay = forms.BooleanField(
        label=_("Pay their medical expenses from my prior-years surplus"), required=False
    )
    scope_errands = forms.BooleanField(
        label=_("Run errands for me (cross-region filing, chronic-disease application)"),
        required=False,
    )
    pay_yearly_cap = AmountFormField(
        label=_("Yearly cap for payments (yuan, leave empty for no cap)"),
        required=False,
        max_fen=MAX_YEARLY_CAP_FEN,
    )
    document_kind = forms.ChoiceField(label=_("Document"), choices=DocumentKind.choices)
    document = forms.FileField(
        label=_("Signed document (PDF, JPEG or PNG)"),
        allow_empty_file=True,
        error_messages={"required": _("Please attach the signed document.")},
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png"}),
    )

    def __init__(
        self, *args, has_kept_document: bool = False, policy: FamilyPolicy | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        if policy is not None:
            # Only what the member's region allows today (the service checks again).
            self.fields["relationship"].choices = policy.relationship_choices()
            self.fields["term"].choices = policy.term_choices()
        # A file kept from a refused submit stands in for a new one.
        self.fields["document"].required = not has_kept_document

    def clean_term(self):
        return self.cleaned_data.get("term") or LinkTerm.ONE_YEAR

    def clean(self):
        """Every shape problem at once (the service checks them again, and
        then what needs the register)."""
        data = super().clean()
        if not any(
            data.get(f) for f in ("scope_balance", "scope_records", "scope_pay", "scope_errands")
        ):
            self.add_error("scope_balance", _("Choose at least one thing the relative may do."))
        return data


class ChangeForm(forms.Form):
    """What the relative may do: the member changes it without ending the link."""

    scope_balance = forms.BooleanField(label=_("See my balance"), required=False)
    scope_records = forms.BooleanField(
        label=_("See my payment record and expenses"), required=False
    )
    scope_pay = forms.BooleanField(
        label=_("Pay their medical expenses from my prior-years surplus"), required=False
    )
    pay_yearly_cap = AmountFormField(
        label=_("Yearly cap for payments (yuan, leave empty for no cap)"),
        required=False,
        max_fen=MAX_YEARLY_CAP_FEN,
    )

    def clean(self):
        data = super().clean()
        if not (data.get("scope_balance") or data.get("scope_records") or data.get("scope_pay")):
            self.add_error("scope_balance", _("Choose at least one thing the relative may do."))
        return data


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class CounterForm(forms.Form):
    member_id_number = IdNumberFormField(label=_("Member's identity number"))
    relative_id_number = IdNumberFormField(
        label=_("Relative's identity number (holder of the power of attorney)")
    )
