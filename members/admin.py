from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from portal.errors import ApplicationError

from .auth import meant_as_id_number
from .idnumber import looks_like_id_number, parse_id_number
from .models import InsuredPerson, User
from .selectors import person_by_id_number
from .services import staff_enrolment_code_issue


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Contact", {"fields": ("phone",)}))
    list_display = ("username", "phone", "is_staff", "is_active")
    actions = ["issue_enrolment_codes"]

    @admin.action(description=_("Issue a two-step enrolment code"), permissions=["change"])
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


@admin.register(InsuredPerson)
class InsuredPersonAdmin(admin.ModelAdmin):
    """Identity numbers are shown masked; search finds a person by the exact
    number (through the look-up hash; the clear number is not searchable).
    People are registered through members.services.person_create."""

    list_display = ("name", "masked_id_number", "insurance_type", "insured_region", "birth_date")
    list_filter = ("insurance_type",)
    search_fields = ("name",)
    search_help_text = _("Search by name, or by a full identity number.")
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

    @admin.display(description=_("identity number"))
    def masked_id_number(self, obj):
        return obj.masked_id_number

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        """A term meant as an identity number goes through the one parser: a
        good one finds its person by the look-up hash, a bad one (full-width
        digits, a wrong check character, ...) finds nobody and the page says
        why with a 400 (``changelist_view``)."""
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
