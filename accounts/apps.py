from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Personal accounts")

    def ready(self):
        from django.db.models.signals import post_save

        from portal.metrics import count_ledger_transaction

        from .models import JournalTransaction

        post_save.connect(
            count_ledger_transaction,
            sender=JournalTransaction,
            dispatch_uid="portal-metrics-ledger",
        )
