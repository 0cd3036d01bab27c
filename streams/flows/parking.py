"""Records that wait in a flow's store for something they need (a customer, an account link) to arrive.

Each waiting record is a store value of its own (``<waiting for>#<n>``) next to a small index
(``<waiting for>`` -> first and next number): a link that never comes cannot grow one value past what a
changelog record (a Kafka message, 1 MiB by default) may hold, which a single list per link did: 300
payments of an unlinked account made the orders flow's transaction fail with MessageSizeTooLargeError.
Released records come back in the order they were parked.

The index also says since when the first record waits (``since``, epoch seconds), where that record was read
(``first_at``) and whether the wait was announced as a hold (``announced``, :mod:`streams.flows.parked`), so a
lot that never clears is seen: the flow's tick counts it for /metrics and holds it visibly.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from streams.flows.engine.api import Incoming, JsonValue, Store

#: Told, before the records go on, that an announced wait is over: what waited, and its index entry.
OnRelease = Callable[[str, Mapping[str, Any]], None]


def record_to_state(record: Incoming) -> JsonValue:
    """A record as a store value, headers included, to be processed later."""
    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode()

    return {"topic": record.topic, "partition": record.partition, "offset": record.offset,
            "key": b64(record.key), "value": b64(record.value), "timestamp_ms": record.timestamp_ms,
            "headers": [[k, b64(v)] for k, v in record.headers]}


def record_from_state(state: Mapping[str, Any]) -> Incoming:
    """The record :func:`record_to_state` was given. Also reads the older form without headers (key and value
    as JSON text), which changelogs written before this module may still hold."""
    legacy = "headers" not in state

    def decode(data: str | None) -> bytes | None:
        if data is None:
            return None
        return data.encode() if legacy else base64.b64decode(data)

    headers = () if legacy else tuple((k, decode(v) or b"") for k, v in state["headers"])
    return Incoming(topic=state["topic"], partition=state["partition"], offset=state["offset"],
                    key=decode(state["key"]), value=decode(state["value"]), timestamp_ms=state["timestamp_ms"],
                    headers=headers)


class ParkingLot:
    """Waiting records in ``store``, grouped by what they wait for."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time,
                 on_release: OnRelease | None = None) -> None:
        self.store = store
        self.clock = clock
        self.on_release = on_release

    def park(self, waiting_for: str, record: Incoming) -> None:
        index = self.store.get(waiting_for) or {}
        first, following = _bounds(index)
        self.store.put(f"{waiting_for}#{following}", {"record": record_to_state(record)})
        since = index.get("since", self.clock()) if index else self.clock()
        self.store.put(waiting_for, {**index, "first": first, "next": following + 1, "since": since,
                                     "first_at": index.get("first_at", record.position)})

    def waiting(self) -> Iterator[tuple[str, JsonValue]]:
        """Each look-up key records wait for, with its index entry (read whole first: the caller may write)."""
        return iter([(key, value) for key, value in self.store.items() if is_index(value)])

    def is_waiting(self, waiting_for: str) -> bool:
        """Whether records wait for ``waiting_for`` (a later record for it must queue behind them)."""
        return self.store.get(waiting_for) is not None

    def release(self, waiting_for: str) -> list[Incoming]:
        """The records that waited for ``waiting_for``, oldest first; they no longer wait."""
        index = self.store.get(waiting_for)
        if index is None:
            return []
        if index.get("announced") and self.on_release is not None:
            self.on_release(waiting_for, index)
        released = [record_from_state(state) for state in index.get("records", [])]  # the one-list form
        first, following = _bounds(index)
        for n in range(first, following):
            entry = self.store.get(f"{waiting_for}#{n}")
            if entry is not None:
                released.append(record_from_state(entry["record"]))
                self.store.put(f"{waiting_for}#{n}", None)
        self.store.put(waiting_for, None)
        return released


def is_index(value: Mapping[str, Any]) -> bool:
    """Whether a store value is a lot's index entry (not one waiting record)."""
    return "next" in value or "records" in value


def waiting_count(index: Mapping[str, Any]) -> int:
    """How many records wait under an index entry."""
    first, following = _bounds(index)
    return following - first + len(index.get("records", []))


def _bounds(index: Mapping[str, Any]) -> tuple[int, int]:
    return int(index.get("first", 0)), int(index.get("next", 0))
