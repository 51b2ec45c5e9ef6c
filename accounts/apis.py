from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from access.lookups import person_for_request
from access.rules import Scope
from access.viewer import viewer_for
from portal.fields import YuanField, yuan_text

from .selectors import pocket_balances


class BalanceOutput(serializers.Serializer):
    person_id = serializers.IntegerField()
    currency = serializers.ChoiceField(choices=["CNY"])
    current_year = YuanField(source="current_fen")
    prior_years = YuanField(source="prior_fen")
    total = YuanField(source="total_fen")


def _balance_body(person) -> dict:
    """The person's balance, split by pocket: what ``BalanceOutput`` (the
    documented shape) gives, built directly. A serializer instance copies its
    fields on every request, a tenth of this API's cost (issue 16); the test
    holds the two equal."""
    balances = pocket_balances(person)
    return {
        "person_id": person.pk,
        "currency": "CNY",
        "current_year": yuan_text(balances.current_fen),
        "prior_years": yuan_text(balances.prior_fen),
        "total": yuan_text(balances.total_fen),
    }


class OwnBalanceApi(APIView):
    """The signed-in member's personal-account balance, split by pocket."""

    @extend_schema(operation_id="accounts_own_balance", responses=BalanceOutput)
    def get(self, request):
        person = viewer_for(request).person
        if person is None:
            raise Http404
        return Response(_balance_body(person))


class PersonBalanceApi(APIView):
    """Another person's balance, for a relative granted the balance scope or staff."""

    @extend_schema(operation_id="accounts_person_balance", responses=BalanceOutput)
    def get(self, request, person_id: int):
        person = person_for_request(request, person_id, Scope.BALANCE)
        return Response(_balance_body(person))
