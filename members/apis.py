from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.errors import ApplicationError
from portal.security import cooloff_minutes, is_locked_out, lockout_message

from .auth import clean_login
from .selectors import person_for_user


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    person = serializers.DictField(allow_null=True)


class MeApi(APIView):
    """Who is signed in, and (for a member) their own insured-person record."""

    @extend_schema(responses=MeOutput)
    def get(self, request):
        person = person_for_user(request.user)
        data = {
            "username": request.user.get_username(),
            "is_staff": request.user.is_staff,
            "person": None,
        }
        if person is not None:
            # The owner sees their own number in full.
            data["person"] = {
                "id": person.pk,
                "name": person.name,
                "id_number": person.id_number,
                "birth_date": person.birth_date.isoformat(),
                "sex": person.sex,
                "insurance_type": person.insurance_type,
                "insured_region": person.insured_region,
            }
        return Response(MeOutput(data).data)


class TokenInput(AuthTokenSerializer):
    username = serializers.CharField(label="username", write_only=True, trim_whitespace=False)

    def validate_username(self, value):
        """The same check as the sign-in page (members.auth.clean_login)."""
        try:
            return clean_login(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.messages[0], code=exc.code) from None


class TokenApi(ObtainAuthToken):
    """Exchange an identity number / phone / username and password for an API token."""

    permission_classes = ()
    serializer_class = TokenInput
    renderer_classes = ObtainAuthToken.renderer_classes
    # The API's parsers (JSON bounded in size and depth), not ObtainAuthToken's own.
    parser_classes = APIView.parser_classes

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
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
