"""Running a worker: load and check everything first, then the flows, the endpoints and the daily re-sync,
until SIGTERM or SIGINT, which stop it gracefully (the batch in hand commits or aborts, nothing is lost)."""

from __future__ import annotations

import asyncio
import logging
import signal

from streams.config.model import RuntimeSettings
from streams.flows.context import FlowContext
from streams.flows.engine.collector import tune_for_batches
from streams.flows.engine.processor import EngineSettings, FlowProcessor
from streams.flows.engine.repartition import layout, prepare
from streams.flows.engine.stores import StateSettings
from streams.flows.registry import build_flows
from streams.kafka import written_schemas
from streams.kafka.reachability import keep_checking, watch_connections
from streams.kafka.topics import ensure_topics
from streams.sinks.topics import sink_topic_specs
from streams.worker.resync import run_daily
from streams.worker.settings import WorkerSettings
from streams.worker.web import build_app, start_endpoints

log = logging.getLogger(__name__)


async def run_worker(runtime: RuntimeSettings, worker: WorkerSettings | None = None) -> int:
    """Run the flows until SIGTERM on ``runtime``'s cluster; ``worker``: its worker section as the command line
    changed it (default: ``runtime.worker``). The re-sync writes its signals through ``runtime.endpoints``."""
    worker = worker or runtime.worker
    kafka = runtime.kafka
    watching = watch_connections(kafka.bootstrap_servers)  # aiokafka's flood of failed connections: a few lines
    context = FlowContext.load()  # a mapping with an error stops the start here, naming file and line
    for problem in (w for m in context.mappings.values() for w in m.warnings):  # a column of an unknown type
        log.warning("mapping %s", problem)
    built = build_flows(context, only=set(worker.flows) if worker.flows else None)  # logs each flow left out
    for spec in built.flows:
        for warning in spec.warnings:  # what its configuration allows but likely does not mean
            log.warning("flow %s: %s", spec.name, warning)
    laid = layout(built.flows, worker.flow_partitions)
    flows = laid.flows
    engine = EngineSettings(bootstrap_servers=kafka, batch_max_records=worker.batch_max_records,
                            transaction_max_records=worker.transaction_max_records,
                            max_partition_fetch_bytes=worker.partition_fetch_bytes,
                            max_request_size=worker.max_request_size,
                            worker_id=worker.worker_id, session_timeout_ms=worker.session_timeout_ms,
                            hold_after_s=worker.parked_hold_after_s,
                            state=StateSettings(kind=worker.store, directory=worker.state_dir,
                                                cache_mb=worker.state_cache_mb))
    processors = [FlowProcessor(spec, engine, context.schemas) for spec in flows]
    tune_for_batches()  # everything built so far lives as long as the worker
    # Commands must exist with their partition count before a flow emits one (auto-creation would give 1).
    await ensure_topics(kafka, [*sink_topic_specs(), written_schemas.topic_spec()])
    # A schema written before under a fingerprint this worker knows with another meaning stops the start here.
    written = await asyncio.to_thread(written_schemas.attach, context.schemas, kafka)
    log.info("worker %s: %d written schema(s) recorded in %s agree with schemas/", worker.worker_id, len(written),
             written_schemas.schemas_topic())
    await prepare(kafka, laid)  # the keying stages' topics, N partitions each
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stopped_by: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping, worker.worker_id, sig, stop, stopped_by)

    host = worker.host
    runner, bound = await start_endpoints(build_app(worker.worker_id, processors, built.unavailable, watching,
                                                    engine.failing_after_s), host=host, port=worker.port)
    checking = asyncio.create_task(keep_checking(watching), name="kafka-reachability")
    log.info("worker %s: flows %s%s; health on http://%s:%s/health", worker.worker_id,
             ", ".join(f.name for f in flows) or "none",
             f" (left out: {', '.join(built.unavailable)})" if built.unavailable else "", host, bound)
    tasks = [asyncio.create_task(p.run(stop), name=p.spec.name) for p in processors]
    if worker.resync_at is not None:
        resync = run_daily(runtime.connector_variables, worker.resync_at, stop)
        tasks.append(asyncio.create_task(resync, name="resync"))
    try:
        done, _ = await asyncio.wait([*tasks, asyncio.create_task(stop.wait())],
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.exception() is not None:
                stop.set()
                raise task.exception()  # type: ignore[misc]
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        checking.cancel()
        await runner.cleanup()
    log.info("worker %s stopped%s", worker.worker_id, f" ({stopped_by[0]})" if stopped_by else "")
    return 0


def stopping(worker_id: str, sig: signal.Signals, stop: asyncio.Event, stopped_by: list[str]) -> None:
    """A stop signal: said at WARNING with its name, once (a worker that stops mid-way through a big transaction
    leaves its entities unsent until it runs again, and its log must say why it stopped), then ``stop`` set."""
    if not stopped_by:
        stopped_by.append(f"on {sig.name}")
        log.warning("worker %s: %s received: stopping; what it has not committed is done again, from its last "
                    "commit, by the next worker of its flows (start it again unless another one runs them)",
                    worker_id, sig.name)
    stop.set()
