"""The shipped adapters as plugins: ``http`` (an HTTP API, one call per command) and ``sql`` (rows of a
PostgreSQL or MariaDB/MySQL database, for a system with no API). Registered in pyproject.toml under
``isthmus.targets`` like any other (see ``registry``)."""

from __future__ import annotations

from typing import Any

import psycopg

from streams.config.endpoints import mysql_connect, resolved
from streams.sinks.adapters.base import Adapter
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.mysql import MySqlAdapter
from streams.sinks.adapters.registry import AdapterPlugin
from streams.sinks.adapters.sql import SqlAdapter
from streams.sinks.config.loader import (
    HTTP_ROUTE_KEYS,
    SQL_ROUTE_KEYS,
    Key,
    RouteHead,
    TargetReader,
    sql_target_engine,
)
from streams.sinks.config.model import Route, TargetConfig
from streams.sinks.environment import SinkEnvironment
from streams.sinks.exceptions import SecretMissing, TargetConfigError
from streams.sinks.throttle import RequestThrottle
from streams.systems import Engine

#: Connections to one target, however many commands are applied at once: more calls wait for a connection
#: (a batch endpoint carries many commands in one call), so the target's own pools are not overrun.
MAX_CONNECTIONS = 32


def base_url(config: TargetConfig, environment: SinkEnvironment) -> str:
    if environment.sink.base_url:
        return environment.sink.base_url
    if config.http is not None and config.http.base_url:
        return config.http.base_url
    url = environment.endpoints.api_url(config.system)
    if url is None:
        raise TargetConfigError(f"{config.path}: no base URL for {config.system}'s API; fix: set http.base_url in the "
                                f"target file, {environment.endpoints.env_name('api_urls')} (a JSON object, e.g. "
                                f'{{"{config.system}": "https://api.example.com"}}) or endpoints.api_urls in the '
                                "--config file, or ISTHMUS_SINK_BASE_URL for this sink alone")
    return url


def build_http(config: TargetConfig, environment: SinkEnvironment) -> Adapter:
    sink = environment.sink
    return HttpAdapter(config, base_url=base_url(config, environment), timeout_s=sink.request_timeout_s,
                       max_connections=min(sink.concurrency, MAX_CONNECTIONS), env=environment.env,
                       secrets_file=environment.endpoints.secrets_file, throttle=target_throttle(config, environment))


def target_throttle(config: TargetConfig, environment: SinkEnvironment) -> RequestThrottle:
    """The pace of an HTTP-borne adapter's calls: the file's limits.requests_per_second, Retry-After capped
    like the gate's."""
    return RequestThrottle.for_target(config.path, config.system, config.limits.requests_per_second,
                                      retry_after_max_s=environment.sink.retry_after_max_s)


def build_sql(config: TargetConfig, environment: SinkEnvironment) -> Adapter:
    endpoints = environment.endpoints
    if config.sql is None:
        raise TargetConfigError(f"{config.path}: a sql target needs its sql section")
    engine = sql_target_engine(config, environment.systems[config.system].engine)
    pool_size = min(environment.sink.concurrency, MAX_CONNECTIONS)
    own, database = config.sql.conninfo_env, config.sql.database
    given = environment.env.get(own) if own else None
    if own and not given:
        raise SecretMissing(f"{config.path}: sql.conninfo_env names {own}, which is not set; fix: export it with a "
                            "conninfo (host=... port=... dbname=... user=... password=...)")

    def conninfo() -> str:
        """Made for each new connection: a password given as ${file:<path>:<key>} is read again (a rotation)."""
        if own and given:
            return resolved(given, own)
        # without conninfo_env: its database on the server of its engine (endpoints.databases), targets/README.md
        return endpoints.dsn(engine.value, database)

    if engine is Engine.POSTGRESQL:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo())
        shown = f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        return SqlAdapter(config, conninfo=conninfo, pool_size=pool_size, shown=shown)

    def connect() -> dict[str, Any]:
        args = mysql_connect(conninfo())
        args.pop("connect_timeout", None)
        return args

    first = connect()
    shown = f"{first['host']}:{first['port']}/{first['database'] or ''}"
    return MySqlAdapter(config, connect=connect, pool_size=pool_size, shown=shown, engine=engine.value)


def _http_section(raw: Any, reader: TargetReader) -> Any:
    return reader.http_options({} if raw is None else raw)


def _http_route(raw: dict[str, Any], key: Key, head: RouteHead, reader: TargetReader) -> Route | None:
    return reader.http_route(raw, key, head)


def _sql_section(raw: Any, reader: TargetReader) -> Any:
    return reader.sql_options(raw)


def _sql_route(raw: dict[str, Any], key: Key, head: RouteHead, reader: TargetReader) -> Route | None:
    return reader.sql_route(raw, key, head)


http = AdapterPlugin(summary="an HTTP API (REST, a JSON body per call)", build=build_http, route=_http_route,
                     route_keys=HTTP_ROUTE_KEYS, section=_http_section)
sql = AdapterPlugin(summary="rows of a PostgreSQL or MariaDB/MySQL database, for a system with no API",
                    build=build_sql, route=_sql_route, route_keys=SQL_ROUTE_KEYS, section=_sql_section)
