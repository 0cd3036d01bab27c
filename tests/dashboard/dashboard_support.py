"""The dashboard served in-process for tests, in its own thread and event loop, as ``isthmus dashboard`` runs it."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from support.ports import free_port

from streams.dashboard.app import DashboardConfig, serve


class Dashboard:

    def __init__(self, config: DashboardConfig) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._task = self._loop.create_task(serve(config, port=self.port, started=lambda _: self._started.set()))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)

    def __enter__(self) -> Dashboard:
        self._thread.start()
        assert self._started.wait(60), "the dashboard did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)
