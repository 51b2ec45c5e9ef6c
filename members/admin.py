from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import InsuredPerson, User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Contact", {"fields": ("phone",)}))
    list_display = ("username", "phone", "is_staff", "is_active")


@admin.register(InsuredPerson)
class InsuredPersonAdmin(admin.ModelAdmin):
    list_display = ("name", "masked_id_number", "insurance_type", "insured_region", "birth_date")
    list_filter = ("insurance_type",)
    search_fields = ("name",)
    readonly_fields = ("birth_date", "sex", "created_at")
    raw_id_fields = ("user",)
