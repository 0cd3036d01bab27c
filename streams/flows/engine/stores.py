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

    def get(self, key: str) -> JsonValue | None:
        return self._data.get(key)

    def put(self, key: str, value: JsonValue | None) -> None:
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

    def take_changes(self) -> dict[str, JsonValue | None]:
        changed, self._changed = self._changed, {}
        return changed

    def snapshot(self) -> dict[str, JsonValue]:
        return dict(self._data)

    def rollback(self, snapshot: dict[str, JsonValue]) -> None:
        """Back to ``snapshot`` after an aborted transaction."""
        self._data = dict(snapshot)
        self._changed = {}
