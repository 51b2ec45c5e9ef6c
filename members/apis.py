from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from access.viewer import viewer_for
from portal.errors import ApplicationError
from portal.security import (
    address_lockout_message,
    cooloff_minutes,
    is_address_locked_out,
    is_locked_out,
    lockout_message,
)
from portal.throttles import signin_cooloff_seconds

from .auth import clean_login
from .models import MemberToken
from .selectors import person_for_user
from .services import member_token_create, member_token_revoke


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.auth.MemberTokenAuthentication"
    name = "memberToken"
    priority = 1  # over drf-spectacular's scheme for TokenAuthentication subclasses

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>`, the key from `POST /api/v1/auth/token/` (shown once; "
                "it expires, and a password change or signing out everywhere revokes it)."
            ),
        }


class OwnPersonOutput(serializers.Serializer):
    """The owner's own insured-person record: the owner sees the number in full."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    id_number = serializers.CharField()
    birth_date = serializers.DateField()
    sex = serializers.CharField()
    insurance_type = serializers.CharField()
    insured_region = serializers.CharField()


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    person = OwnPersonOutput(allow_null=True)


class MeApi(APIView):
    """Who is signed in, and (for a member) their own insured-person record."""

    @extend_schema(responses=MeOutput)
    def get(self, request):
        person = person_for_user(request.user)
        data = {
            "username": request.user.get_username(),
            "is_staff": viewer_for(request).staff_account,
            "person": None,
        }
        if person is not None:
            # The owner sees their own number in full.
            data["person"] = person
        return Response(MeOutput(data).data)


class TokenInput(AuthTokenSerializer):
    username = serializers.CharField(label="username", write_only=True, trim_whitespace=False)

    def validate_username(self, value):
        """The same check as the sign-in page (members.auth.clean_login)."""
        try:
            return clean_login(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.messages[0], code=exc.code) from None


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once; only its SHA-256 is stored.")
    expires_at = serializers.DateTimeField()


class TokenApi(APIView):
    """Exchange an identity number / phone / username and password for an API
    token (POST), or revoke the token the request is made with (DELETE).

    Every POST makes a new token, valid for ``MEMBER_TOKEN_SECONDS``; only its
    SHA-256 is stored (members.models.MemberToken)."""

    permission_classes = ()
    # The API's parsers (JSON bounded in size and depth).
    parser_classes = APIView.parser_classes

    @extend_schema(request=TokenInput, responses=TokenOutput)
    def post(self, request, *args, **kwargs):
        try:
            serializer = TokenInput(data=request.data, context={"request": request})
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            if is_address_locked_out(request):
                raise ApplicationError(
                    address_lockout_message(),
                    code="address_locked_out",
                    status_code=429,
                    extra={"retry_after_minutes": round(signin_cooloff_seconds() / 60)},
                ) from None
            # django-axes refused (or just locked) this account: say so, and
            # not "wrong password", so the member knows to wait or call.
            if is_locked_out(request):
                raise ApplicationError(
                    lockout_message(),
                    code="locked_out",
                    status_code=429,
                    extra={"retry_after_minutes": cooloff_minutes()},
                ) from None
            raise
        token, raw = member_token_create(user=serializer.validated_data["user"])
        return Response(TokenOutput({"token": raw, "expires_at": token.expires_at}).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, *args, **kwargs):
        if not isinstance(request.auth, MemberToken):
            raise NotAuthenticated(_("Send the token to revoke: Authorization: Token <key>."))
        member_token_revoke(token=request.auth)
        return Response(status=204)
