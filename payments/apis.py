from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.fields import YUAN_SCHEMA, AmountApiField, YuanField
from portal.money import MAX_BASE_FEN

from .selectors import calculate


class CalculatorInput(serializers.Serializer):
    base = AmountApiField(max_fen=MAX_BASE_FEN)
    region = serializers.RegexField(
        r"^\d{6}$",
        required=False,
        error_messages={"invalid": _("A region code is 6 digits, e.g. 110100.")},
    )
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)


class CalculatorOutput(serializers.Serializer):
    region = serializers.CharField()
    year = serializers.IntegerField()
    declared_base = YuanField(source="declared_base_fen")
    base = YuanField(source="base_fen")
    base_floor = YuanField(source="floor_fen")
    base_cap = YuanField(source="cap_fen")
    clamped = serializers.BooleanField()
    employer_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, help_text="a rate, not money: 0.0900 is 9%"
    )
    individual_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, help_text="a rate, not money: 0.0200 is 2%"
    )
    employer_amount = YuanField(source="employer_fen")
    individual_amount = YuanField(source="individual_fen")
    total = YuanField(source="total_fen")
    personal_account_credit = YuanField(source="credit_fen")
    retiree_monthly_credit = YuanField(source="retiree_credit_fen")


class CalculatorApi(APIView):
    """How much is paid on a monthly base: public, from the policy parameters."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("base", YUAN_SCHEMA, required=True, description="yuan, e.g. 8000.00"),
            OpenApiParameter("region", str, description="6-digit region code"),
            OpenApiParameter("year", int),
        ],
        responses=CalculatorOutput,
    )
    def get(self, request):
        params = CalculatorInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        q = calculate(
            base_fen=data["base"],
            region=data.get("region", settings.PORTAL_DEFAULT_REGION),
            year=data.get("year", timezone.localdate().year),
        )
        return Response(CalculatorOutput(q).data)
