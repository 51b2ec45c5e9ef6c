"""The institution API: submit an expense, read it, reverse (refund) it."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from members.fields import IdNumberSerializerField
from portal.errors import ApplicationError
from portal.fields import AmountApiField
from portal.money import MAX_EXPENSE_LINE_FEN, fen_to_yuan

from . import selectors, services
from .auth import InstitutionTokenAuthentication, IsInstitution
from .models import CareType, CatalogClass, Expense


class InstitutionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "claims.auth.InstitutionTokenAuthentication"
    name = "institutionToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A designated institution's API token.",
        }


class LineIn(serializers.Serializer):
    catalog_class = serializers.ChoiceField(choices=CatalogClass.values)
    description = serializers.CharField(max_length=200, required=False, default="")
    amount = AmountApiField(max_fen=MAX_EXPENSE_LINE_FEN)


class ExpenseIn(serializers.Serializer):
    patient_id_number = IdNumberSerializerField()
    service_date = serializers.DateField()
    care_type = serializers.ChoiceField(choices=CareType.values)
    lines = LineIn(many=True, allow_empty=False, max_length=500)


class ReversalIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


def expense_out(expense: Expense) -> dict:
    y = fen_to_yuan
    return {
        "id": expense.pk,
        "status": expense.status,
        "patient": {
            "name": expense.patient.name,
            # Never echo the full identity number to an institution.
            "id_number": expense.patient.masked_id_number,
        },
        "service_date": expense.service_date.isoformat(),
        "care_type": expense.care_type,
        "total": str(y(expense.total_fen)),
        "fund": str(y(expense.fund_fen)),
        "account": str(y(expense.account_fen)),
        "cash": str(y(expense.cash_fen)),
        "self_borne": str(y(expense.self_borne_fen)),
        "self_funded": str(y(expense.self_funded_fen)),
        "parts": [
            {
                "payer": p.payer,
                "component": p.component,
                "amount": str(y(p.amount_fen)),
                "reason": p.reason,
                **({"relative": p.grantor.name} if p.grantor_id else {}),
            }
            for p in expense.parts.all()
        ],
        "balance_after": {
            "current_year": (
                None
                if expense.balance_current_after_fen is None
                else str(y(expense.balance_current_after_fen))
            ),
            "prior_years": (
                None
                if expense.balance_prior_after_fen is None
                else str(y(expense.balance_prior_after_fen))
            ),
        },
        "reversed_at": expense.reversed_at.isoformat() if expense.reversed_at else None,
        "settled": selectors.expense_is_settled(expense),
    }


class InstitutionApi(APIView):
    authentication_classes = [InstitutionTokenAuthentication]
    permission_classes = [IsInstitution]


IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=True,
    description="The same key returns the same result; with another body: 409.",
)


class ExpenseSubmitApi(InstitutionApi):
    """Submit an expense; the response carries the split with a reason for each part."""

    @extend_schema(parameters=[IDEMPOTENCY], request=ExpenseIn, responses={201: dict})
    def post(self, request):
        data = ExpenseIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        expense, _created = services.expense_submit(
            institution=request.auth,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            patient_id_number=v["patient_id_number"],
            service_date=v["service_date"],
            care_type=v["care_type"],
            lines=[
                services.LineInput(
                    catalog_class=ln["catalog_class"],
                    amount_fen=ln["amount"],
                    description=ln["description"],
                )
                for ln in v["lines"]
            ],
        )
        expense = selectors.expense_for_institution(request.auth, expense.pk)
        return Response(expense_out(expense), status=201)


def _own_expense(request, expense_id) -> Expense:
    expense = selectors.expense_for_institution(request.auth, expense_id)
    if expense is None:
        raise ApplicationError(
            _("No expense with this id was submitted by this institution."),
            code="not_found",
            status_code=404,
        )
    return expense


class ExpenseDetailApi(InstitutionApi):
    @extend_schema(responses={200: dict})
    def get(self, request, expense_id: int):
        return Response(expense_out(_own_expense(request, expense_id)))


class ExpenseReversalApi(InstitutionApi):
    """Refund an expense: reversing ledger entries; reversing twice returns the first."""

    @extend_schema(request=ReversalIn, responses={200: dict})
    def post(self, request, expense_id: int):
        data = ReversalIn(data=request.data)
        data.is_valid(raise_exception=True)
        expense = services.expense_reverse(
            institution=request.auth, expense_id=expense_id, reason=data.validated_data["reason"]
        )
        return Response(expense_out(_own_expense(request, expense.pk)))
