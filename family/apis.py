"""REST API for family accounts: the same services, selectors and permission
layer as the pages."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from access.lookups import (
    document_for_request,
    link_for_request,
    person_access,
    person_for_request,
)
from access.rules import Scope, is_verified_staff
from access.viewer import viewer_for, viewer_of_user
from audit.services import audit_view
from members.fields import IdNumberSerializerField
from members.selectors import person_for_user
from portal.errors import ApplicationError
from portal.fields import AmountApiField, YuanField, yuan_text
from portal.money import MAX_YEARLY_CAP_FEN
from portal.parsers import JSONParser
from portal.security import IsVerifiedStaff

from . import selectors, services, views
from .models import DocumentKind, FamilyLink, LinkStatus, LinkTerm, Relationship
from .services import AGREEMENT_VERSION


def _link_data(link: FamilyLink, user) -> dict:
    full = is_verified_staff(viewer_of_user(user))  # full identity numbers: access.LinkAccess
    return LinkOutput(link, context={"full_id_numbers": full}).data


class PartyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    id_number = serializers.SerializerMethodField(help_text="masked except for staff")

    def get_id_number(self, person) -> str:
        if self.context.get("full_id_numbers"):
            return person.id_number
        return person.masked_id_number


class LinkOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=LinkStatus.choices)
    relationship = serializers.ChoiceField(choices=Relationship.choices)
    member = PartyOutput()
    relative = PartyOutput()
    scopes = serializers.ListField(child=serializers.CharField())
    pay_yearly_cap = YuanField(
        source="pay_yearly_cap_fen", allow_null=True, help_text="null: no cap"
    )
    consent_version = serializers.CharField()
    consent_at = serializers.DateTimeField()
    document_kind = serializers.ChoiceField(choices=DocumentKind.choices)
    document_type = serializers.CharField()
    document_size = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField(
        help_text="pending, pending_both, awaiting_relative, in_effect, expired, rejected, "
        "declined or ended"
    )
    in_effect = serializers.BooleanField(source="is_in_effect")
    relative_is_minor = serializers.BooleanField()
    relative_confirmed_at = serializers.DateTimeField(allow_null=True)
    term = serializers.ChoiceField(choices=LinkTerm.choices)
    expires_at = serializers.DateTimeField(allow_null=True)


class QueueItemOutput(LinkOutput):
    age_seconds = serializers.IntegerField()


class LinksOutput(serializers.Serializer):
    agreement_version = serializers.CharField()
    granted = LinkOutput(many=True)
    received = LinkOutput(many=True)


class GrantMemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class GrantOutput(serializers.Serializer):
    link = serializers.IntegerField(source="pk")
    member = GrantMemberOutput()
    relationship = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    pay_yearly_cap = serializers.SerializerMethodField(
        help_text="yuan, two decimals; null without the pay scope or without a cap"
    )

    def get_pay_yearly_cap(self, link) -> str | None:
        if not link.scope_pay or link.pay_yearly_cap_fen is None:
            return None
        return yuan_text(link.pay_yearly_cap_fen)


class PocketsOutput(serializers.Serializer):
    """A personal account's balance, split by pocket."""

    current_year = YuanField(source="current_fen")
    prior_years = YuanField(source="prior_fen")
    total = YuanField(source="total_fen")


class ContributionRecordOutput(serializers.Serializer):
    period = serializers.DateField()
    base = YuanField(source="base_fen")
    employer = YuanField(source="employer_fen")
    individual = YuanField(source="individual_fen")
    credited = YuanField(source="credited_fen")
    status = serializers.CharField()


class ExpenseRecordOutput(serializers.Serializer):
    service_date = serializers.DateField()
    total = YuanField(source="total_fen")
    fund = YuanField(source="fund_fen")
    account = YuanField(source="account_fen")
    cash = YuanField(source="cash_fen")


class RecordsOutput(serializers.Serializer):
    """Each list is null when the viewer may not see it."""

    contributions = ContributionRecordOutput(many=True, allow_null=True)
    expenses = ExpenseRecordOutput(many=True, allow_null=True)


class MaskedPersonOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    id_number = serializers.CharField(source="masked_id_number")


class PersonViewOutput(serializers.Serializer):
    """What a viewer may see of a member: each part only with its scope."""

    person = MaskedPersonOutput()
    scopes = serializers.ListField(child=serializers.CharField())
    balance = PocketsOutput(
        required=False, allow_null=True, help_text="with the balance scope; null: no account"
    )
    pay_yearly_cap = YuanField(
        source="pay_yearly_cap_fen",
        required=False,
        allow_null=True,
        help_text="with the pay scope; null: no cap",
    )
    records = RecordsOutput(required=False, help_text="with the records scope")
    has_personal_account = serializers.BooleanField(
        help_text="false: the resident scheme, no personal account (balance is null)"
    )
    pay_not_eligible = serializers.BooleanField(
        help_text="the link grants pay but the rules refuse it now (e.g. another province)"
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        held = {"person", "scopes", "has_personal_account", "pay_not_eligible"} | set(instance)
        held |= {"pay_yearly_cap"} if "pay_yearly_cap_fen" in instance else set()
        return {key: value for key, value in data.items() if key in held}


class CounterPersonOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    id_number = serializers.CharField(help_text="in full: staff at the counter")


class CounterOutput(serializers.Serializer):
    member = CounterPersonOutput()
    link = serializers.IntegerField()
    balance = PocketsOutput(allow_null=True, help_text="null: no personal account")
    records = RecordsOutput()


class LinkInput(serializers.Serializer):
    agree = serializers.BooleanField(default=False)
    agreement_version = serializers.CharField(default="")
    name = serializers.CharField(max_length=50)
    id_number = IdNumberSerializerField()
    relationship = serializers.ChoiceField(choices=Relationship.choices)
    term = serializers.ChoiceField(choices=LinkTerm.choices, default=LinkTerm.ONE_YEAR)
    scope_balance = serializers.BooleanField(default=False)
    scope_records = serializers.BooleanField(default=False)
    scope_pay = serializers.BooleanField(default=False)
    scope_errands = serializers.BooleanField(default=False)
    pay_yearly_cap = AmountApiField(
        max_fen=MAX_YEARLY_CAP_FEN,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="yuan, e.g. 2000.00; empty for no cap",
    )
    document_kind = serializers.ChoiceField(choices=DocumentKind.choices)
    document = serializers.FileField(required=False, allow_empty_file=True)


class LinkListApi(APIView):
    """GET: the links the signed-in member added (``granted``) and those naming
    them as the relative (``received``). POST (multipart): add a relative."""

    parser_classes = [MultiPartParser, FormParser]
    upload_max_bytes_setting = "FAMILY_UPLOAD_MAX_BYTES"  # portal.uploads

    @extend_schema(responses=LinksOutput, operation_id="family_links_list")
    def get(self, request):
        person = person_for_user(request.user)
        if person is None:
            granted, received = [], []
        else:
            granted = list(selectors.links_granted_by(person).select_related("member"))
            received = list(selectors.links_received_by(person).select_related("relative"))
        full = request.user.is_staff
        return Response(
            LinksOutput(
                {
                    "agreement_version": AGREEMENT_VERSION,
                    "granted": granted,
                    "received": received,
                },
                context={"full_id_numbers": full},
            ).data
        )

    @extend_schema(request={"multipart/form-data": LinkInput}, responses={201: LinkOutput})
    def post(self, request):
        person = person_for_user(request.user)
        if person is None:
            raise PermissionDenied()
        ser = LinkInput(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        link = services.link_request(
            member=person,
            actor=request.user,
            agreed=data["agree"],
            agreement_version=data["agreement_version"],
            name=data["name"],
            id_number=data["id_number"],
            relationship=data["relationship"],
            scope_balance=data["scope_balance"],
            scope_records=data["scope_records"],
            scope_pay=data["scope_pay"],
            scope_errands=data["scope_errands"],
            pay_yearly_cap_fen=data.get("pay_yearly_cap"),
            document_kind=data["document_kind"],
            document=request.FILES.get("document"),
            term=data["term"],
            request=request,
        )
        link = link_for_request(request, link.pk)
        return Response(_link_data(link, request.user), status=201)


class LinkDetailApi(APIView):
    @extend_schema(responses=LinkOutput)
    def get(self, request, pk: int):
        link = link_for_request(request, pk)
        return Response(_link_data(link, request.user))


class LinkEndApi(APIView):
    """The member revokes, or the relative leaves. Access ends at once."""

    @extend_schema(request=None, responses=LinkOutput)
    def post(self, request, pk: int):
        link = link_for_request(request, pk)
        try:
            link = services.link_end(link=link, user=request.user, request=request)
        except ApplicationError as exc:
            if exc.status_code == 403:
                raise PermissionDenied() from None
            raise
        return Response(_link_data(link, request.user))


class LinkConfirmApi(APIView):
    """The relative confirms a link naming them (it takes effect once approved too)."""

    @extend_schema(request=None, responses=LinkOutput)
    def post(self, request, pk: int):
        link = selectors.link_for_user(request.user, pk)
        try:
            link = services.link_confirm(link=link, user=request.user, request=request)
        except ApplicationError as exc:
            if exc.status_code == 403:
                raise PermissionDenied() from None
            raise
        return Response(_link_data(selectors.link_for_user(request.user, pk), request.user))


class LinkDeclineApi(APIView):
    """The relative declines a link they have not confirmed; it never takes effect."""

    @extend_schema(request=None, responses=LinkOutput)
    def post(self, request, pk: int):
        link = selectors.link_for_user(request.user, pk)
        try:
            services.link_decline(link=link, user=request.user, request=request)
        except ApplicationError as exc:
            if exc.status_code == 403:
                raise PermissionDenied() from None
            raise
        return Response(_link_data(selectors.link_for_user(request.user, pk), request.user))


class LinkDocumentApi(APIView):
    """The uploaded document (member who uploaded it, staff)."""

    # The stored document as it was checked: a PDF, or a re-encoded JPEG or PNG.
    @extend_schema(
        responses={
            (200, "application/pdf"): bytes,
            (200, "image/jpeg"): bytes,
            (200, "image/png"): bytes,
        }
    )
    def get(self, request, pk: int):
        return views.document_response(request, document_for_request(request, pk))


class GrantListApi(APIView):
    """Members who granted the signed-in user access: the accounts to switch to."""

    @extend_schema(responses={200: GrantOutput(many=True)})
    def get(self, request):
        return Response(GrantOutput(selectors.grants_for_user(request.user), many=True).data)


class PersonViewApi(APIView):
    """What the signed-in user may see of a member, and only that."""

    @extend_schema(responses=PersonViewOutput)
    def get(self, request, person_id: int):
        access = person_access(viewer_for(request), person_id)
        person = access.require()
        held = [str(s) for s in (Scope.BALANCE, Scope.RECORDS, Scope.PAY) if access.may(s)]
        access.audit(request, *held)
        data: dict = {
            "person": person,
            "scopes": held,
            "has_personal_account": person.has_personal_account,
            "pay_not_eligible": access.pay_granted_not_eligible,
        }
        if "balance" in held:
            # As the page: no personal account (the resident scheme) is not ¥0.00.
            data["balance"] = (
                selectors.pocket_balances_of(person) if person.has_personal_account else None
            )
        if "pay" in held:
            data["pay_yearly_cap_fen"] = access.link.pay_yearly_cap_fen if access.link else None
        if "records" in held:
            data["records"] = selectors.records_of(person)
        return Response(PersonViewOutput(data).data)


class ReviewQueueApi(APIView):
    """Staff: pending requests, oldest first, with their age in seconds, 20 at
    a time. The next page's URL is in the ``Link`` header (``rel="next"``),
    absent on the last page."""

    permission_classes = [IsVerifiedStaff]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", str, description="cursor of the next page (from the Link header)"
            )
        ],
        responses=QueueItemOutput(many=True),
    )
    def get(self, request):
        now = timezone.now()
        page, next_cursor = selectors.review_queue(after=request.GET.get("after"))
        audit_view(
            actor=request.user,
            action="family.review.list",
            persons=[pk for link in page for pk in (link.member_id, link.relative_id)],
            detail={"links": [link.pk for link in page]},
            request=request,
        )
        for link in page:
            link.age_seconds = int((now - link.created_at).total_seconds())
        full = request.user.is_staff
        response = Response(
            QueueItemOutput(page, many=True, context={"full_id_numbers": full}).data
        )
        if next_cursor:
            url = request.build_absolute_uri(f"{request.path}?after={next_cursor}")
            response["Link"] = f'<{url}>; rel="next"'
        return response


class DecisionInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewDecideApi(APIView):
    permission_classes = [IsVerifiedStaff]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=DecisionInput, responses=LinkOutput)
    def post(self, request, pk: int):
        ser = DecisionInput(data=request.data)
        ser.is_valid(raise_exception=True)
        if ser.validated_data["decision"] == "approve":
            link = services.link_approve(link_id=pk, reviewer=request.user, request=request)
        else:
            link = services.link_reject(
                link_id=pk,
                reviewer=request.user,
                reason=ser.validated_data["reason"],
                request=request,
            )
        link = link_for_request(request, link.pk)
        return Response(_link_data(link, request.user))


class CounterInput(serializers.Serializer):
    member_id_number = IdNumberSerializerField()
    relative_id_number = IdNumberSerializerField()


class CounterApi(APIView):
    """Staff at the counter: a member's payment record for a relative holding an
    approved power of attorney."""

    permission_classes = [IsVerifiedStaff]

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=CounterInput, responses=CounterOutput)
    def post(self, request):
        ser = CounterInput(data=request.data)
        ser.is_valid(raise_exception=True)
        member, link = services.counter_lookup(
            staff_user=request.user, request=request, **ser.validated_data
        )
        person = person_for_request(request, member.pk, Scope.RECORDS)
        b = selectors.pocket_balances_of(person)
        records = selectors.records_of(person)
        return Response(
            CounterOutput(
                {"member": person, "link": link.pk, "balance": b, "records": records}
            ).data
        )
