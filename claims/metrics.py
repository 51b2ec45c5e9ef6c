"""Settlement gauges for Prometheus, counted at scrape time (portal.metrics)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily


class PendingWorkCollector:
    """Work waiting for settlement, counted when Prometheus scrapes: the
    unfinished batches (one per institution and day) and the rows of the
    narrow settlement work queue."""

    def collect(self):
        from django.db.models import Count

        from claims.models import SettlementBatch, SettlementWork

        batches = GaugeMetricFamily(
            "portal_settlement_batches_pending",
            "Settlement batches not yet done, by status",
            labels=["status"],
        )
        by_status = dict(
            SettlementBatch.objects.exclude(status=SettlementBatch.Status.DONE)
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        for status in (SettlementBatch.Status.PENDING, SettlementBatch.Status.RUNNING):
            batches.add_metric([status], by_status.get(status, 0))
        yield batches

        work = GaugeMetricFamily(
            "portal_settlement_work_pending",
            "Expenses and reversals waiting for settlement, by kind",
            labels=["kind"],
        )
        by_kind = dict(
            SettlementWork.objects.values_list("kind")
            .annotate(n=Count("pk"))
            .values_list("kind", "n")
        )
        for kind in SettlementWork.Kind.values:
            work.add_metric([kind], by_kind.get(kind, 0))
        yield work
