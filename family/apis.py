"""REST API for family accounts: the same services, selectors and permission
layer as the pages."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import audit_view
from members.fields import IdNumberSerializerField
from members.selectors import person_for_user
from portal.errors import ApplicationError
from portal.fields import AmountApiField
from portal.money import MAX_YEARLY_CAP_FEN
from portal.parsers import JSONParser
from portal.security import IsVerifiedStaff

from . import selectors, services, views
from .models import DocumentKind, FamilyLink, Relationship
from .services import AGREEMENT_VERSION


def _link_data(link: FamilyLink, user) -> dict:
    full = user.is_staff
    return {
        "id": link.pk,
        "status": link.status,
        "relationship": link.relationship,
        "member": {
            "id": link.member_id,
            "name": link.member.name,
            "id_number": link.member.id_number if full else link.member.masked_id_number,
        },
        "relative": {
            "id": link.relative_id,
            "name": link.relative.name,
            "id_number": link.relative.id_number if full else link.relative.masked_id_number,
        },
        "scopes": link.scopes(),
        "pay_yearly_cap_fen": link.pay_yearly_cap_fen,
        "consent_version": link.consent_version,
        "consent_at": link.consent_at.isoformat(),
        "document_kind": link.document_kind,
        "document_type": link.document_type,
        "document_size": link.document_size,
        "created_at": link.created_at.isoformat(),
        "reviewed_at": link.reviewed_at.isoformat() if link.reviewed_at else None,
        "reason": link.reason,
        "ended_at": link.ended_at.isoformat() if link.ended_at else None,
    }


def _records_data(records: dict) -> dict:
    contributions = records["contributions"]
    expenses = records["expenses"]
    return {
        "contributions": None
        if contributions is None
        else [
            {
                "period": c.period.isoformat(),
                "base_fen": c.base_fen,
                "employer_fen": c.employer_fen,
                "individual_fen": c.individual_fen,
                "credited_fen": c.credited_fen,
                "status": c.status,
            }
            for c in contributions
        ],
        "expenses": None
        if expenses is None
        else [
            {
                "service_date": e.service_date.isoformat(),
                "total_fen": e.total_fen,
                "fund_fen": e.fund_fen,
                "account_fen": e.account_fen,
                "cash_fen": e.cash_fen,
            }
            for e in expenses
        ],
    }


class PartyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    id_number = serializers.CharField(help_text="masked except for staff")


class LinkOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending", "approved", "rejected", "ended"])
    relationship = serializers.ChoiceField(choices=Relationship.choices)
    member = PartyOutput()
    relative = PartyOutput()
    scopes = serializers.ListField(child=serializers.CharField())
    pay_yearly_cap_fen = serializers.IntegerField(allow_null=True)
    consent_version = serializers.CharField()
    consent_at = serializers.DateTimeField()
    document_kind = serializers.ChoiceField(choices=DocumentKind.choices)
    document_type = serializers.CharField()
    document_size = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    ended_at = serializers.DateTimeField(allow_null=True)


class QueueItemOutput(LinkOutput):
    age_seconds = serializers.IntegerField()


LinksOutput = inline_serializer(
    "FamilyLinks",
    {
        "agreement_version": serializers.CharField(),
        "granted": LinkOutput(many=True),
        "received": LinkOutput(many=True),
    },
)
GrantOutput = inline_serializer(
    "FamilyGrant",
    many=True,
    fields={
        "link": serializers.IntegerField(),
        "member": inline_serializer(
            "FamilyGrantMember", {"id": serializers.IntegerField(), "name": serializers.CharField()}
        ),
        "relationship": serializers.CharField(),
        "scopes": serializers.ListField(child=serializers.CharField()),
        "pay_yearly_cap_fen": serializers.IntegerField(allow_null=True),
    },
)


class LinkInput(serializers.Serializer):
    agree = serializers.BooleanField(default=False)
    agreement_version = serializers.CharField(default="")
    name = serializers.CharField(max_length=50)
    id_number = IdNumberSerializerField()
    relationship = serializers.ChoiceField(choices=Relationship.choices)
    scope_balance = serializers.BooleanField(default=False)
    scope_records = serializers.BooleanField(default=False)
    scope_pay = serializers.BooleanField(default=False)
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
            return Response({"granted": [], "received": [], "agreement_version": AGREEMENT_VERSION})
        return Response(
            {
                "agreement_version": AGREEMENT_VERSION,
                "granted": [
                    _link_data(link, request.user)
                    for link in selectors.links_granted_by(person).select_related("member")
                ],
                "received": [
                    _link_data(link, request.user)
                    for link in selectors.links_received_by(person).select_related("relative")
                ],
            }
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
            pay_yearly_cap_fen=data.get("pay_yearly_cap"),
            document_kind=data["document_kind"],
            document=request.FILES.get("document"),
            request=request,
        )
        link = selectors.link_for_user(request.user, link.pk)
        return Response(_link_data(link, request.user), status=201)


class LinkDetailApi(APIView):
    @extend_schema(responses=LinkOutput)
    def get(self, request, pk: int):
        link = selectors.link_for_user(request.user, pk)
        return Response(_link_data(link, request.user))


class LinkEndApi(APIView):
    """The member revokes, or the relative leaves. Access ends at once."""

    @extend_schema(request=None, responses=LinkOutput)
    def post(self, request, pk: int):
        link = selectors.link_for_user(request.user, pk)
        try:
            link = services.link_end(link=link, user=request.user, request=request)
        except ApplicationError as exc:
            if exc.status_code == 403:
                raise PermissionDenied() from None
            raise
        return Response(_link_data(link, request.user))


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
        return views.document_response(request, selectors.document_for_user(request.user, pk))


class GrantListApi(APIView):
    """Members who granted the signed-in user access: the accounts to switch to."""

    @extend_schema(responses={200: GrantOutput})
    def get(self, request):
        return Response(
            [
                {
                    "link": link.pk,
                    "member": {"id": link.member_id, "name": link.member.name},
                    "relationship": link.relationship,
                    "scopes": link.scopes(),
                    "pay_yearly_cap_fen": link.pay_yearly_cap_fen if link.scope_pay else None,
                }
                for link in selectors.grants_for_user(request.user)
            ]
        )


class PersonViewApi(APIView):
    """What the signed-in user may see of a member, and only that."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, person_id: int):
        person, held = views._held_scopes(request, person_id)
        data = {
            "person": {
                "id": person.pk,
                "name": person.name,
                "id_number": person.masked_id_number,
            },
            "scopes": held,
        }
        if "balance" in held:
            b = selectors.pocket_balances_of(person)
            data["balance"] = (
                None
                if b is None
                else {
                    "current_fen": b.current_fen,
                    "prior_fen": b.prior_fen,
                    "total_fen": b.total_fen,
                }
            )
        if "pay" in held:
            grant = selectors.grant_for(request.user, person.pk)
            data["pay_yearly_cap_fen"] = grant.pay_yearly_cap_fen if grant else None
        if "records" in held:
            data["records"] = _records_data(selectors.records_of(person))
        return Response(data)


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
        response = Response(
            [
                {
                    **_link_data(link, request.user),
                    "age_seconds": int((now - link.created_at).total_seconds()),
                }
                for link in page
            ]
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
        link = selectors.link_for_user(request.user, link.pk)
        return Response(_link_data(link, request.user))


class CounterInput(serializers.Serializer):
    member_id_number = IdNumberSerializerField()
    relative_id_number = IdNumberSerializerField()


class CounterApi(APIView):
    """Staff at the counter: a member's payment record for a relative holding an
    approved power of attorney."""

    permission_classes = [IsVerifiedStaff]

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=CounterInput, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        ser = CounterInput(data=request.data)
        ser.is_valid(raise_exception=True)
        member, link = services.counter_lookup(
            staff_user=request.user, request=request, **ser.validated_data
        )
        from portal.access import Scope, person_for_viewer

        person = person_for_viewer(request.user, member.pk, scope=Scope.RECORDS, request=request)
        b = selectors.pocket_balances_of(person)
        records = selectors.records_of(person)
        return Response(
            {
                "member": {"id": person.pk, "name": person.name, "id_number": person.id_number},
                "link": link.pk,
                "balance": None
                if b is None
                else {
                    "current_fen": b.current_fen,
                    "prior_fen": b.prior_fen,
                    "total_fen": b.total_fen,
                },
                "records": _records_data(records),
            }
        )
