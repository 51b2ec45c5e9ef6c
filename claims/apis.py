"""The institution API: submit an expense, read it, reverse (refund) it."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from members.fields import IdNumberSerializerField
from portal.errors import ApplicationError
from portal.fields import AmountApiField, YuanField, yuan_text
from portal.money import MAX_EXPENSE_LINE_FEN

from . import selectors, services
from .auth import InstitutionTokenAuthentication, IsInstitution
from .models import CareType, CatalogClass, Expense, ExpenseStatus


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
    chronic_disease = serializers.CharField(
        max_length=8,
        required=False,
        default="",
        allow_blank=True,
        help_text="A chronic or special outpatient disease code (outpatient or pharmacy care "
        "only): the disease's own policy applies when the patient holds an approved application.",
    )


class FilingCheckIn(serializers.Serializer):
    patient_id_number = IdNumberSerializerField()
    date = serializers.DateField(required=False)


class ReversalIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class PatientOutput(serializers.Serializer):
    name = serializers.CharField()
    # Never echo the full identity number to an institution.
    id_number = serializers.CharField(
        source="masked_id_number", help_text="masked: an institution never sees it in full"
    )


class PartOutput(serializers.Serializer):
    payer = serializers.CharField()
    component = serializers.CharField()
    amount = YuanField(source="amount_fen")
    reason = serializers.CharField()
    relative = serializers.SerializerMethodField(
        help_text="the relative who paid this part from their account; null otherwise"
    )

    def get_relative(self, part) -> str | None:
        return part.grantor.name if part.grantor_id else None


class BalanceAfterOutput(serializers.Serializer):
    """The patient's pockets after the expense; null for another's payment."""

    current_year = YuanField(source="balance_current_after_fen", allow_null=True)
    prior_years = YuanField(source="balance_prior_after_fen", allow_null=True)


class CrossRegionOutput(serializers.Serializer):
    cross_region = serializers.BooleanField(help_text="treated outside the insured city")
    filed = serializers.BooleanField(help_text="with a valid cross-region filing")


class ChronicDiseaseOutput(serializers.Serializer):
    code = serializers.CharField(help_text="the disease the institution tagged")
    applied = serializers.BooleanField(help_text="its approved outpatient policy applied")


class ExpenseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ExpenseStatus.values)
    patient = PatientOutput()
    service_date = serializers.DateField()
    care_type = serializers.ChoiceField(choices=CareType.values)
    total = YuanField(source="total_fen")
    fund = YuanField(source="fund_fen")
    account = YuanField(source="account_fen")
    cash = YuanField(source="cash_fen")
    self_borne = YuanField(source="self_borne_fen")
    self_funded = YuanField(source="self_funded_fen")
    parts = PartOutput(many=True, source="parts.all")
    balance_after = BalanceAfterOutput(source="*")
    cross_region = serializers.SerializerMethodField()
    chronic_disease = serializers.SerializerMethodField()
    reversed_at = serializers.DateTimeField(allow_null=True)
    settled = serializers.SerializerMethodField()

    def get_settled(self, expense) -> bool:
        return selectors.expense_is_settled(expense)

    @extend_schema_field(CrossRegionOutput)
    def get_cross_region(self, expense) -> dict:
        basis = expense.basis or {}
        return {
            "cross_region": bool(basis.get("cross_region")),
            "filed": bool(basis.get("filed")),
        }

    @extend_schema_field(ChronicDiseaseOutput(allow_null=True))
    def get_chronic_disease(self, expense) -> dict | None:
        basis = expense.basis or {}
        if not basis.get("chronic_disease"):
            return None
        return {"code": basis["chronic_disease"], "applied": bool(basis.get("chronic_applied"))}


def expense_out(expense: Expense) -> dict:
    return ExpenseOutput(expense).data


def _yuan_or_none(fen: int | None) -> str | None:
    return None if fen is None else yuan_text(fen)


def submitted_out(expense: Expense) -> dict:
    """``expense_out`` of an expense this request has just written (accepted,
    never reversed; not settled: its settlement work was queued in the same
    transaction), built from what was written: its parts with their grantors
    and its patient came back with it. Plain Python rather than a serializer
    field per value, on every submission; the same dict, key for key
    (tests/claims/test_lean_submission.py compares it with ``ExpenseOutput``)."""
    patient = expense.patient
    basis = expense.basis or {}
    return {
        "id": expense.pk,
        "status": str(expense.status),
        "patient": {"name": patient.name, "id_number": patient.masked_id_number},
        "service_date": expense.service_date.isoformat(),
        "care_type": str(expense.care_type),
        "total": yuan_text(expense.total_fen),
        "fund": yuan_text(expense.fund_fen),
        "account": yuan_text(expense.account_fen),
        "cash": yuan_text(expense.cash_fen),
        "self_borne": yuan_text(expense.self_borne_fen),
        "self_funded": yuan_text(expense.self_funded_fen),
        "parts": [
            {
                "payer": str(part.payer),
                "component": str(part.component),
                "amount": yuan_text(part.amount_fen),
                "reason": part.reason,
                "relative": part.grantor.name if part.grantor_id else None,
            }
            for part in expense.parts.all()
        ],
        "balance_after": {
            "current_year": _yuan_or_none(expense.balance_current_after_fen),
            "prior_years": _yuan_or_none(expense.balance_prior_after_fen),
        },
        "cross_region": {
            "cross_region": bool(basis.get("cross_region")),
            "filed": bool(basis.get("filed")),
        },
        "chronic_disease": (
            {"code": basis["chronic_disease"], "applied": bool(basis.get("chronic_applied"))}
            if basis.get("chronic_disease")
            else None
        ),
        "reversed_at": None,
        "settled": False,
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

    @extend_schema(parameters=[IDEMPOTENCY], request=ExpenseIn, responses={201: ExpenseOutput})
    def post(self, request):
        data = ExpenseIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        expense, created = services.expense_submit(
            institution=request.auth,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            patient_id_number=v["patient_id_number"],
            service_date=v["service_date"],
            care_type=v["care_type"],
            chronic_disease=v["chronic_disease"],
            lines=[
                services.LineInput(
                    catalog_class=ln["catalog_class"],
                    amount_fen=ln["amount"],
                    description=ln["description"],
                )
                for ln in v["lines"]
            ],
        )
        if not created:  # a replay: the expense as it stands now (settled, refunded)
            expense = selectors.expense_for_institution(request.auth, expense.pk)
            return Response(expense_out(expense), status=201)
        # Just written in this request: answered from what was written, not
        # read again.
        return Response(submitted_out(expense), status=201)


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
    @extend_schema(responses={200: ExpenseOutput})
    def get(self, request, expense_id: int):
        return Response(expense_out(_own_expense(request, expense_id)))


class ExpenseReversalApi(InstitutionApi):
    """Refund an expense: reversing ledger entries; reversing twice returns the first."""

    @extend_schema(request=ReversalIn, responses={200: ExpenseOutput})
    def post(self, request, expense_id: int):
        data = ReversalIn(data=request.data)
        data.is_valid(raise_exception=True)
        expense = services.expense_reverse(
            institution=request.auth, expense_id=expense_id, reason=data.validated_data["reason"]
        )
        return Response(expense_out(_own_expense(request, expense.pk)))


class FilingOutput(serializers.Serializer):
    kind = serializers.CharField()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField(allow_null=True)


class FilingCheckOutput(serializers.Serializer):
    date = serializers.DateField()
    cross_region = serializers.BooleanField(help_text="the institution is in another city")
    filed = serializers.BooleanField()
    filing = FilingOutput(allow_null=True)


class FilingCheckApi(InstitutionApi):
    """Does the patient hold a cross-region treatment filing for this
    institution's city, valid on ``date`` (default today)? The identity number
    goes in the body, never in the address."""

    @extend_schema(request=FilingCheckIn, responses={200: FilingCheckOutput})
    def post(self, request):
        data = FilingCheckIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        answer = services.filing_check(
            institution=request.auth,
            patient_id_number=v["patient_id_number"],
            day=v.get("date"),
        )
        return Response(FilingCheckOutput(answer).data)
