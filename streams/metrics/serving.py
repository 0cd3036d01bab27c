"""Serving a process's registry: as an aiohttp answer (the worker and the dashboard have a web app already), or
on a port of its own in a thread (the sinks and the warehouse loader, which have none)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, start_http_server

from streams.metrics.exceptions import MetricsPortUnavailable
from streams.metrics.holders import listener_of


def metrics_response(registry: CollectorRegistry) -> web.Response:
    """The registry's text exposition, with the content type Prometheus expects."""
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


@dataclass(frozen=True, kw_only=True)
class MetricsServer:
    """/metrics of one registry, served by prometheus_client's own HTTP server in a daemon thread."""

    server: WSGIServer
    thread: threading.Thread
    host: str

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(registry: CollectorRegistry, *, host: str, port: int, setting: str) -> MetricsServer:
    """Serve ``registry`` on ``host:port`` (0: a free port; see :attr:`MetricsServer.port`). ``setting`` names
    the variable that gave the port, for the error when it cannot be bound."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise port_unavailable(exc, host=host, port=port, setting=setting, serves="/metrics") from exc
    return MetricsServer(server=server, thread=thread, host=host)


def port_unavailable(exc: OSError, *, host: str, port: int, setting: str, serves: str) -> MetricsPortUnavailable:
    """The error of a port that cannot be bound: what it was to serve, where, why, what holds it when that can
    be told, and the fix (``setting``: the variable that gave the port)."""
    holder = listener_of(port) if port else None
    held = f"; it is held by {holder}" if holder else ""
    why = os.strerror(exc.errno) if exc.errno else str(exc)  # aiohttp's strerror repeats the address
    return MetricsPortUnavailable(
        f"cannot serve {serves} on {host}:{port} ({why.lower()}{held}); set {setting} to a free port, "
        "or 0 to pick one")
