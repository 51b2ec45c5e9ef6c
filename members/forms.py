from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .auth import clean_login


class SignInForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Identity number, mobile phone or staff username"),
        max_length=150,
        strip=False,  # clean_login strips ASCII white space only
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    error_messages = {
        "invalid_login": _(
            "The identity number, phone or username and password do not match. "
            "Passwords are case-sensitive."
        ),
        "inactive": _("This account is disabled. Please contact the insurance office."),
    }

    def clean_username(self):
        """An identity number goes through the one parser (a bad one is named
        on this field); see members.auth.clean_login."""
        try:
            return clean_login(self.cleaned_data.get("username"))
        except ValidationError as exc:
            raise ValidationError(exc.messages[0], code=exc.code) from None
