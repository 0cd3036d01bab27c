"""In-memory state stores; the engine persists every change to the store's changelog topic.

A store keeps each value as its encoded JSON bytes, not as the Python object: a million small objects
as dicts take about three times the memory of their bytes, the changelog write of a ``put`` is those
same bytes (nothing is encoded again at commit), and a restore keeps the changelog's bytes as read
(nothing is decoded until a flow asks). Every ``get`` therefore returns a fresh object: a flow that
changes what it read must ``put`` it for the change to count, as the changelog always required.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from streams.flows.engine.api import FlowSpec, JsonValue, Store, encode_json
from streams.flows.engine.journal import Journal

StoreKind = Literal["memory", "rocksdb"]
STORE_KINDS: tuple[StoreKind, ...] = ("memory", "rocksdb")


class TaskStore(Store, Protocol):
    """A store as the engine drives it: per-record savepoints, the batch's changes taken for the changelog,
    told when their transaction committed, and rebuilt from the changelog from ``position`` on."""

    #: The changelog offset the store has applied up to (the next one to read); None: from the beginning.
    position: int | None
    #: Where ``put`` records what it replaced: the store's own, or the one its context's stores and views share.
    journal: Journal

    def get_raw(self, key: str) -> bytes | None:
        """The key's value as the store keeps it (its changelog bytes), not decoded."""

    def put_raw(self, key: str, raw: bytes | None) -> None:
        """Keep ``raw`` (already encoded by the flow, e.g. :mod:`~streams.flows.engine.objects`) as the key's
        value and changelog record; ``None`` deletes."""

    def mark(self) -> int:
        """A savepoint of the store's journal (shared: of every store and view writing into it)."""

    def rollback_to(self, mark: int) -> None:
        """Undo every write made into the store's journal after ``mark``, latest first."""

    def revert(self, key: str, a: Any, b: Any) -> None:
        """Undo one of the store's journal entries (``Journal.rollback_to`` calls it)."""

    def take_changes(self) -> dict[str, bytes | None]:
        """The batch's changes (latest value per key); the journal is cleared: the batch has ended."""

    def committed(self, position: int | None) -> None: ...

    def restore_batch(self, records: Sequence[tuple[str, bytes | None]], position: int) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class StateSettings:
    """Where a worker keeps its flows' state: ``memory`` (rebuilt from the whole changelog at every start) or
    ``rocksdb`` under ``directory`` (bounded memory; a start reads the changelog from the store's checkpoint)."""

    kind: StoreKind = "memory"
    directory: Path | None = None
    cache_mb: int = 64

    def open(self, flow: FlowSpec, partition: int) -> dict[str, TaskStore]:
        """The flow's stores for task ``partition``."""
        if self.kind == "memory":
            return {name: MemoryStore(name) for name in flow.stores}
        from streams.flows.engine.rocks import RocksStore, StateStoreError, store_path

        if self.directory is None:
            raise StateStoreError("the rocksdb state store needs a directory: set ISTHMUS_STATE_DIR")
        opened: dict[str, TaskStore] = {}
        try:
            for name in flow.stores:
                opened[name] = RocksStore(name, store_path(self.directory, flow.name, name, partition),
                                          topic=flow.changelog_topic(name), partition=partition,
                                          cache_mb=self.cache_mb)
        except BaseException:
            for store in opened.values():
                store.close()
            raise
        return opened


#: A journal entry's "the key was not there" (a value of ``None`` is a delete).
_MISSING: Any = object()


class MemoryStore:
    """A dict of encoded values that remembers which keys changed since the last ``take_changes``."""

    __slots__ = ("_changed", "_data", "journal", "name", "position")

    def __init__(self, name: str) -> None:
        self.name = name
        self.position: int | None = None
        self._data: dict[str, bytes] = {}
        self._changed: dict[str, bytes | None] = {}
        self.journal = Journal()

    def get(self, key: str) -> JsonValue | None:
        raw = self._data.get(key)
        if raw is None:
            return None
        value: JsonValue = orjson.loads(raw)  # an object: put and the changelog only ever hold objects
        return value

    def get_raw(self, key: str) -> bytes | None:
        return self._data.get(key)

    def put(self, key: str, value: JsonValue | None) -> None:
        self.put_raw(key, encode_json(value))  # raises for a value that is not a JSON object, before any change

    def put_raw(self, key: str, raw: bytes | None) -> None:
        data = self._data
        changed = self._changed
        self.journal.entries.append((self, key, data.get(key), changed.get(key, _MISSING)))
        if raw is None:
            data.pop(key, None)
        else:
            data[key] = raw
        changed[key] = raw

    def revert(self, key: str, previous: bytes | None, was_changed: Any) -> None:
        """Undo a ``put_raw``: the key's value and whether (and to what) the batch had changed it."""
        if previous is None:
            self._data.pop(key, None)
        else:
            self._data[key] = previous
        if was_changed is _MISSING:
            self._changed.pop(key, None)
        else:
            self._changed[key] = was_changed

    def items(self) -> Iterator[tuple[str, JsonValue]]:
        """Every key and value, as of this call."""
        snapshot = list(self._data.items())
        return ((key, orjson.loads(raw)) for key, raw in snapshot)

    def __len__(self) -> int:
        return len(self._data)

    def restore(self, key: str, raw: bytes | None) -> None:
        """Apply a changelog record (its encoded value, ``None`` a delete) without marking it changed."""
        if raw is None:
            self._data.pop(key, None)
        else:
            self._data[key] = raw

    def restore_batch(self, records: Sequence[tuple[str, bytes | None]], position: int) -> None:
        for key, raw in records:
            self.restore(key, raw)
        self.position = position

    def committed(self, position: int | None) -> None:
        """The changes last taken have committed (the values already hold them); a kept store that comes back
        after a rebalance reads its changelog from there."""
        if position is not None:
            self.position = position

    def reset(self) -> None:
        self._data.clear()
        self._changed.clear()
        self.journal.clear()
        self.position = None

    def close(self) -> None:
        """Nothing to release: a kept store stays in memory."""

    def mark(self) -> int:
        """A savepoint: ``rollback_to(mark)`` undoes every ``put`` made after it (in every store sharing the
        journal)."""
        return self.journal.mark()

    def rollback_to(self, mark: int) -> None:
        self.journal.rollback_to(mark)

    def take_changes(self) -> dict[str, bytes | None]:
        """The latest encoded value of every key changed since the last call (the batch's changelog writes)."""
        changed, self._changed = self._changed, {}
        self.journal.clear()
        return changed
