from django.contrib import admin

from .admin_mixins import PersonDataAdminMixin
from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(PersonDataAdminMixin, admin.ModelAdmin):
    """Reading the trail shows whose data was seen: that is audited too."""

    audit_person_attr = "subject_person_id"
    list_display = ("at", "actor_label", "action", "subject_person", "object_type", "object_id")
    list_filter = ("action",)
    list_select_related = ("subject_person",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
