"""One undo journal for a batch's stores and object views, so a savepoint costs a couple of ints.

Every scope a record opens (:meth:`~streams.flows.engine.staging.RecordContext.isolated`; the engine's, the
flow's per record and per change) needs a savepoint of everything the handler may change. With one undo log per
store and per object view, a savepoint asked each of them for its mark (~30 calls a record for the customer
flow's seven stores); here the context's stores and views append to one journal instead, so a mark is the
journal's length, and a rollback walks the journal back, undoing every write after the mark in the reverse
order they were made, whichever store or view made it.

An entry is ``(owner, key, a, b)``: ``owner.revert(key, a, b)`` puts back what the write replaced (``a`` and
``b`` are the owner's: the previous value and whether the key was among the batch's changes, say). A store
that stands alone (a unit test, a store being restored) has a journal of its own; a
:class:`~streams.flows.engine.staging.RecordContext` gives all of its stores one (their ``journal``).
"""

from __future__ import annotations

from typing import Any, Protocol


class Reverting(Protocol):
    """A store or view that writes into a journal and can undo one of its entries."""

    def revert(self, key: str, a: Any, b: Any) -> None: ...


class Journal:
    """The undo entries since the batch began, oldest first, and the scope epoch object views save copies by."""

    __slots__ = ("entries", "epoch")

    def __init__(self) -> None:
        self.entries: list[tuple[Reverting, str, Any, Any]] = []
        #: Bumped at every mark and rollback: an object view saves a key's object at its first ``get`` in an epoch.
        self.epoch = 0

    def mark(self) -> int:
        """A savepoint: ``rollback_to(mark)`` undoes every write made after it."""
        self.epoch += 1
        return len(self.entries)

    def rollback_to(self, mark: int) -> None:
        entries = self.entries
        while len(entries) > mark:
            owner, key, a, b = entries.pop()
            owner.revert(key, a, b)
        self.epoch += 1  # whatever is handed out next is saved again

    def clear(self) -> None:
        """The batch's changes were taken (its end): nothing before now can be undone any more."""
        self.entries.clear()
