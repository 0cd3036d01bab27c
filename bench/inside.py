"""Inside the worker and the sinks during a latency run: what records waited for versus the work on them.

Each process of the pipeline serves its histograms at /metrics (README "Metrics"): the flows' record wait,
batch queue, handler wall and CPU, commit wait and commit; the sinks' record wait, queue, delivery (the target's
API) and commit. They are scraped before and after each rate, and the difference of each gives that rate's
count, mean and p50/p99 (the upper bound of the bucket holding it, as the dashboard reads them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics.histogram import bucket_quantile

#: What each process's histograms are read as, in the order a record meets them: (process, metric, stage).
#: ``per`` says what one observation is.
STAGES: tuple[tuple[str, str, str, str], ...] = (
    ("worker-customers", "isthmus_flow_record_wait_seconds", "flow: record waits (CDC record → handler start)",
     "record"),
    ("worker-customers", "isthmus_flow_batch_queue_seconds", "flow: batch queue (fetched → handler)", "batch"),
    ("worker-customers", "isthmus_flow_handler_seconds", "flow: handler, wall", "batch"),
    ("worker-customers", "isthmus_flow_handler_cpu_seconds", "flow: handler, CPU", "batch"),
    ("worker-customers", "isthmus_flow_commit_wait_seconds", "flow: waits for the previous transaction", "batch"),
    ("worker-customers", "isthmus_flow_commit_seconds", "flow: transaction", "batch"),
    ("sink-erp", "isthmus_sink_record_wait_seconds", "ERP sink: command waits (produced → fetched)", "command"),
    ("sink-erp", "isthmus_sink_queue_seconds", "ERP sink: queue (fetched → first try)", "command"),
    ("sink-erp", "isthmus_sink_delivery_seconds", "ERP sink: target API (first try → answer)", "command"),
    ("sink-erp", "isthmus_sink_commit_seconds", "ERP sink: transaction", "commit"),
)

#: Series of one histogram: its labels (le excluded) -> (bucket bounds and cumulative counts, sum).
Histograms = dict[str, tuple[list[tuple[float, float]], float]]


@dataclass(frozen=True)
class Spent:
    count: int
    mean_s: float
    p50_s: float | None
    p99_s: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"count": self.count, "mean_s": self.mean_s, "p50_s": self.p50_s, "p99_s": self.p99_s}


def scrape(port: int) -> Histograms:
    """Every histogram a process serves at ``http://127.0.0.1:<port>/metrics``, summed over its label sets
    (the customer worker's one flow, a sink's one target); empty if the process does not answer. The worker
    answers between batches (one event loop), which on a loaded machine can take tens of seconds."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60.0).text
    except httpx.HTTPError:
        return {}
    return read(text)


#: The label a histogram is also split by (a worker process runs several flows): series ``name{flow=x}``.
SPLIT_LABEL = "flow"


def series(metric: str, flow: str) -> str:
    """The key :func:`read` gives one flow's share of a histogram."""
    return f"{metric}{{{SPLIT_LABEL}={flow}}}"


def read(text: str) -> Histograms:
    """Every histogram of an exposition, each summed over its label sets, and, for a histogram labelled by
    flow, each flow's share too (under :func:`series`)."""
    out: Histograms = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        buckets: dict[str, dict[float, float]] = {}
        totals: dict[str, float] = {}
        for sample in family.samples:
            keys = [family.name]
            if SPLIT_LABEL in sample.labels:
                keys.append(series(family.name, sample.labels[SPLIT_LABEL]))
            for key in keys:
                if sample.name == f"{family.name}_bucket":
                    bound = float(sample.labels["le"])
                    into = buckets.setdefault(key, {})
                    into[bound] = into.get(bound, 0.0) + sample.value
                elif sample.name == f"{family.name}_sum":
                    totals[key] = totals.get(key, 0.0) + sample.value
        for key in buckets.keys() | totals.keys():
            out[key] = (sorted(buckets.get(key, {}).items()), totals.get(key, 0.0))
    return out


def spent(before: Histograms, after: Histograms, metric: str) -> Spent | None:
    """What one histogram gained between two scrapes; None when it gained no observation."""
    if metric not in after:
        return None
    later, later_sum = after[metric]
    earlier = dict(before.get(metric, ([], 0.0))[0])
    delta = [(bound, n - earlier.get(bound, 0.0)) for bound, n in later]
    count = int(delta[-1][1]) if delta else 0
    if count <= 0:
        return None
    total = later_sum - before.get(metric, ([], 0.0))[1]
    return Spent(count=count, mean_s=total / count, p50_s=bucket_quantile(delta, 50 / 100),
                 p99_s=bucket_quantile(delta, 99 / 100))


#: A flow's histograms, in the order a record meets them: (metric, stage, what one observation is).
FLOW_METRICS: tuple[tuple[str, str, str], ...] = (
    ("isthmus_flow_record_wait_seconds", "record waits (CDC record → handler start)", "record"),
    ("isthmus_flow_batch_queue_seconds", "batch queue (fetched → handler)", "batch"),
    ("isthmus_flow_handler_seconds", "handler, wall", "batch"),
    ("isthmus_flow_handler_cpu_seconds", "handler, CPU", "batch"),
    ("isthmus_flow_commit_wait_seconds", "waits for the previous transaction", "batch"),
    ("isthmus_flow_commit_seconds", "transaction", "batch"),
)
#: A sink's histograms, in the order a command meets them.
SINK_METRICS: tuple[tuple[str, str, str], ...] = (
    ("isthmus_sink_record_wait_seconds", "command waits (produced → fetched)", "command"),
    ("isthmus_sink_queue_seconds", "queue (fetched → first try)", "command"),
    ("isthmus_sink_delivery_seconds", "target API (first try → answer)", "command"),
    ("isthmus_sink_commit_seconds", "transaction", "commit"),
)


def every_stage(workers: Mapping[str, str], sinks: Sequence[str]) -> tuple[tuple[str, str, str, str], ...]:
    """Stages (as :data:`STAGES`) of every flow of every worker process (process -> comma-separated flows, as
    ``ISTHMUS_WORKER_FLOWS``) and of every sink (``sink-<system>``): the whole pipeline, flow by flow."""
    stages = [(process, series(metric, flow), f"{flow}: {stage}", per)
              for process, flows in workers.items() for flow in flows.split(",")
              for metric, stage, per in FLOW_METRICS]
    stages += [(f"sink-{system}", metric, f"{system.upper()} sink: {stage}", per)
               for system in sinks for metric, stage, per in SINK_METRICS]
    return tuple(stages)


def summary(before: Mapping[str, Histograms], after: Mapping[str, Histograms],
            stages: Sequence[tuple[str, str, str, str]] = STAGES) -> dict[str, dict[str, object]]:
    """Each of ``stages`` that was observed: what one observation is, count, mean, p50, p99; and per flow,
    its records per batch."""
    out: dict[str, dict[str, object]] = {}
    for process, metric, stage, per in stages:
        found = spent(before.get(process, {}), after.get(process, {}), metric)
        if found is not None:
            out[stage] = {"per": per, **found.as_dict()}
            if per == "batch" and metric.startswith("isthmus_flow_handler_seconds"):
                waited = stage.replace("handler, wall", "record waits (CDC record → handler start)")
                records = (out.get(waited) or {}).get("count")
                if isinstance(records, int) and found.count:
                    out[stage.replace("handler, wall", "records per batch")] = {
                        "per": "batch", "count": found.count, "mean": round(records / found.count, 1)}
    return out


def describe(stages: Mapping[str, Mapping[str, object]]) -> str:
    """One line: each stage's mean and p99 (bucket bound)."""
    def seconds(v: object) -> str:
        return f"{v:.3f}s" if isinstance(v, float) else "above 600s"

    return "; ".join(f"{stage}: mean {seconds(v['mean_s'])}, p99 ≤ {seconds(v['p99_s'])} per {v['per']}"
                     if "mean_s" in v else f"{stage}: {v.get('mean')}" for stage, v in stages.items())
