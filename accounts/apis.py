from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from members.selectors import person_for_user
from portal.access import Scope, person_for_viewer
from portal.money import fen_to_yuan

from .selectors import pocket_balances


class BalanceOutput(serializers.Serializer):
    person_id = serializers.IntegerField()
    currency = serializers.CharField()
    current_year = serializers.DecimalField(max_digits=14, decimal_places=2)
    prior_years = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)


def _balance_body(person) -> dict:
    """The BalanceOutput shape, built directly (a fixed shape asked for on
    every app start and refresh: no serializer round trip). Amounts as
    strings, like every decimal in this API."""
    balances = pocket_balances(person)
    return {
        "person_id": person.pk,
        "currency": "CNY",
        "current_year": str(fen_to_yuan(balances.current_fen)),
        "prior_years": str(fen_to_yuan(balances.prior_fen)),
        "total": str(fen_to_yuan(balances.total_fen)),
    }


class OwnBalanceApi(APIView):
    """The signed-in member's personal-account balance, split by pocket."""

    @extend_schema(operation_id="accounts_own_balance", responses=BalanceOutput)
    def get(self, request):
        person = person_for_user(request.user)
        if person is None:
            raise Http404
        return Response(_balance_body(person))


class PersonBalanceApi(APIView):
    """Another person's balance, for a relative granted the balance scope or staff."""

    @extend_schema(operation_id="accounts_person_balance", responses=BalanceOutput)
    def get(self, request, person_id: int):
        person = person_for_viewer(request.user, person_id, scope=Scope.BALANCE, request=request)
        return Response(_balance_body(person))
