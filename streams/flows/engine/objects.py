"""A store seen as decoded objects for the length of a batch (``Context.objects``).

A flow whose state per key is a rich object (the entity block's whole entity) paid, on every record, for
decoding it from the store and encoding it back, although most keys come back many times within a batch (a
customer's create, its contacts and addresses, the ERP's echo). An :class:`ObjectView` decodes a key once per
batch, hands out the same object to every record after that, and encodes each changed key once, when the batch
ends (:meth:`ObjectView.flush`, before the engine takes the stores' changes for the changelog): a store ``put``
per changed key per batch, not per record.

Undo follows the engine's scopes (:meth:`~streams.flows.engine.staging.RecordContext.isolated`) through the
store's journal (:mod:`~streams.flows.engine.journal`, shared with the context's stores): a mark opens a scope
(a new epoch); the first ``get`` of a key in a scope saves a copy of the key's object as it was
(``ObjectCodec.copy``, or nothing when the key is as the store holds it) in the journal, and a rollback puts back
what was saved. The contract a
flow keeps: it changes an object only between the ``get`` that handed it out and the end of the innermost scope
open at that ``get``, and ``put`` s every object it changed.

A codec whose objects are never changed in place, only replaced by a ``put`` (``replaced_whole``: a transaction
join's values, a remembered row), gets a :class:`ReplacedView`: a ``get`` saves nothing (the object it hands out
stays as it is), a ``put`` saves the entry it replaces. The join makes some twenty ``get`` s and ``put`` s a source
transaction, each of which saved a copy (the object itself) at its first ``get`` in a scope (issue 17).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from streams.flows.engine.api import Rejected
from streams.flows.engine.stores import TaskStore

T = TypeVar("T")

#: What a flow does with a changed key's object when the batch ends, before it is encoded (publish what the
#: batch changed, once): called with the key, the object and the batch's context.
OnFlush = Callable[[str, Any, Any], None]


class ObjectCodec(Protocol[T]):
    """How a flow's objects are kept in a store: bytes (``None``: no value) to object and back, and a copy that
    later changes to the object do not touch (for undo)."""

    def decode(self, key: str, raw: bytes | None) -> T: ...

    def encode(self, key: str, value: T) -> bytes | None: ...

    def copy(self, value: T) -> T: ...


def replaced_whole(codec: Any) -> bool:
    """Whether ``codec`` says its objects are never changed in place, only replaced (its ``replaced_whole``)."""
    return bool(getattr(codec, "replaced_whole", False))


class _Entry:
    __slots__ = ("dirty", "epoch", "value")

    def __init__(self, value: Any, dirty: bool, epoch: int) -> None:
        self.value = value
        self.dirty = dirty
        self.epoch = epoch


#: Saved in the undo log for a key that was as the store holds it: undone by forgetting the decoded object.
_CLEAN = None


class ObjectView(Generic[T]):
    """The decoded objects of one store for one batch; see the module's docstring."""

    def __init__(self, store: TaskStore, codec: ObjectCodec[T], on_flush: OnFlush | None = None) -> None:
        self.store = store
        self.codec = codec
        self.on_flush = on_flush
        #: The store's journal, so the view's undo entries interleave with the stores' in the order made.
        self.journal = store.journal
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str) -> T:
        """The key's object (decoded from the store at its first ``get`` in the batch)."""
        entry = self._entries.get(key)
        journal = self.journal
        if entry is None:
            self._entries[key] = entry = _Entry(self.codec.decode(key, self.store.get_raw(key)), False, journal.epoch)
            journal.entries.append((self, key, _CLEAN, None))
        elif entry.epoch != journal.epoch:  # first get in this scope: save it as it was
            saved = _Entry(self.codec.copy(entry.value), True, entry.epoch) if entry.dirty else _CLEAN
            journal.entries.append((self, key, saved, None))
            entry.epoch = journal.epoch
        value: T = entry.value
        return value

    def put(self, key: str, value: T) -> None:
        """``value`` (the object ``get`` handed out, changed) is the key's; it is encoded when the batch ends."""
        entry = self._entries.get(key)
        journal = self.journal
        if entry is None:
            journal.entries.append((self, key, _CLEAN, None))
            self._entries[key] = _Entry(value, True, journal.epoch)
            return
        if entry.epoch != journal.epoch:
            self.get(key)
        entry.value = value
        entry.dirty = True

    def revert(self, key: str, saved: _Entry | None, _: Any) -> None:
        """Undo one journal entry: the key's object as saved, or forgotten (it is as the store holds it)."""
        if saved is _CLEAN:
            self._entries.pop(key, None)
        else:
            self._entries[key] = saved

    def dirty(self) -> list[str]:
        return [key for key, entry in self._entries.items() if entry.dirty]

    def flush(self, ctx: Any) -> None:
        """The batch ends: each changed key's object goes through ``on_flush`` and is encoded into the store,
        once; the view is empty afterwards (the next batch decodes again). A key removed (encoded ``None``) that
        the store does not hold is not written: its changelog needs no delete of what it never held."""
        entries, self._entries = self._entries, {}
        for key, entry in entries.items():
            if not entry.dirty:
                continue
            if self.on_flush is not None:
                try:
                    self.on_flush(key, entry.value, ctx)
                except Rejected as rejection:  # what it would publish is refused: its records say why
                    ctx.reject_at_flush(rejection)
            raw = self.codec.encode(key, entry.value)
            if raw is None and self.store.get_raw(key) is None:
                continue  # made and removed within the batch (a join's complete transaction): nothing to write
            self.store.put_raw(key, raw)


class ReplacedView(ObjectView[T]):
    """:class:`ObjectView` of a codec whose objects are replaced whole, never changed in place (see the module's
    docstring): nothing is saved at a ``get``; a ``put`` saves the key's entry as it was, which an undo puts back.
    An entry is never changed either (each ``put`` makes a new one), so it is a plain ``(object, dirty)`` tuple,
    not an :class:`_Entry`."""

    def __init__(self, store: TaskStore, codec: ObjectCodec[T], on_flush: OnFlush | None = None) -> None:
        super().__init__(store, codec, on_flush)
        self._held: dict[str, tuple[T, bool]] = {}

    def get(self, key: str) -> T:
        entry = self._held.get(key)
        if entry is None:
            self._held[key] = entry = (self.codec.decode(key, self.store.get_raw(key)), False)
            self.journal.entries.append((self, key, _CLEAN, None))
        return entry[0]

    def put(self, key: str, value: T) -> None:
        held = self._held
        self.journal.entries.append((self, key, held.get(key, _CLEAN), None))
        held[key] = (value, True)

    def revert(self, key: str, saved: Any, _: Any) -> None:
        if saved is _CLEAN:
            self._held.pop(key, None)
        else:
            self._held[key] = saved

    def dirty(self) -> list[str]:
        return [key for key, (_, dirty) in self._held.items() if dirty]

    def flush(self, ctx: Any) -> None:
        """As :meth:`ObjectView.flush`."""
        held, self._held = self._held, {}
        for key, (value, dirty) in held.items():
            if not dirty:
                continue
            if self.on_flush is not None:
                try:
                    self.on_flush(key, value, ctx)
                except Rejected as rejection:
                    ctx.reject_at_flush(rejection)
            raw = self.codec.encode(key, value)
            if raw is None and self.store.get_raw(key) is None:
                continue
            self.store.put_raw(key, raw)
