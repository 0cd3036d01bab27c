"""Wire a sink worker from the environment: stack settings, sink settings, the target file, the adapter."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.jsonrpc import JsonRpcAdapter
from streams.sinks.adapters.mysql import MySqlAdapter
from streams.sinks.adapters.sql import SqlAdapter
from streams.sinks.config.loader import load_target, target_path
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import SecretMissing, TargetConfigError
from streams.sinks.settings import SinkSettings
from streams.sinks.worker import SinkWorker
from streams.stack.databases import crm_conninfo
from streams.stack.secrets import load_or_create
from streams.stack.settings import StackSettings
from streams.systems import Engine, Systems, UnknownSystem, load_systems

#: Connections to one target, however many commands are applied at once: more calls wait for a connection
#: (a batch endpoint carries many commands in one call), so the target's own pools are not overrun.
MAX_CONNECTIONS = 32

log = logging.getLogger("isthmus.sink")


@dataclass(frozen=True, kw_only=True)
class SinkEnvironment:
    stack: StackSettings
    sink: SinkSettings
    env: Mapping[str, str]
    #: The declared systems (systems/, or ISTHMUS_SYSTEMS_DIR): which take commands, through which target file.
    systems: Systems

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SinkEnvironment:
        env = dict(os.environ) if env is None else env
        return cls(stack=StackSettings.from_env(env), sink=SinkSettings.from_env(env), env=env,
                   systems=load_systems(env=env))


def load_system_target(system: str, sink: SinkSettings, store: SchemaStore, systems: Systems) -> TargetConfig:
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
    path = spec.target if sink.targets_dir == SinkSettings().targets_dir else target_path(sink.targets_dir, system)
    config = load_target(path, store.schemas, systems.writable)
    if config.system != system:
        raise TargetConfigError(f"{config.path}: system is {config.system}, but the file is for {system}; "
                                f"fix: set system: {system}")
    return config


def base_url(config: TargetConfig, environment: SinkEnvironment) -> str:
    if environment.sink.base_url:
        return environment.sink.base_url
    if config.http is not None and config.http.base_url:
        return config.http.base_url
    url = environment.stack.reference_api_url(config.system)
    if url is None:
        raise TargetConfigError(f"{config.path}: no base URL for {config.system}'s API; fix: set http.base_url in the "
                                "target file, or ISTHMUS_SINK_BASE_URL")
    return url


def build_adapter(config: TargetConfig, environment: SinkEnvironment) -> Adapter:
    sink = environment.sink
    stack = environment.stack
    secrets_file = stack.home / "secrets" / "stack.properties"
    if config.adapter == "http":
        return HttpAdapter(config, base_url=base_url(config, environment), timeout_s=sink.request_timeout_s,
                           max_connections=min(sink.concurrency, MAX_CONNECTIONS), env=environment.env,
                           secrets_file=secrets_file)
    if config.adapter == "jsonrpc":
        return build_jsonrpc(config, environment)
    assert config.sql is not None
    engine = environment.systems[config.system].engine
    pool_size = min(sink.concurrency, MAX_CONNECTIONS)
    conninfo = None
    if config.sql.conninfo_env:
        conninfo = environment.env.get(config.sql.conninfo_env)
        if not conninfo:
            raise SecretMissing(f"{config.path}: sql.conninfo_env names {config.sql.conninfo_env}, which is not "
                                "set; fix: export it with a conninfo (host=... port=... dbname=... user=... "
                                "password=...)")
    if engine is Engine.POSTGRESQL:
        conninfo = conninfo or crm_conninfo(stack, load_or_create(stack.home), config.sql.database)
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
        shown = f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        return SqlAdapter(config, conninfo=conninfo, pool_size=pool_size, shown=shown)
    if conninfo is not None:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
        connect = {"host": parts.get("host", "localhost"), "port": int(parts.get("port") or 3306),
                   "user": parts.get("user"), "password": parts.get("password") or "",
                   "database": parts.get("dbname")}
    else:
        connect = {"host": stack.host, "port": stack.erp_db_port, "user": stack.db_user,
                   "password": load_or_create(stack.home).erp_db_password.reveal(),
                   "database": config.sql.database or stack.erp_db_name}
    shown = f"{connect['host']}:{connect['port']}/{connect['database'] or ''}"
    return MySqlAdapter(config, connect=connect, pool_size=pool_size, shown=shown, engine=engine.value)


def build_jsonrpc(config: TargetConfig, environment: SinkEnvironment) -> JsonRpcAdapter:
    """The JSON-RPC adapter: its endpoint from ISTHMUS_SINK_BASE_URL, else the file's ``jsonrpc.url``."""
    assert config.jsonrpc is not None
    url = environment.sink.base_url or config.jsonrpc.url
    if not url:
        raise TargetConfigError(f"{config.path}: no URL for {config.system}'s JSON-RPC endpoint; fix: set jsonrpc.url "
                                "in the target file, or ISTHMUS_SINK_BASE_URL")
    return JsonRpcAdapter(config, url=url, timeout_s=environment.sink.request_timeout_s,
                          max_connections=min(environment.sink.concurrency, MAX_CONNECTIONS), env=environment.env,
                          secrets_file=environment.stack.home / "secrets" / "stack.properties")


def build_worker(system: str, environment: SinkEnvironment, store: SchemaStore | None = None) -> SinkWorker:
    store = store or SchemaStore.from_directory()
    config = load_system_target(system, environment.sink, store, environment.systems)
    adapter = build_adapter(config, environment)
    return SinkWorker(config=config, adapter=adapter, settings=environment.sink.for_system(system),
                      bootstrap_servers=environment.stack.bootstrap_servers, store=store)


async def run_until_signalled(worker: SinkWorker) -> None:
    """Run the worker; SIGTERM and SIGINT stop it gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await worker.run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
