"""Sign-in page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from portal.security import address_lockout_message, is_address_locked_out

from .forms import SignInForm


class SignInView(auth_views.LoginView):
    """Django's sign-in page with our form. A bad identity number is a 400
    naming the field; a wrong password stays a 200 with the form again; an
    address locked out for failures across accounts is a 429 with the reason."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if is_address_locked_out(self.request):
            # Too many failures from this address across accounts: the reason,
            # and 429 (portal.security, docs/adr/0004).
            response.context_data["lockout_message"] = address_lockout_message()
            response.status_code = 429
        elif form.has_error("username"):
            response.status_code = 400
        return response
