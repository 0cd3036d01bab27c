"""Per-entity order with concurrency across entities: at most one command of a key is being applied, and
the commands of a key are applied in the order they were added (their offset order).

Pure bookkeeping; the worker starts a task for each item ``take`` hands out and calls ``finish`` when the
item's delivery is over, which makes the key's next item ready.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyedScheduler(Generic[T]):
    def __init__(self, *, concurrency: int, fold: Callable[[T, T], T | None] | None = None) -> None:
        """``fold(earlier, later)``: the one item that does what both would, in their order, or None when they
        must go one after the other; tried as a key's next item is taken, with each item queued behind it."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.fold = fold
        self._queues: dict[Hashable, deque[T]] = {}
        self._active: set[Hashable] = set()
        self._ready: deque[Hashable] = deque()
        self._queued = 0

    def add(self, key: Hashable, item: T) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            if key not in self._active:
                self._ready.append(key)
        queue.append(item)
        self._queued += 1

    def take(self) -> tuple[Hashable, T] | None:
        """The next item whose key is idle, while fewer than ``concurrency`` keys are active."""
        if len(self._active) >= self.concurrency or not self._ready:
            return None
        key = self._ready.popleft()
        queue = self._queues[key]
        item = queue.popleft()
        fold = self.fold
        while fold is not None and queue:
            folded = fold(item, queue[0])
            if folded is None:
                break
            queue.popleft()
            self._queued -= 1
            item = folded
        if not queue:
            del self._queues[key]
        self._active.add(key)
        self._queued -= 1
        return key, item

    def finish(self, key: Hashable) -> None:
        self._active.discard(key)
        if key in self._queues:
            self._ready.append(key)

    def drop(self, matches: Callable[[T], bool]) -> list[T]:
        """Remove queued (not active) items, e.g. of partitions this worker no longer owns."""
        dropped: list[T] = []
        for key in list(self._queues):
            queue = self._queues[key]
            kept = deque(item for item in queue if not matches(item))
            dropped.extend(item for item in queue if matches(item))
            if kept:
                self._queues[key] = kept
            else:
                del self._queues[key]
                if key in self._ready:
                    self._ready.remove(key)
        self._queued -= len(dropped)
        return dropped

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def queued(self) -> int:
        return self._queued

    def is_active(self, key: Hashable) -> bool:
        return key in self._active
