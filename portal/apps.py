from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from .metrics import connect_metrics
        from .observability import connect_request_log_signals

        connect_request_log_signals()
        connect_metrics()
