"""Echo suppression: what one target system has (or will have) for some fields of one entity.

A flow writes a value into a system through a command; the system's CDC then reports it back. The mirror
keeps the last value the system reported (``seen``) and the values commanded since that it has not
reported yet (``pending``, oldest first). A report equal to a pending value is the echo of that command:
it and every older pending value are settled, and nothing new is commanded. Any other report is a real
edit in that system. What the system will hold once the pending commands land is :meth:`Mirror.known`;
a command is due only for fields whose wanted value differs from it, so after a burst of edits the two
systems reach a fixed point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.flows.engine.values import from_store, to_store

#: Commands whose echo never comes (the target refused them) are forgotten after this many newer ones.
MAX_PENDING = 8


class Mirror:
    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        state = state or {}
        self.seen: dict[str, Any] | None = from_store(state["seen"]) if state.get("seen") is not None else None
        self.pending: list[dict[str, Any]] = [from_store(p) for p in state.get("pending", [])]

    def to_state(self) -> dict[str, Any]:
        return {"seen": to_store(self.seen), "pending": [to_store(p) for p in self.pending]}

    def observe(self, reported: Mapping[str, Any]) -> bool:
        """The system reported ``reported``; True when that is the echo of a command of ours."""
        values = dict(reported)
        for index, commanded in enumerate(self.pending):
            if _same(commanded, values):
                del self.pending[:index + 1]
                self.seen = {**(self.seen or {}), **values}
                return True
        self.seen = {**(self.seen or {}), **values}
        return False

    def forget(self) -> None:
        """The entity is gone from the system (deleted): nothing is known there any more."""
        self.seen = None
        self.pending = []

    def known(self) -> dict[str, Any] | None:
        """What the system holds once the pending commands have landed; None when it was never seen."""
        if self.seen is None and not self.pending:
            return None
        merged = dict(self.seen or {})
        for commanded in self.pending:
            merged.update(commanded)
        return merged

    def due(self, wanted: Mapping[str, Any]) -> tuple[str, ...]:
        """The fields of ``wanted`` the system does not have (and will not get from a pending command)."""
        known = self.known() or {}
        return tuple(f for f, v in wanted.items() if f not in known or known[f] != v)

    def commanded(self, values: Mapping[str, Any]) -> None:
        self.pending.append(dict(values))
        del self.pending[:-MAX_PENDING]


def _same(commanded: Mapping[str, Any], reported: Mapping[str, Any]) -> bool:
    """Decimals compare by value (``10.000 == 10``): a system may report another scale than we wrote."""
    return all(f in reported and reported[f] == v for f, v in commanded.items())
