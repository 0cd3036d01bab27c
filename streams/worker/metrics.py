"""The worker's metrics: what each flow's processor counts, read when /metrics is scraped.

The engine keeps its own counters (``FlowProcessor.processed``, ``emitted``, ...) for /ready and its logs;
a custom collector exposes them as they are, so the engine needs no Prometheus object of its own. Its timings
(``FlowProcessor.timings``, tallies on the shared latency buckets) are exposed as histograms the same way."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.flows.engine.processor import FlowProcessor
from streams.flows.engine.timing import FlowTimings
from streams.metrics.tally import Tally, histogram_family

#: Each counter family of a flow: name, help, and its value in one processor.
_COUNTERS: tuple[tuple[str, str, Callable[[FlowProcessor], float]], ...] = (
    ("isthmus_flow_records_total", "Input records processed by a flow.", lambda p: p.processed),
    ("isthmus_flow_emitted_total", "Records a flow emitted (commands, views, audit, dead letters).",
     lambda p: p.emitted),
    ("isthmus_flow_processing_seconds_total", "Time a flow's handler spent on its records.",
     lambda p: p.processing_seconds),
    ("isthmus_flow_dead_letters_total", "Input records a flow sent to the dead-letter topic.",
     lambda p: p.dead_lettered),
    ("isthmus_flow_transactions_total", "Kafka transactions a flow committed.", lambda p: p.transactions),
)

#: Each histogram of a flow's timings (``streams/flows/engine/timing.py``): name, help, and its tally.
_TIMINGS: tuple[tuple[str, str, Callable[[FlowTimings], Tally]], ...] = (
    ("isthmus_flow_record_wait_seconds", "Per input record: its Kafka timestamp to the start of the handler over "
     "its batch (time waited before the flow worked on it).", lambda t: t.record_wait),
    ("isthmus_flow_batch_queue_seconds", "Per batch: fetched to handler start (waiting behind other tasks).",
     lambda t: t.batch_queue),
    ("isthmus_flow_handler_seconds", "Per batch: the handler over its records and the stores' flush, wall time.",
     lambda t: t.handler),
    ("isthmus_flow_handler_cpu_seconds", "Per batch: the handler's CPU time (the event loop's thread).",
     lambda t: t.handler_cpu),
    ("isthmus_flow_commit_wait_seconds", "Per transaction: its batches handled to the task's previous one "
     "completed.",
     lambda t: t.commit_wait),
    ("isthmus_flow_commit_seconds", "Per transaction: begin to committed.", lambda t: t.commit),
)


class WorkerCollector(Collector):
    def __init__(self, worker_id: str, processors: Sequence[FlowProcessor], unavailable: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.worker_id = worker_id
        self.processors = processors
        self.unavailable = unavailable
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        labels = ["worker", "flow"]
        for name, text, value in _COUNTERS:
            counter = CounterMetricFamily(name, text, labels=labels)
            for p in self.processors:
                counter.add_metric([self.worker_id, p.spec.name], value(p))
            yield counter
        events = CounterMetricFamily("isthmus_flow_events_total",
                                     "Events a flow counted: echoes_suppressed, conflicts, ...",
                                     labels=[*labels, "event"])
        for p in self.processors:
            for event, n in sorted(p.events.items()):
                events.add_metric([self.worker_id, p.spec.name, event], n)
        yield events
        tasks = GaugeMetricFamily("isthmus_flow_tasks", "Tasks (partitions) a flow runs in this worker.",
                                  labels=labels)
        for p in self.processors:
            tasks.add_metric([self.worker_id, p.spec.name], len(p.tasks))
        yield tasks
        yield from self._parked(labels)
        left_out = GaugeMetricFamily("isthmus_flow_unavailable",
                                     "A selected flow left out: it cannot be built (see /health).", labels=labels)
        for flow in self.unavailable:
            left_out.add_metric([self.worker_id, flow], 1)
        yield left_out
        failing = GaugeMetricFamily("isthmus_flow_failing", "1 while a flow cannot go on: Kafka refuses a record "
                                    "it writes, whichever retry, or it keeps restarting with no commit (see /health).",
                                    labels=labels)
        for p in self.processors:
            failing.add_metric([self.worker_id, p.spec.name], 0 if p.failing_reason() is None else 1)
        yield failing
        for name, text, tally in _TIMINGS:
            yield histogram_family(name, text, labels,
                                   (([self.worker_id, p.spec.name], tally(p.timings)) for p in self.processors))


    def _parked(self, labels: list[str]) -> Iterable[Metric]:
        """What each flow's tasks hold back, as their last tick (every few seconds) counted it."""
        parked = GaugeMetricFamily("isthmus_flow_parked_records",
                                   "Records (and documents waiting for their party's account) a flow holds back "
                                   "until a look-up they need arrives.", labels=labels)
        oldest = GaugeMetricFamily("isthmus_flow_parked_oldest_seconds",
                                   "How long the oldest parked record of a flow has waited (0: none waits).",
                                   labels=labels)
        now = self.clock()
        for p in self.processors:
            if p.spec.tick is None:
                continue
            waiting = p.waiting
            parked.add_metric([self.worker_id, p.spec.name], waiting.records)
            since = waiting.oldest_since_s
            oldest.add_metric([self.worker_id, p.spec.name], 0.0 if since is None else max(0.0, now - since))
        yield parked
        yield oldest


def worker_registry(worker_id: str, processors: Sequence[FlowProcessor],
                    unavailable: Mapping[str, str]) -> CollectorRegistry:
    """The worker process's registry (its own, not prometheus_client's global one)."""
    registry = CollectorRegistry()
    registry.register(WorkerCollector(worker_id, processors, unavailable))
    return registry
