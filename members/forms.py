from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class SignInForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Identity number, mobile phone or staff username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    error_messages = {
        "invalid_login": _(
            "The identity number, phone or username and password do not match. "
            "Passwords are case-sensitive."
        ),
        "inactive": _("This account is disabled. Please contact the insurance office."),
    }
