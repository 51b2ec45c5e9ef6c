from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import EventType


class EmailForm(forms.Form):
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )


class PasswordResetRequestForm(forms.Form):
    email = forms.CharField(
        label=_("Your confirmed e-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )


def preference_choices(data) -> dict[str, dict[str, bool]]:
    """The checkboxes of the preferences form, one pair per event type."""
    return {
        t: {"email": data.get(f"email_{t}") == "on", "digest": data.get(f"digest_{t}") == "digest"}
        for t in EventType.values
    }
