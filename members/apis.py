from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.views import APIView

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


class TokenApi(ObtainAuthToken):
    """Exchange an identity number / phone / username and password for an API token."""

    permission_classes = ()
    renderer_classes = ObtainAuthToken.renderer_classes
