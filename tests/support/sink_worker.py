"""One sink worker running in this process: the one in-process sink runner of the tests."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from types import TracebackType

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.runner import build_worker
from support.stack_offer import sink_environment


class InProcessSink:
    """A sink worker of ``system`` in a thread of this process (its own event loop), configured by ``env`` over
    this process's environment, stopped as SIGTERM would stop it; an error it stopped with is raised by
    ``stop`` (and so on leaving a ``with`` block)."""

    def __init__(self, system: str, env: Mapping[str, str], schemas: SchemaStore | None = None) -> None:
        self.worker = build_worker(system, sink_environment({**os.environ, **env}),
                                   schemas or SchemaStore.from_directory())
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name=f"sink-{system}", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.worker.run(self._stop))
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            self._loop.close()

    def __enter__(self) -> InProcessSink:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=60)
        if self.error is not None:
            raise self.error
