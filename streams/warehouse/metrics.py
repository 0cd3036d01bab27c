"""The warehouse loader's metrics: rows loaded and rejected, and batch times, read at each scrape."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.warehouse.loader import Loader


class LoaderCollector(Collector):
    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def collect(self) -> Iterable[Metric]:
        loader, name = self.loader, self.loader.worker_id
        for metric, text, value in (
                ("isthmus_warehouse_rows_loaded_total", "Row changes written to the warehouse tables.", loader.loaded),
                ("isthmus_warehouse_rows_rejected_total",
                 "Canonical records the cleaning rules refused (dead-lettered, stage warehouse.load).",
                 loader.rejected),
                ("isthmus_warehouse_batches_total", "Batches committed (rows and positions in one PostgreSQL "
                 "transaction).", loader.batches)):
            family = CounterMetricFamily(metric, text, labels=["loader"])
            family.add_metric([name], value)
            yield family
        yield from loader.batch_seconds.collect()


def loader_registry(loader: Loader) -> CollectorRegistry:
    """The loader process's registry (its own, not prometheus_client's global one)."""
    registry = CollectorRegistry()
    registry.register(LoaderCollector(loader))
    return registry
