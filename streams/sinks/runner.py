"""Wire a sink worker from the environment: stack settings, sink settings, the target file, the adapter."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from streams.codecs.avro.single_object import SchemaStore
from streams.config.dirs import folder
from streams.config.kafka import kafka_settings
from streams.kafka.reachability import keep_checking, watch_connections
from streams.metrics.serving import serve_metrics
from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.registry import AdapterRegistry, default_registry
from streams.sinks.config.loader import load_target, sql_target_engine, target_path
from streams.sinks.config.model import TargetConfig
from streams.sinks.environment import SinkEnvironment
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.metrics import sink_registry
from streams.sinks.settings import SinkSettings
from streams.sinks.worker import SinkWorker
from streams.systems import Systems, UnknownSystem

__all__ = ["SinkEnvironment", "build_adapter", "build_worker", "load_system_target", "run_until_signalled"]

log = logging.getLogger("isthmus.sink")


def load_system_target(system: str, targets_dir: Path | None, store: SchemaStore, systems: Systems) -> TargetConfig:
    """The target file of a writable declared system: the one its systems file names, unless
    ``ISTHMUS_SINK_TARGETS_DIR`` points the sinks at another folder (then ``<folder>/<system>.yaml``)."""
    try:
        spec = systems[system]
    except UnknownSystem as exc:
        raise TargetConfigError(f"unknown target {system!r}: {exc}") from None
    if not spec.writable or spec.target is None:
        raise TargetConfigError(f"{system} is read-only ({spec.path}: writable is not true), so no sink writes to "
                                f"it; fix: name a writable system ({', '.join(systems.writable) or 'none'}), or "
                                "set writable: true and a target in its file")
    own = targets_dir is not None and targets_dir.resolve() != folder("targets").resolve()
    path = target_path(targets_dir, system) if own and targets_dir is not None else spec.target
    config = load_target(path, store.schemas, systems.writable)
    if config.system != system:
        raise TargetConfigError(f"{config.path}: system is {config.system}, but the file is for {system}; "
                                f"fix: set system: {system}")
    if config.adapter == "sql":
        sql_target_engine(config, spec.engine)
    return config


def build_adapter(config: TargetConfig, environment: SinkEnvironment,
                  adapters: AdapterRegistry | None = None) -> Adapter:
    """The adapter the target file names, built by the plugin registered under that name."""
    return (adapters or default_registry()).get(config.adapter).build(config, environment)


def build_worker(system: str, environment: SinkEnvironment, store: SchemaStore | None = None) -> SinkWorker:
    store = store or SchemaStore.from_directory()
    config = load_system_target(system, environment.targets_dir, store, environment.systems)
    adapter = build_adapter(config, environment)
    settings = environment.sink.for_system(system, writable=environment.systems.writable)
    return SinkWorker(config=config, adapter=adapter, settings=settings,
                      bootstrap_servers=environment.bootstrap, store=store)


async def run_until_signalled(worker: SinkWorker, *, metrics_host: str) -> None:
    """Run the worker with its /metrics on ``metrics_host`` (the port is the worker's setting); SIGTERM and
    SIGINT stop it gracefully."""
    server = serve_metrics(sink_registry(worker), host=metrics_host, port=worker.resolved.metrics_port,
                           setting=SinkSettings.env_name("metrics_port"))
    log.info("sink %s: metrics on %s", worker.system, server.url)
    # aiokafka's flood of failed connections with Kafka down: a few lines saying so
    checking = asyncio.create_task(keep_checking(watch_connections(
        kafka_settings(worker.bootstrap_servers).bootstrap_servers)), name="kafka-reachability")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await worker.run(stop)
    finally:
        checking.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        server.close()
