"""``Authorization: Bearer <token>`` for designated institutions.

Only the institution endpoints use this class (and only this class), so a
member's session or token never reaches them, and an institution token
reaches nothing else.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission

from .models import Institution
from .selectors import institution_for_token_hash
from .services import token_sha256


class InstitutionPrincipal:
    """The ``request.user`` of an institution request (not a portal user)."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_anonymous = False
    pk = None

    def __init__(self, institution: Institution):
        self.institution = institution

    def __str__(self) -> str:
        return f"institution {self.institution.pk}"


class InstitutionTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send Authorization: Bearer <token>."))
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        institution = institution_for_token_hash(token_sha256(raw))
        if institution is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked institution token."))
        return InstitutionPrincipal(institution), institution

    def authenticate_header(self, request):
        return 'Bearer realm="institutions"'


class IsInstitution(BasePermission):
    message = _("This endpoint is for designated institutions (Authorization: Bearer <token>).")

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Institution)
