from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = _("Expenses and settlement")

    def ready(self):
        from portal.metrics import register_scrape_collector

        from .metrics import PendingWorkCollector

        register_scrape_collector(PendingWorkCollector())
