from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FamilyConfig(AppConfig):
    name = "family"
    verbose_name = _("Family accounts")

    def ready(self) -> None:
        from portal.access import register_rule

        from .selectors import user_holds_scope

        register_rule(user_holds_scope)
