"""A sink process's metrics: its worker's counts, queue, breaker and delivery times, read at each scrape."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.sinks.breaker import BreakerState
from streams.sinks.worker import SinkWorker


def _counter(name: str, text: str, target: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=["target"])
    family.add_metric([target], value)
    return family


def _gauge(name: str, text: str, target: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=["target"])
    family.add_metric([target], value)
    return family


class SinkCollector(Collector):
    def __init__(self, worker: SinkWorker) -> None:
        self.worker = worker

    def collect(self) -> Iterable[Metric]:
        worker, target = self.worker, self.worker.system
        stats = worker.stats
        commands = CounterMetricFamily(
            "isthmus_sink_commands_total",
            "Commands a sink finished, by outcome: applied, refused (a business refusal its route declares) or "
            "dead_lettered.", labels=["target", "outcome"])
        for outcome, n in (("applied", stats.applied), ("refused", stats.refused),
                           ("dead_lettered", stats.dead_lettered)):
            commands.add_metric([target, outcome], n)
        yield commands
        yield _counter("isthmus_sink_replayed_total",
                       "Applied commands the target answered from its idempotency table (applied before).", target,
                       stats.replayed)
        yield _counter("isthmus_sink_call_retries_total", "Calls to the target beyond the first of each command, "
                       "counted as they go out (a call held by the breaker is not made, so not counted).",
                       target, worker.deliverer.retries)
        yield _counter("isthmus_sink_committed_total",
                       "Command offsets committed, with their results and dead letters, in Kafka transactions.",
                       target, stats.committed)
        yield _counter("isthmus_sink_transactions_total", "Kafka transactions the sink committed.", target,
                       stats.transactions)
        yield _counter("isthmus_sink_commit_failures_total", "Kafka transactions of the sink that failed, each retried "
                       "with a new producer (an ERROR from the third in a row: nothing commits meanwhile).", target,
                       stats.commit_failures)
        yield _gauge("isthmus_sink_commit_failing", "Failed commits in a row now (0: the last commit succeeded); "
                     "while above 0 no result, dead letter or offset is committed.", target, worker.commits_failing)
        too_large = CounterMetricFamily(
            "isthmus_sink_records_too_large_total", "Results and dead letters written smaller than made, as too large "
            "for Kafka: over ISTHMUS_SINK_MAX_REQUEST_SIZE (by setting) or refused by the topic (by topic); a dead "
            "letter without the command's value, a result without the target's answer.",
            labels=["target", "record", "by"])
        for (record, by), n in sorted(worker.too_large.items()):
            too_large.add_metric([target, record.replace(" ", "_"), by], n)
        yield too_large

        yield _counter("isthmus_sink_held_back_total", "Times the in-flight bound (ISTHMUS_SINK_MAX_IN_FLIGHT) was "
                       "reached while commands retrying a transient failure held back their partitions' commits (each "
                       "said at WARNING, naming them): only the commands in hand are tried until they end.", target,
                       stats.held_back)
        yield _counter("isthmus_sink_folded_total", "Updates of an entity folded into a later one waiting with them "
                       "and written with it (ISTHMUS_SINK_FOLD_UPDATES): a result each, one call for all.", target,
                       stats.folded)
        yield _gauge("isthmus_sink_in_flight", "Commands being delivered now (one per entity at most).", target,
                     worker.scheduler.active)
        yield _gauge("isthmus_sink_waiting", "Commands fetched and waiting behind an earlier one of their entity.",
                     target, worker.scheduler.queued)
        yield _gauge("isthmus_sink_uncommitted", "Records fetched and not yet committed (bounded by "
                     "ISTHMUS_SINK_MAX_IN_FLIGHT).", target, worker.offsets.tracked)
        breaker = GaugeMetricFamily("isthmus_sink_breaker_state", "1 for the state the target's circuit breaker "
                                    "is in.", labels=["target", "state"])
        for state in BreakerState:
            breaker.add_metric([target, str(state)], int(worker.gate.state is state))
        yield breaker
        held = GaugeMetricFamily("isthmus_sink_held_commands", "Commands whose next call waits at the target's gate "
                                 "now, by what holds them: breaker (open, or half-open while its probe is out) or "
                                 "retry_after (the target's Retry-After).", labels=["target", "by"])
        for by, n in worker.gate.held.items():
            held.add_metric([target, by], n)
        yield held
        retrying = worker.deliverer.retrying
        yield _gauge("isthmus_sink_retrying", "Commands retrying a transient failure now (backing off, or held at the "
                     "target's gate).", target, retrying.count)
        yield _gauge("isthmus_sink_failing_alone", "Of those, commands whose last failure was their own: they fail "
                     "while the target applies other commands; dead-lettered (FailingAlone) after "
                     "ISTHMUS_SINK_FAILING_ALONE_ATTEMPTS such failures and ISTHMUS_SINK_FAILING_ALONE_S.", target,
                     retrying.failing_alone)
        oldest = retrying.oldest()
        yield _gauge("isthmus_sink_oldest_retry_seconds", "How long the command retrying for the longest has been "
                     "failing (0: none); the summary log line names it.", target,
                     0.0 if oldest is None else max(0.0, worker.deliverer.clock() - oldest.since))
        credentials = worker.deliverer.credentials
        yield _gauge("isthmus_sink_credentials_refused", "1 while the target refuses Isthmus's credentials (401 or "
                     "403 to its last answer): commands wait and are retried, none is dead-lettered for it.", target,
                     int(credentials.refusing))
        yield _counter("isthmus_sink_credential_refusals_total", "Answers 401 or 403 from the target (its refusal of "
                       "Isthmus's credentials), each retried.", target, credentials.answers)
        yield _counter("isthmus_sink_ids_not_found_total", "Successful answers in which a path of the route's ids "
                       "found nothing (no id recorded; a typo in the target file's ids).", target,
                       worker.deliverer.ids_not_found)
        yield _counter("isthmus_sink_error_shaped_total", "Successful answers that read like an error ({\"ok\": "
                       "false, \"error\": ...}) of a route with no answers.error rule, counted applied (a write the "
                       "target may not have made).", target, worker.deliverer.error_shaped)
        yield _counter("isthmus_sink_created_by_changes_total", "Update commands of a route with external_id whose "
                       "search found no record, so a record was created (a duplicate when the search filters by a "
                       "field the change altered).", target, worker.deliverer.created_by_changes)
        yield _counter("isthmus_sink_jobs_timed_out_total", "Commands whose write the target answered with a job to "
                       "poll (a route's job) that had not ended within the route's job.timeout_s: dead-lettered "
                       "(JobTimedOut) with the job's URL, never sent again.", target, worker.deliverer.jobs_timed_out)
        gone = CounterMetricFamily("isthmus_sink_gone_total", "Deactivate and cancel commands applied as gone: their "
                                   "record was not there, as the route's gone rule reads the answer (or an exact "
                                   "search found none); nothing written.", labels=["target", "payload_type",
                                                                                   "operation"])
        for (payload_type, operation), n in worker.deliverer.gone.items():
            gone.add_metric([target, payload_type, operation], n)
        yield gone
        throttle = worker.throttle
        if throttle is not None:
            yield _gauge("isthmus_sink_rate_limit", "Calls a second the sink allows itself to the target now: "
                         "limits.requests_per_second of its target file, lowered at each 429 (or 503 with "
                         "Retry-After) and raised again as calls succeed; 0: no limit.", target, throttle.rate or 0)
            throttled = CounterMetricFamily("isthmus_sink_throttled_total", "Answers asking the sink for less traffic: "
                                            "429, and 503 with Retry-After; each lowers the sink's rate.",
                                            labels=["target", "status"])
            for status, n in throttle.answers.items():
                throttled.add_metric([target, str(status)], n)
            yield throttled
            yield _gauge("isthmus_sink_rate_waiting", "Calls waiting for their turn under the target's rate now.",
                         target, throttle.waiting)
        for histogram in (worker.delivery_seconds, worker.record_wait_seconds, worker.queue_seconds,
                          worker.commit_seconds):
            yield from histogram.collect()


def sink_registry(worker: SinkWorker) -> CollectorRegistry:
    """The sink process's registry (its own, not prometheus_client's global one)."""
    registry = CollectorRegistry()
    registry.register(SinkCollector(worker))
    return registry
