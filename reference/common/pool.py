"""A small, thread-safe pool of database connections for the sync endpoints (FastAPI runs them in threads)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from reference.common.errors import ApiError

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """Up to ``size`` connections; one that fails ``reusable`` after use is closed, not kept."""

    def __init__(self, *, connect: Callable[[], C], reusable: Callable[[C], bool],
                 close: Callable[[C], None], size: int = 16, wait_seconds: float = 10.0) -> None:
        self._connect = connect
        self._reusable = reusable
        self._close = close
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._wait_seconds = wait_seconds

    @contextmanager
    def connection(self) -> Iterator[C]:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise ApiError(503, "every database connection is busy", fix="retry shortly",
                           headers={"Retry-After": "1"})
        conn: C | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            yield conn
        finally:
            if conn is not None:
                keep = False
                try:
                    keep = self._reusable(conn)
                except Exception:  # a broken connection is closed below, whatever broke it
                    keep = False
                if keep:
                    with self._lock:
                        self._idle.append(conn)
                else:
                    self._discard(conn)
            self._slots.release()

    def _discard(self, conn: C) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection may fail; it is gone either way
            self._close(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)
