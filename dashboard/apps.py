from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = _("Member pages")

    def ready(self) -> None:
        from . import display  # noqa: F401 (connects the sign-in receiver)
