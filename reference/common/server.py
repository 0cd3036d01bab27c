"""Serving an app: in the foreground for ``python -m reference.*``, or in a thread for tests and tools."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from reference.common.exceptions import NotLoopback, ReferenceAppError
from reference.common.net import is_loopback


def _config(app: FastAPI, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    if not is_loopback(host):
        raise NotLoopback(f"refusing to bind {host!r}: the reference apps listen on loopback only "
                          "(127.0.0.1, ::1 or localhost)")
    return uvicorn.Config(app, host=host, port=port, lifespan="off", **kwargs)


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve until stopped. No access log: a line per request costs the sinks' throughput more than it tells
    (errors are still logged)."""
    uvicorn.Server(_config(app, host, port, log_level="info", access_log=False)).run()


class ThreadedServer:
    """An app served by uvicorn in a daemon thread; port 0 picks a free port (see ``url``)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = uvicorn.Server(_config(app, host, port, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, name=f"uvicorn-{app.title}", daemon=True)
        self.host = host
        self.port = port

    def start(self, wait_seconds: float = 20.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + wait_seconds
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ReferenceAppError(f"the server on {self.host}:{self.port} did not start")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
