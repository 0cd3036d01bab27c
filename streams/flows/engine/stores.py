"""In-memory state stores; the engine persists every change to the store's changelog topic."""

from __future__ import annotations

from collections.abc import Iterator

from streams.flows.engine.api import JsonValue


class MemoryStore:
    """A dict that remembers which keys changed since the last ``take_changes``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._data: dict[str, JsonValue] = {}
        self._changed: dict[str, JsonValue | None] = {}
        self._undo: list[tuple[str, JsonValue | None]] = []

    def get(self, key: str) -> JsonValue | None:
        return self._data.get(key)

    def put(self, key: str, value: JsonValue | None) -> None:
        self._undo.append((key, self._data.get(key)))
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        self._changed[key] = value

    def items(self) -> Iterator[tuple[str, JsonValue]]:
        return iter(list(self._data.items()))

    def __len__(self) -> int:
        return len(self._data)

    def restore(self, key: str, value: JsonValue | None) -> None:
        """Apply a changelog record without marking it changed."""
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value

    def mark(self) -> int:
        """A savepoint: ``rollback_to(mark)`` undoes every ``put`` made after it."""
        return len(self._undo)

    def rollback_to(self, mark: int) -> None:
        while len(self._undo) > mark:
            key, previous = self._undo.pop()
            if previous is None:
                self._data.pop(key, None)
            else:
                self._data[key] = previous
        touched = {key for key, _ in self._undo}
        self._changed = {k: self._data.get(k) for k in self._changed if k in touched}

    def take_changes(self) -> dict[str, JsonValue | None]:
        """The latest value of every key changed since the last call (the batch's changelog writes)."""
        changed, self._changed = self._changed, {}
        self._undo = []
        return changed
