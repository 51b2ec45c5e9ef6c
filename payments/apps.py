from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Contributions")

    def ready(self):
        from django.db.models.signals import post_save

        from portal.metrics import count_import

        from .models import ImportBatch

        post_save.connect(count_import, sender=ImportBatch, dispatch_uid="portal-metrics-import")
