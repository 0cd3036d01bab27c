"""Echo suppression: what each system holds of the fields Isthmus writes into it.

For every field of a customer a system reports, a :class:`Mirror` keeps the value it last reported through
CDC; for the fields Isthmus can write into the system, also the values commanded since then that it has not
reported back yet, oldest first. What the system *will* hold once the sink has applied everything is the
last commanded value, or the last reported one when nothing is in flight. A flow commands a field only when
the reconciled value differs from that expectation, so a change Isthmus wrote comes back as an echo and
produces nothing.

Reports arrive in commit order, and a sink applies one entity's commands in order. A reported value equal
to an in-flight one is therefore the echo of that command (the ones before it were applied without a
visible change, or overwritten): it and the earlier ones are settled. Any other value is an edit made in
the system itself; the in-flight commands will still be applied after it, so the expectation stays theirs, but
for an edit that lost by policy: its winning value is sent again (:meth:`Mirror.lost`), since a command already
in flight with it may have been applied before the edit without a visible change.

Values are compared as the system keeps them (:func:`held_view`): a nested record's sub-fields it stores, a child
list by child key, and a field the system normalises (``systems.<s>.keeps``: an e-mail it lowercases, an amount it
rounds to cents) in that form (:class:`KeptForm`). So what is remembered as commanded is the value as the system
will store it, its echo (517.8900 for 517.8884 sent) settles it, and a record whose value in that form is what the
system holds gets no command; the record itself keeps the full value.

A null is a value: a field the record holds as null is written as null (the target clears it), and a
system reporting null has reported a value. What is *unknown* is :data:`MISSING`: a field the system has not
reported yet, or one the record has no value for (no system asserted it); nothing is written for it, but for a
field the system's row was seen without, because it was read before the field was mapped: that row will not
report it until it changes or is re-read, so :func:`~streams.flows.customers.sync.decide` sends the record's value
(``_unreported`` there). A
system that cannot clear a field keeps its value; :attr:`Mirror.uncleared` remembers the value already
audited for it, so the difference is recorded once, not on every change.

A ``create`` carries no value for a field no system has given yet (or only the schema's default): the row it
makes holds what the system filled in there, null or a default of its own. That is no edit made in the system, and
its commit time, later than a value of another system that arrives late (dead-lettered and replayed, or just
slow), must not win that field: :attr:`Mirror.unsent` remembers such fields until the system reports an edit of
them, or the echo of a value Isthmus sent them (:func:`~streams.flows.customers.sync.fold`).

An ``update`` names the fields it changes, but its payload carries the whole record, and a target may write all of
it (a SQL route without ``only_changed``, an API whose PUT replaces the record): the fields it does not change are
written with the values the record had when it was decided, which were what the system held then. An edit the
system made before that update is applied (an HR person deactivated while the other system renames it: the rename
decided first, the deactivation read next) is then overwritten with the old value, and its echo looked like a new
edit of the system's (the person active again, and created again in the other system). :attr:`Mirror.carried`
keeps those values while the update is in flight: the old value coming back over such an edit is its echo, no edit;
the system is known to hold it, so the record's value is commanded again. The first echo of any command in flight
ends them (:meth:`Mirror.applied`): a target that writes only the changed fields wrote none of them, and nothing is
sent for them at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.flows.customers.exceptions import CorruptState
from streams.flows.engine.values import from_store, to_store
from streams.mapping.exceptions import MappingValueError
from streams.mapping.transforms import Context, Step, StepInput

#: Not reported, or not known: distinct from None, which is a value (null).
MISSING: Any = object()
#: What a :class:`KeptForm`'s steps are given by default: no row, no system.
_NO_ROW = StepInput(row={}, context=Context())

@dataclass(frozen=True, kw_only=True)
class HeldList:
    """How a system holds a child list (a record's list field the children fill, ``Ticket.kommentare``): a set of
    items by child key. Its view of a list (:meth:`view`) puts the items in the order of their keys and gives
    each the item record's fields (those the system keeps, with the schema's default for one an item lacks), so
    the list Isthmus sent and the same list read back from the system's JSON column (``parse_json``), in
    whatever order the system keeps it, are one value: an echo. Any other difference (an item added, dropped
    or edited there) is a difference, so the record's list is written back."""

    #: The child record's key fields, which order the items.
    key: tuple[str, ...]
    #: The item fields the system keeps, each with its schema default (None where there is none).
    fields: tuple[tuple[str, Any], ...]

    def view(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, Mapping) for item in value):
            return value
        fields = self.fields
        items = [{name: item.get(name, default) for name, default in fields} for item in value]
        items.sort(key=self._order)
        return items

    def _order(self, item: Mapping[str, Any]) -> tuple[tuple[int, Any], ...]:
        """Numbers before texts, each in their own order; a null key first."""
        return tuple((0, 0) if v is None else (1, v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                     else (2, str(v)) for v in (item.get(k) for k in self.key))


@dataclass(frozen=True, kw_only=True)
class KeptForm:
    """The form a system keeps a field's values in (``systems.<s>.keeps``): it normalises what it is sent (an e-mail
    trimmed and lowercased, an amount rounded to cents), so what it reports of a value Isthmus sent is that value
    through these transform steps. Its view (:meth:`view`) puts a value in that form, so the value commanded is
    remembered as the system will keep it and its echo is recognised, and the record's value that the system holds
    in that form is no difference (the record keeps its full value). A value a step cannot take stays as it is.
    The steps run as the system's source would (``given``: its ``time_zone`` for a zone-less local time)."""

    steps: tuple[Step, ...]
    given: StepInput = _NO_ROW

    def view(self, value: Any) -> Any:
        if value is None or value is MISSING:
            return value
        kept, given = value, self.given
        try:
            for step in self.steps:
                kept = step.apply(kept, given)
        except MappingValueError:
            return value
        return kept


Holds = Mapping[str, tuple[str, ...] | HeldList | KeptForm | None]


def held_view(holds: Holds, name: str, value: Any) -> Any:
    """``value`` as a system keeps it: a nested record cut to the sub-fields the system stores, a child list as
    :class:`HeldList` views it, a value the system normalises in its :class:`KeptForm` (``holds``: the fields
    Isthmus writes into the system, :attr:`~streams.flows.customers.config.SystemRole.holds`)."""
    parts = holds.get(name)
    if parts is None:
        return value
    if type(parts) is tuple:
        return {p: value.get(p) for p in parts} if isinstance(value, Mapping) else value
    assert isinstance(parts, (HeldList, KeptForm))
    return parts.view(value)


@dataclass
class Mirror:
    """One system's side of one customer: whether the entity exists there, and its held fields."""

    system: str
    #: The fields Isthmus writes into the system (none for a system it only reads); not stored.
    holds: Holds = field(default_factory=dict, compare=False)
    present: bool = False
    reported: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, list[Any]] = field(default_factory=dict)
    #: Per field the system cannot clear while the record holds null: the value it keeps, already audited.
    uncleared: dict[str, Any] = field(default_factory=dict)
    #: The written fields whose value here Isthmus's ``create`` left to the system (no system had given one): what
    #: the system reports of them is its own filling in, no edit, until it reports a change of them.
    unsent: set[str] = field(default_factory=set)
    #: The written fields an ``update`` in flight did not change, with the value its payload carried for them (the
    #: record's, what the system held then): a target that writes the whole payload writes them too (module
    #: docstring, "carried").
    carried: dict[str, Any] = field(default_factory=dict)
    #: The record fields the system's row holds a value of that it did not send (Debezium's placeholder for an
    #: unchanged TOASTed value) while the record holds none: unknown, so the entity is created nowhere and has no
    #: canonical record until a change of the system gives them (:mod:`~streams.flows.customers.withheld`).
    withheld: set[str] = field(default_factory=set)

    def view(self, name: str, value: Any) -> Any:
        holds = self.holds  # held_view's first look, in line: most fields are held as they are
        return value if holds.get(name) is None else held_view(holds, name, value)

    def expected(self, name: str) -> Any:
        """What the system will hold once every command in flight is applied; MISSING when unknown."""
        queue = self.pending.get(name)
        if queue:
            return queue[-1]
        return self.reported.get(name, MISSING)

    def observe(self, name: str, value: Any) -> bool:
        """The system reports ``value``; True when it is the echo of a command in flight."""
        holds = self.holds  # held_view's first look, in line: most fields are held as they are
        view = value if holds.get(name) is None else held_view(holds, name, value)
        prior = self.reported.get(name, MISSING)
        self.reported[name] = view
        queue = self.pending.get(name)
        if queue:  # most fields have nothing in flight: no list, no enumerate, for them
            for index, sent in enumerate(queue):
                if sent == view:
                    del queue[:index + 1]
                    if not queue:
                        self.pending.pop(name, None)
                    return True
        if prior != view and self.carried.get(name, MISSING) == view:
            del self.carried[name]  # an update in flight wrote the old value it carried over an edit made since
            return True
        return False

    def lost(self, name: str, wanted: Any) -> None:
        """The system's edit of ``name`` lost by policy to ``wanted`` (the record's value, written back to it): a
        command in flight with ``wanted`` is no longer counted on to bring it there. It may have been applied before
        the edit without a visible change (the system held ``wanted`` already: a value refused before it, say a
        dead-lettered update, had left the expectation wrong) and then nothing would ever write ``wanted`` back;
        so it is sent again (:func:`~streams.flows.customers.sync.decide` queues it again). The values in flight
        before it stay, so that their echoes are still recognised. (:func:`~streams.flows.customers.sync.fold` calls
        this only when the edit's before-image held ``wanted``, or it has none: an edit made over another value was
        made before the command in flight with ``wanted`` was applied, which writes it over the edit.)"""
        queue = self.pending.get(name)
        if queue and queue[-1] == held_view(self.holds, name, wanted):
            queue.pop()
            if not queue:
                del self.pending[name]

    def carry(self, name: str, value: Any) -> None:
        """An ``update`` sent now carries ``value`` for ``name`` without changing it (what the system holds). A
        value carried already stays: the command that carries it goes first, so its echo comes first (a
        ``create`` that met the system's own row: :mod:`~streams.flows.customers.overlap`)."""
        self.carried.setdefault(name, held_view(self.holds, name, value))

    def applied(self) -> None:
        """A command in flight came back (an echo): what an update carried and did not write then (the target
        writes only the changed fields) is no echo of it later."""
        self.carried.clear()

    def differs(self, name: str, wanted: Any) -> bool:
        """Should ``wanted`` be written? Not when it is unknown (:data:`MISSING`), when it is what the system
        will hold, or when the system has not reported the field yet (its own value is unknown, and an owner's
        value must never be overwritten by a guess; a field its row was read without is the flow's to decide:
        :func:`~streams.flows.customers.sync.decide`). A null differs from any other value: it clears the field."""
        if wanted is MISSING:
            return False
        view = held_view(self.holds, name, wanted)
        expected = self.expected(name)
        return expected is not MISSING and expected != view

    def differing(self, names: Iterable[str], record: Mapping[str, Any],
                  defaults: Mapping[str, Any]) -> tuple[str, ...]:
        """The fields of ``names`` whose wanted value (``record``'s, else its default, else :data:`MISSING`)
        :meth:`differs` from what the system will hold: :meth:`differs` for a role's fields in one loop, the
        flow's most frequent question (every written field of every system, on every change)."""
        holds, pending, reported = self.holds, self.pending, self.reported
        out = []
        for name in names:
            wanted = record[name] if name in record else defaults.get(name, MISSING)
            if wanted is MISSING:
                continue
            queue = pending.get(name)
            expected = queue[-1] if queue else reported.get(name, MISSING)
            if expected is MISSING:
                continue
            parts = holds.get(name)
            if parts is not None:
                if type(parts) is not tuple:
                    wanted = parts.view(wanted)  # type: ignore[union-attr]
                elif isinstance(wanted, Mapping):
                    wanted = dict(zip(parts, map(wanted.get, parts), strict=True))  # no comprehension frame
            if expected != wanted:
                out.append(name)
        return tuple(out)

    def ending(self, flag: str) -> bool:
        """Is an end of the entity in flight here: the last value commanded for ``flag`` (the record's ``active``)
        false, and not reported back yet?"""
        queue = self.pending.get(flag)
        return queue[-1] is False if queue else False

    def command(self, name: str, wanted: Any) -> None:
        """Record that ``wanted`` was commanded: it is the last in flight, so it is what the system will hold
        (:meth:`expected`) and it is not sent again. A value in flight before another is queued once more, for
        each command's echo settles its own; only the value already last in flight is not queued twice. (Kept
        once wherever it was queued, a value commanded back, true then false then true, left the expectation at
        false: the flow sent true again on every change until an echo settled it, for ever where the system
        never reports the field.)"""
        holds = self.holds  # held_view's first look, in line: most fields are held as they are
        view = wanted if holds.get(name) is None else held_view(holds, name, wanted)
        queue = self.pending.setdefault(name, [])
        if not queue or queue[-1] != view:
            queue.append(view)

    def command_again(self, name: str, wanted: Any) -> None:
        """Record that ``wanted`` was commanded once more (a command re-derived after a dead letter): it is the
        last in flight, whatever was queued after it before."""
        view = held_view(self.holds, name, wanted)
        queue = self.pending.setdefault(name, [])
        if view in queue:
            queue.remove(view)
        queue.append(view)

    def gone(self) -> None:
        """The entity's row left the system: what it held and what was in flight for it are moot. A row made
        there again is a new row whose values are edits, not echoes of commands sent to the old one (say a
        ``deactivate`` that deleted it)."""
        self.present = False
        self.reported.clear()
        self.pending.clear()
        self.uncleared.clear()
        self.unsent.clear()
        self.carried.clear()

    def copy(self) -> Mirror:
        """A copy that changes to this mirror do not touch (held values are replaced, never changed in place)."""
        # fields in their order (see CustomerState.copy)
        return Mirror(self.system, self.holds, self.present, self.reported.copy(),
                      {k: list(v) for k, v in self.pending.items()} if self.pending else {}, self.uncleared.copy(),
                      self.unsent.copy(), self.carried.copy(), self.withheld.copy())

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"present": self.present, "reported": to_store(self.reported),
                                  "pending": {k: to_store(v) for k, v in self.pending.items()}}
        if self.uncleared:  # left out when empty: a state stored before it existed reads the same
            stored["uncleared"] = to_store(self.uncleared)
        if self.unsent:  # likewise
            stored["unsent"] = sorted(self.unsent)
        if self.carried:  # likewise
            stored["carried"] = to_store(self.carried)
        if self.withheld:  # likewise
            stored["withheld"] = sorted(self.withheld)
        return stored

    @classmethod
    def from_json(cls, system: str, data: Mapping[str, Any] | None, holds: Holds | None = None) -> Mirror:
        holds = holds or {}
        if data is None:
            return cls(system=system, holds=holds)
        try:
            return cls(system=system, holds=holds, present=bool(data["present"]),
                       reported=dict(from_store(data["reported"])),
                       pending={k: list(from_store(v)) for k, v in data["pending"].items()},
                       uncleared=dict(from_store(data.get("uncleared") or {})),
                       unsent=set(data.get("unsent") or ()),
                       carried=dict(from_store(data.get("carried") or {})),
                       withheld=set(data.get("withheld") or ()))
        except (KeyError, TypeError, AttributeError) as exc:
            raise CorruptState(f"the {system} mirror of an entity is not what the flow writes: {exc!r}; "
                               "delete the flow's state (its changelog topics) to rebuild it") from exc
