from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from audit.admin_mixins import PersonDataAdminMixin
from portal.errors import ApplicationError

from .auth import meant_as_id_number
from .idnumber import contains_id_number, looks_like_id_number, parse_id_number
from .models import InsuredPerson, User
from .selectors import person_by_id_number
from .services import staff_enrolment_code_issue


@admin.register(User)
class PortalUserAdmin(PersonDataAdminMixin, UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Contact", {"fields": ("phone",)}))
    list_display = ("username", "phone", "is_staff", "is_active")
    actions = ["issue_enrolment_codes"]

    @admin.action(description=_lazy("Issue a two-step enrolment code"), permissions=["change"])
    def issue_enrolment_codes(self, request, queryset):
        """Shows each new code once, on this answer page (never stored in
        clear, not put in a message that would sit in the session)."""
        issued, refused = [], []
        for user in queryset.order_by("username"):
            try:
                code, shown = staff_enrolment_code_issue(
                    user=user, issued_by=request.user, request=request
                )
            except ApplicationError:
                refused.append(user)
            else:
                issued.append((user, code, shown))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Two-step enrolment codes"),
            "issued": issued,
            "refused": refused,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/members/enrolment_codes.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def audit_persons(self, objects):
        return InsuredPerson.objects.filter(user__in=objects).values_list("pk", flat=True)


@admin.register(InsuredPerson)
class InsuredPersonAdmin(PersonDataAdminMixin, admin.ModelAdmin):
    """Identity numbers are shown masked. The search box posts (so a number
    never lands in a URL or an access log, docs/adr/0004): a term meant as an
    identity number goes through the one parser, and a good one finds its
    person by the look-up hash; the list then shows that person by id. Any
    other text searches names. People are registered through
    members.services.person_create."""

    audit_person_attr = "pk"
    change_list_template = "admin/members/insuredperson/change_list.html"
    list_display = ("name", "masked_id_number", "insurance_type", "insured_region", "birth_date")
    list_filter = ("insurance_type",)
    search_fields = ("name",)
    search_help_text = _lazy("Search by name, or by a full identity number.")
    fields = (
        "name",
        "masked_id_number",
        "insurance_type",
        "insured_region",
        "user",
        "birth_date",
        "sex",
        "created_at",
    )
    readonly_fields = ("masked_id_number", "birth_date", "sex", "created_at")
    raw_id_fields = ("user",)

    @admin.display(description=_lazy("identity number"))
    def masked_id_number(self, obj):
        return obj.masked_id_number

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        search = self.admin_site.admin_view(require_POST(self.search_view))
        return [
            path("search/", search, name="members_insuredperson_search"),
            *super().get_urls(),
        ]

    def search_view(self, request):
        """POST ``q``. A term meant as an identity number: a good one -> the
        list showing its person (``?id__exact=<id>``, ``0`` when nobody holds
        it); a bad one -> the empty list with the parser's reason. Other text
        -> the usual name search (``?q=``)."""
        changelist = reverse("admin:members_insuredperson_changelist")
        term = request.POST.get("q") or ""
        if meant_as_id_number(term) or looks_like_id_number(term):
            person = None
            try:
                number = parse_id_number(term)
            except ValidationError as exc:
                reason = exc.messages[0]
                messages.error(request, _("Identity number: %(error)s") % {"error": reason})
            else:
                person = person_by_id_number(number.value)
                if person is None:
                    messages.warning(
                        request, _("Nobody with this identity number is insured here.")
                    )
            return redirect(f"{changelist}?{urlencode({'id__exact': person.pk if person else 0})}")
        term = term.strip()
        if contains_id_number(term):
            messages.error(
                request, _("Type the whole 18-character identity number, or search by name.")
            )
            return redirect(changelist)
        return redirect(f"{changelist}?{urlencode({'q': term})}" if term else changelist)

    def get_search_results(self, request, queryset, search_term):
        """A GET search holding a number is refused before this (the mixin);
        what still looks meant as one (a few non-ASCII digits) goes through
        the one parser, and a bad one finds nobody with a 400 saying why."""
        if meant_as_id_number(search_term) or looks_like_id_number(search_term):
            try:
                number = parse_id_number(search_term)
            except ValidationError as exc:
                request._id_number_search_error = exc.messages[0]
                return queryset.none(), False
            person = person_by_id_number(number.value)
            return queryset.filter(pk=person.pk if person else None), False
        return super().get_search_results(request, queryset, search_term)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        error = getattr(request, "_id_number_search_error", None)
        if error:
            messages.error(
                request, _("Identity number: %(error)s") % {"error": error}, fail_silently=True
            )
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            response.status_code = 400
        return response
