from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from audit.admin_mixins import PersonDataAdminMixin

from .idnumber import contains_id_number, looks_like_id_number
from .models import InsuredPerson, User
from .selectors import person_by_id_number


@admin.register(User)
class PortalUserAdmin(PersonDataAdminMixin, UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Contact", {"fields": ("phone",)}))
    list_display = ("username", "phone", "is_staff", "is_active")

    def audit_persons(self, objects):
        return InsuredPerson.objects.filter(user__in=objects).values_list("pk", flat=True)


@admin.register(InsuredPerson)
class InsuredPersonAdmin(PersonDataAdminMixin, admin.ModelAdmin):
    """Identity numbers are shown masked. The search box posts (so a number
    never lands in a URL or an access log): a full identity number is looked
    up through its keyed hash and the list then shows that person by id; any
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
        """POST ``q``: a full identity number -> the list showing that person
        (``?id__exact=<id>``, no number in the address); other text -> the
        usual name search."""
        changelist = reverse("admin:members_insuredperson_changelist")
        term = (request.POST.get("q") or "").strip()
        if looks_like_id_number(term):
            person = person_by_id_number(term)
            if person is None:
                messages.warning(request, _("Nobody with this identity number is insured here."))
            return redirect(f"{changelist}?{urlencode({'id__exact': person.pk if person else 0})}")
        if contains_id_number(term):
            messages.error(
                request, _("Type the whole 18-character identity number, or search by name.")
            )
            return redirect(changelist)
        return redirect(f"{changelist}?{urlencode({'q': term})}" if term else changelist)
