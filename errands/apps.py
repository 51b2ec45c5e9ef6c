from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ErrandsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "errands"
    verbose_name = _("Member errands")
