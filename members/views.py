"""Sign-in page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from .forms import SignInForm


class SignInView(auth_views.LoginView):
    """Django's sign-in page with our form. A bad identity number is a 400
    naming the field; a wrong password stays a 200 with the form again."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("username"):
            response.status_code = 400
        return response
