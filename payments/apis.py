from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.fields import AmountApiField
from portal.money import MAX_BASE_FEN, fen_to_yuan

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
    declared_base = serializers.DecimalField(max_digits=12, decimal_places=2)
    base = serializers.DecimalField(max_digits=12, decimal_places=2)
    base_floor = serializers.DecimalField(max_digits=12, decimal_places=2)
    base_cap = serializers.DecimalField(max_digits=12, decimal_places=2)
    clamped = serializers.BooleanField()
    employer_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    individual_rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    employer_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    individual_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    personal_account_credit = serializers.DecimalField(max_digits=12, decimal_places=2)
    retiree_monthly_credit = serializers.DecimalField(max_digits=12, decimal_places=2)


class CalculatorApi(APIView):
    """How much is paid on a monthly base: public, from the policy parameters."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("base", float, required=True, description="yuan, e.g. 8000"),
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
        return Response(
            {
                "region": q.region,
                "year": q.year,
                "declared_base": str(fen_to_yuan(q.declared_base_fen)),
                "base": str(fen_to_yuan(q.base_fen)),
                "base_floor": str(fen_to_yuan(q.floor_fen)),
                "base_cap": str(fen_to_yuan(q.cap_fen)),
                "clamped": q.clamped,
                "employer_rate": str(q.employer_rate),
                "individual_rate": str(q.individual_rate),
                "employer_amount": str(fen_to_yuan(q.employer_fen)),
                "individual_amount": str(fen_to_yuan(q.individual_fen)),
                "total": str(fen_to_yuan(q.total_fen)),
                "personal_account_credit": str(fen_to_yuan(q.credit_fen)),
                "retiree_monthly_credit": str(fen_to_yuan(q.retiree_credit_fen)),
            }
        )
