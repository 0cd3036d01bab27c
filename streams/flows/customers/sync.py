"""One entity: fold a system's change into the reconciled record, then decide the commands that bring every
written system to it.

Folding first settles echoes (:mod:`~streams.flows.customers.mirror`), then reconciles the remaining
asserted fields by ownership and policy (:func:`streams.mapping.reconcile`). Deciding compares the
reconciled record with what each system holds or will hold. A system gets ``create`` once the entity exists,
active, in an origin other than itself (with one origin: every other written system; with several, e.g.
``origin: [crm, erp]``, also the origins) and is neither linked there nor being created (then the creation is
pending until the entity shows up there; a write-only system shows nothing, its create stays the one sent:
:mod:`~streams.flows.customers.unechoed`); afterwards ``update`` with only the changed fields, and its
``on_inactive`` (``deactivate`` or nothing; the section's unless the system says) when the record became
inactive, alone (no ``update`` with it: it would reach a row the end may delete, and an upsert API would make it
again). An origin that gets no ``create`` is written once the entity is there. An entity that only systems that
are no origin hold is created nowhere, and nothing ends it there: it is held visibly
(:mod:`~streams.flows.customers.no_origin`). Every system gets the other systems' ids it stores (an ``update`` of
the link) and the fields it holds (an ``update`` of the record). A value one system lost by policy differs from
what that system holds, so it is written back the same way. A field a system's row should report but never did
(mapped after the row was read) is sent the record's value (:func:`_unreported`). The systems that are no origin
come first, then the origins (command order per record).

An ``owner_wins`` value the owner now holds (it reports the record's value, nothing in flight to it there: the echo
of a value another system gave, a snapshot's re-read) is stamped as the owner's before reconciling
(:func:`_owner_holds`), so another system's later edit of it is refused; a value a system lost is written back to it,
even when the same value was already in flight there (:meth:`Mirror.lost`).

What ends an entity is its record's ``active`` field, reconciled like any other field: a row deleted in a system
whose mapping sets ``active: false`` on delete ends it everywhere when that system wins the field (its owner
under ``owner_wins``, the latest commit under ``latest_commit_wins``); otherwise the entity is still active, so a
system that lost its row gets ``create`` again. An ended entity's child lists go to no system: a child change
folded into it afterwards (a snapshot re-reading its rows, a row moved off it or deleted) is counted
(:data:`ENDED_CHILD_COUNT`) and sent nowhere, and the same holds for the children changed with the end; its lists
stay right in its state, sent should it live again.

An end sent to a system that reports ``active`` (:attr:`~streams.flows.customers.config.EntityConfig.
reports_active`) is waited for: until it comes back (``active`` false, or the row gone: ``Mirror.gone``), that
system gets nothing more (:meth:`Mirror.ending`). Whether the end deletes the entity there (the Tryton example's
CRM route for ``deactivate`` is a DELETE) or keeps it inactive (the reference ERP's account) is the target's
business, unknown here; what comes back says it: an entity made again meanwhile gets ``create`` where the row is
gone, an ``update`` where it was kept. Sent at once, that ``update`` reached a row being deleted (a 404 dead
letter). A refused end counts as not ended (:mod:`~streams.flows.customers.refused`), so nothing waits for an echo
that never comes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

from streams.codecs.debezium.envelope import Op
from streams.flows.commands import Cause, Command
from streams.flows.customers.config import SystemRole
from streams.flows.customers.exceptions import MergedRows
from streams.flows.customers.merged import merged_reason, note_made_beside
from streams.flows.customers.mirror import MISSING, KeptForm, Mirror
from streams.flows.customers.overlap import met_create, own_row
from streams.flows.customers.state import CustomerState
from streams.flows.customers.unechoed import settle_unechoed
from streams.flows.customers.withheld import fold as fold_withheld
from streams.flows.customers.withheld import whole_item
from streams.inspect.masking import MASK
from streams.mapping import Context, MappedChange, RecordMapping, project
from streams.mapping.reconcile import Stamp, reconcile_into, uncleared
from streams.mapping.spec import Policy

log = logging.getLogger(__name__)

#: Counted per child change folded into an entity that has ended: sent to no system (:func:`fold_child`).
ENDED_CHILD_COUNT = "child_changes_of_ended"


def fold(state: CustomerState, change: MappedChange, *, observed: Mapping[str, Any], op: Op,
         settled_at: dt.datetime, echoes_seen: list[str] | None = None,
         whole: bool = False) -> tuple[Mapping[str, Any], ...]:
    """Fold ``change`` (of a Debezium ``op``) into ``state``; ``observed`` holds every value the system
    reports for the entity. Returns the conflict records settled; the fields that were echoes of our own
    commands are added to ``echoes_seen``. ``whole``: an update that claims every field because the row's
    previous change was dead-lettered (:mod:`~streams.flows.customers.missed`); like a snapshot read, it does not
    claim a value the system reported before (that is no edit made since), so only what changed since the system
    was last heard of (the dead-lettered change's values among it) is reconciled."""
    system = change.system
    mirror = state.mirror(system)
    prior = dict(mirror.reported)
    echoes: set[str] = set()
    own = own_row(state, change, mirror, op)  # the system's own row, met by the create in flight (.overlap)
    if own:
        mirror.unsent.clear()  # the create left nothing to it: the row was there before
    # A row that leaves a source whose delete sets fields (``on_delete: {set: ...}``) leaves the system holding
    # those values: Tryton's e-mail mechanism deleted is an e-mail of null there. Not observed, the mirror would
    # keep the old value: a false ``cannot_clear`` audit, and that old value set again never sent.
    cleared = (change.source.on_delete or {}) if change.deleted else observed
    for name, value in observed.items():
        if name not in cleared:
            continue
        if mirror.observe(name, value):
            echoes.add(name)
        elif mirror.pending.get(name) and isinstance(mirror.holds.get(name), _PLAIN) and op is not Op.READ and (
                not _held_before(mirror, name, value, prior, change.base)):
            _unrecognised(state, mirror, name, value)
    if echoes and mirror.carried:
        mirror.applied()
    if echoes_seen is not None:
        echoes_seen.extend(sorted(echoes))
    if echoes and op in (Op.CREATE, Op.READ):
        note_made_beside(state, change, echoes)  # a new row echoing a create: made beside the entity's row?
    if not change.deleted:
        _owner_holds(state, change, mirror)
    skipped = set(echoes)
    if mirror.unsent:
        skipped |= _left_unsent(state, change, mirror, prior, echoes, op=op, whole=whole)
    if op in (Op.CREATE, Op.READ):
        # A new row shows the value a field had before the commands still in flight for it: not an edit. (The
        # system's own row, which the create in flight met, shows its own values: they are claimed.)
        if not own:
            skipped |= {n for n in mirror.holds if mirror.pending.get(n)}
        # Nor is an empty mirror of a field the other system owns and has set: nothing was synced yet.
        policies = change.mapping.policies
        skipped |= {n for n in change.asserted if change.values.get(n) is None and n in policies
                    and policies[n].owner != system and n in state.provenance
                    and state.provenance[n].system == policies[n].owner}
    if op is Op.READ or whole:
        # A snapshot re-reads the row: a value the system already reported is not an edit made now, unless the
        # record never had the field (mapped after the entity was made; an update since showed its value but
        # claimed only what it changed): the snapshot the docs ask for then is how the field is filled.
        skipped |= {n for n in change.asserted
                    if prior.get(n, MISSING) == mirror.view(n, change.values.get(n)) and n in state.provenance}
    # A child list a system maps back (its JSON column) is only observed: the children are the list, and the
    # record's list that differs from what the system reports is written back (decide).
    skipped.update(state.config.child_fields)
    asserted = tuple(f for f in change.asserted if f not in skipped)
    if op is Op.UPDATE and not whole and change.base is not None:
        asserted += _missed_changes(change, mirror, prior, echoes)
    # into the state's own record and stamps (a scope's copy of the state copies both): not a reconciled copy of
    # each, copied again into the state (issue 17)
    changed, conflicts, rejected = reconcile_into(
        state.record, state.provenance, entity_type=change.mapping.target, entity_key=state.customer_number,
        incoming=change.values, asserted=asserted, base=change.base, system=system, commit_time=change.commit_time,
        policies=change.mapping.policies, settled_at=settled_at, clocks=state.config.clocks)
    base = change.base
    for name in rejected:
        # the winning value is sent back (Mirror.lost) when the system held it before this edit, or may have: a
        # command in flight with it may have been applied before, changing nothing there
        wanted = state.record.get(name)
        held = MISSING if base is None else base.get(name, MISSING)
        if held is MISSING or mirror.view(name, held) == mirror.view(name, wanted):
            mirror.lost(name, wanted)
    if own:
        met_create(state, mirror)
    stamp = state.config.updated_at
    if changed and stamp is not None:
        latest = state.record.get(stamp)
        state.record[stamp] = change.commit_time if latest is None else max(latest, change.commit_time)
    withholding = bool(change.withheld)
    if not withholding:
        for held in state.mirrors.values():  # a loop, not any() of a generator: every change folded asks it
            if held.withheld:
                withholding = True
                break
    if withholding:
        fold_withheld(state, change, mirror)  # a value the change did not send, the record holding none: unknown
    return conflicts


#: How a system holds a field whose unrecognised value :func:`_unrecognised` says: as sent, or in a form it keeps (a
#: declared form that leaves out a step, a time cut to the second beside the derived local round trip).
_PLAIN = (type(None), KeptForm)


def _unrecognised(state: CustomerState, mirror: Mirror, name: str, value: Any) -> None:
    """Say, once per system and field, that the system reported ``value`` of ``name`` while a value Isthmus sent it
    is in flight and is neither that value nor the one the system held before (:func:`_held_before`; nor is a
    snapshot read said). The causes, most likely first: an edit made there meanwhile, or a row that had its own
    value there before and was read after the command was decided (a transaction read late): nothing to do, the
    field's policy settles it; or the system normalises what it stores (an e-mail lowercased, an amount rounded), so
    the echo is taken for an edit of its own, a false conflict, and the write stays in flight: then
    ``systems.<s>.keeps`` says so. What is at hand tells some apart (:func:`_a_form_of`): a null, another truth
    value, other text or another number is no normalised form, so the line says there is nothing to do; a value
    that could be the sent one in another form, seen on :data:`_FORMS_SAID` entities of the system and field, is
    said once more as normalisation. A personal field's values are not shown."""
    system = mirror.system
    sent = mirror.pending[name][-1]
    hidden = name in state.config.personal
    shown, had = _shown(value, hidden), _shown(sent, hidden)
    key, number = state.config.key, state.customer_number
    form = _a_form_of(value, sent)
    if form:
        seen = _FORMS.setdefault((system, name), set())
        if len(seen) < _FORMS_SAID:
            seen.add(number)
            if len(seen) == _FORMS_SAID and _first_time("normalises", system, name):
                record = state.config.record.target.rpartition(".")[2]
                log.warning("%s reported %s in another form than Isthmus sent it on %d %ss (last %s for %s, %s %s): "
                            "it normalises what it stores; declare it, so its echoes are recognised: "
                            "systems.%s.keeps (flows/README.md); said once per system and field", system, name,
                            _FORMS_SAID, record, shown, had, key, number, system)
    if not _first_time("unrecognised", system, name):
        return
    if form is False:
        log.warning("%s reported %s %s where Isthmus had sent %s (%s %s): an edit made in %s meanwhile, or a row "
                    "that had its own value there before, read after the command was decided; nothing to do, the "
                    "field's policy settles it. No normalisation: the values differ beyond case, spaces and "
                    "rounding; said once per system and field", system, name, shown, had, key, number, system)
        return
    log.warning("%s reported %s %s where Isthmus had sent %s (%s %s): most likely an edit made in %s meanwhile, or "
                "a row that had its own value there before, read after the command was decided: nothing to do, the "
                "field's policy settles it; else %s normalises what it stores (%s): if the same difference comes "
                "back on other %ss, declare it: systems.%s.keeps (flows/README.md); said once per system and field",
                system, name, shown, had, key, number, system, system,
                "the value could be the one sent, in another form" if form else "the values are of other kinds",
                state.config.record.target.rpartition(".")[2], system)


def _a_form_of(reported: Any, sent: Any) -> bool | None:
    """Whether ``reported`` could be ``sent`` as a system normalised it (None: cannot tell, values of other kinds):
    text that is the same but for case, spaces and punctuation, a number rounded, a time cut to whole seconds or
    milliseconds or off by whole quarter hours up to a day (a zone-less local time: a zone's offset, a repeated
    hour). A null, a truth value, other text, another number or another time is no such form."""
    if reported is None or sent is None or isinstance(reported, bool) or isinstance(sent, bool):
        return False
    if isinstance(reported, str) and isinstance(sent, str):
        return _letters(reported) == _letters(sent)
    if isinstance(reported, (int, float, Decimal)) and isinstance(sent, (int, float, Decimal)):
        try:
            held, wanted = Decimal(str(reported)), Decimal(str(sent))
            return any(wanted.quantize(Decimal(1).scaleb(-places), rounding=rounding) == held
                       for places in range(7) for rounding in (ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_DOWN, ROUND_UP))
        except ArithmeticError:  # not finite, or too many digits to round
            return None
    if isinstance(reported, dt.datetime) and isinstance(sent, dt.datetime):
        try:
            shift = reported - sent
        except TypeError:  # one has a zone, the other has none
            return None
        offset = round(shift / _QUARTER_HOUR) * _QUARTER_HOUR
        cut = shift - offset
        return abs(offset) <= dt.timedelta(days=1) and (
            not cut or (abs(cut) < dt.timedelta(seconds=1) and reported.microsecond % 1000 == 0))
    return None


_QUARTER_HOUR = dt.timedelta(minutes=15)


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


#: Entities of a system and field on which :func:`_a_form_of` found the reported value a form of the sent one, up to
#: :data:`_FORMS_SAID`: that many say the system normalises.
_FORMS: dict[tuple[str, str], set[str]] = {}
_FORMS_SAID = 3


def _held_before(mirror: Mirror, name: str, value: Any, prior: Mapping[str, Any],
                 base: Mapping[str, Any] | None) -> bool:
    """Whether the system's report of ``value`` for ``name`` is what it held before the write in flight landed: the
    value it reported last (``prior``), or the one this change's before-image shows (``base``: the change did not
    touch the field). An edit of another field made there before the write landed carries it, and nothing was
    normalised; a snapshot read taken then (the caller's) likewise."""
    held = mirror.view(name, value)
    return prior.get(name, MISSING) == held or (
        base is not None and name in base and mirror.view(name, base[name]) == held)


def _shown(value: Any, hidden: bool) -> str:
    """A value as a log line shows it: text quoted (its spaces and case are what differ), a number as written."""
    if hidden and value is not None:
        return MASK
    return repr(value) if isinstance(value, str) else str(value)


def _owner_holds(state: CustomerState, change: MappedChange, mirror: Mirror) -> None:
    """Stamp as the owner's (this change's) each ``owner_wins`` field that ``change``'s system owns and now holds at
    the record's value (it reports it, nothing is in flight to it there) while another system's stamp stands: the
    value is the owner's from now on, so another system's later edit of it is refused and written back. The usual
    way there is the echo of the value Isthmus wrote into the owner (its ``create``, made from a row born in another
    system, or an ``update`` of a value another system gave while the owner held none), which no reconciliation
    sees (an echo is claimed by no one); so are a snapshot's re-read of the field and an update of other fields."""
    system = change.system
    policies = change.mapping.policies
    record, provenance = state.record, state.provenance
    for name in change.values:
        policy = policies.get(name)
        if policy is None or policy.owner != system or policy.policy is not Policy.OWNER_WINS:
            continue
        stamp = provenance.get(name)
        if (stamp is None or stamp.system == system or mirror.pending.get(name) or name in mirror.unsent
                or name not in record):
            continue
        if mirror.reported.get(name, MISSING) == mirror.view(name, record[name]):
            provenance[name] = Stamp(system=system, commit_time=change.commit_time)


def _left_unsent(state: CustomerState, change: MappedChange, mirror: Mirror, prior: Mapping[str, Any],
                 echoes: set[str], *, op: Op, whole: bool) -> set[str]:
    """The fields of ``change`` that still hold what Isthmus's ``create`` left to the system (:attr:`Mirror.unsent`:
    no system had given them a value): not claimed, whatever they hold (null, or a default of the system's own) and
    whenever the system committed it, so a value another system gives them, even one committed earlier and arriving
    late, is taken. While no system has given one, the record takes a value the system filled in (its default)
    without a stamp, so any system's value replaces it.

    An edit made in the system is claimed as usual: an update that changes such a field, the row's end, or a row
    shown whole once it was seen (a snapshot read, or the change after one the flow dead-lettered: ``whole``)
    holding another value than the system reported before. An echo of a value another system gave settles the
    field too."""
    unsent = mirror.unsent
    shown_whole = op is Op.READ or whole
    left: set[str] = set()
    filled: dict[str, Any] = {}
    for name in change.asserted:
        if name not in unsent:
            continue
        value = change.values.get(name)
        if name in echoes:
            if name in state.provenance:
                unsent.discard(name)
            continue
        if change.deleted or (op is Op.UPDATE and not whole) or (
                shown_whole and mirror.present and prior.get(name, MISSING) not in (MISSING, mirror.view(name, value))):
            unsent.discard(name)  # changed there (an update claims only what it changed), or the row ended
            continue
        left.add(name)  # the row as the create made it
        if value is not None and name not in state.record and not mirror.pending.get(name):
            filled[name] = value
    if filled:
        state.record = {**state.record, **filled}
    return left


def _missed_changes(change: MappedChange, mirror: Mirror, prior: Mapping[str, Any],
                    echoes: set[str]) -> tuple[str, ...]:
    """The fields of an update that claims what its before-image shows changed, whose value differs from what the
    system reported last although this change did not change it: a change of the row the flow never read (filtered
    out, expired, made before the flow began) set it. It is the system's value now, so it is claimed as that change
    would have claimed it: an owner's value is never commanded back to the record's older one."""
    claimed = change.asserted
    key = change.mapping.key
    missed = []
    unsent = mirror.unsent  # what the system reported of them is its own filling in, not a change to catch up on
    for name, value in change.values.items():
        if name in claimed or name in echoes or name in key or name in unsent:
            continue
        reported = prior.get(name, MISSING)
        if reported is not MISSING and reported != mirror.view(name, value):
            missed.append(name)
    return tuple(missed)


def _linked(state: CustomerState) -> bool:
    """Is the entity linked, for ``linked_at``? With one origin: it has the id of a created system. With several
    (each also created in the others): it exists in two systems, by their ids or, for an origin without one in
    the link (a read-only origin), by its rows."""
    config = state.config
    ids = sum(state.xref.get(i) is not None for i in config.stamped_ids)
    if len(config.origins) == 1:
        return ids > 0
    created = {role.name for role in config.targets}
    return ids + sum(state.mirror(o).present for o in config.origins if o not in created) >= 2


def fold_xref(state: CustomerState, change: MappedChange, *, settled_at: dt.datetime) -> None:
    """The link follows its own mapping; its conflicts are the record's (same fields, same owners) and are
    audited there. A system whose id the link gains is no longer being created; ``linked_at`` is stamped when
    the entity becomes linked (:func:`_linked`) and cleared when it is no longer."""
    config = state.config
    had_link = _linked(state)
    reconcile_into(state.xref, state.xref_provenance, entity_type=change.mapping.target,
                   entity_key=state.customer_number, incoming=change.values, asserted=change.asserted,
                   base=change.base, system=change.system, commit_time=change.commit_time,
                   policies=change.mapping.policies, settled_at=settled_at, clocks=config.clocks)
    mirror = state.mirrors.get(change.system)
    if mirror is not None and mirror.unsent and not change.deleted:
        # its row is there: a field the row's own table does not hold was left out of it, and a row of another
        # table that shows it later (an e-mail added as a row of its own) is an edit made in the system
        mirror.unsent &= config.fields_of(change.system, change.source.table)
    for role in config.targets:
        if role.id is not None and state.xref.get(role.id) is not None:
            state.creating.pop(role.name, None)
    has_link = _linked(state)
    if config.linked_at is not None:
        if has_link and not had_link:
            state.xref[config.linked_at] = change.commit_time
        elif had_link and not has_link:
            state.xref[config.linked_at] = None


def fold_child(state_of: Callable[[Any], CustomerState], change: MappedChange) -> int:
    """A child row into its list field (the child mapping's ``parent.field``) of its parent's state
    (``state_of``), by the child's key; a row moved to another parent (``moved_from``: a merge) leaves the old
    parent's list. A field whose value the change left out keeps the item's value (the update did not change it);
    an item that has none is refused (:func:`~streams.flows.customers.withheld.whole_item`).

    How many of the parents it changed have ended (:data:`ENDED_CHILD_COUNT`): their lists are folded all the
    same, so they are right should the entity live again, but :func:`decide` sends them to no system."""
    assert change.mapping.parent is not None
    name = change.mapping.parent.field
    key = str(change.key)
    ended = 0
    if change.moved_from is not None:
        old = state_of(change.moved_from)
        old.children.setdefault(name, {}).pop(key, None)
        ended += _folded_into_ended(old, change, "left")
    state = state_of(change.parent_key)
    items = state.children.setdefault(name, {})
    if change.deleted:
        items.pop(key, None)
    else:
        items[key] = whole_item(change, items.get(key)) if change.withheld else dict(change.values)
    return ended + _folded_into_ended(state, change, "deleted from" if change.deleted else "changed in")


def _ended(state: CustomerState) -> bool:
    """Has the entity ended (its ``active`` false; never without ``active``)?"""
    active = state.config.active
    return active is not None and state.value(active) is False


def _folded_into_ended(state: CustomerState, change: MappedChange, how: str) -> int:
    if not _ended(state):
        return 0
    assert change.mapping.parent is not None
    log.debug("%s %s has ended: its %s %s %s %s is folded, and sent to no system unless it lives again",
              state.config.record.target.rpartition(".")[2], state.customer_number,
              change.mapping.target.rpartition(".")[2], change.key, how, change.mapping.parent.field)
    return 1


def command_payload(state: CustomerState, role: SystemRole, context: Context, named: Mapping[str, Any],
                    whole: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a command to ``role``'s system carries: the projection of its payload mapping, or the record (without
    provenance, and without the child lists the role does not write). Projected from the record with its child
    lists when the role writes one (:attr:`SystemRole.lists`): ``whole``, :func:`wanted_record`'s, when the caller
    has it, so one decision builds the lists once."""
    config = state.config
    if whole is None:
        whole = wanted_record(state, role)
    if role.payload is not None:
        return project(role.payload, {**config.defaults, **whole}, context, named)
    if not state.complete:
        return {config.key: state.customer_number}
    unwritten = [f for f in config.child_fields if f not in role.lists]
    return {k: v for k, v in whole.items() if k not in unwritten} if unwritten else dict(whole)


def wanted_record(state: CustomerState, role: SystemRole) -> Mapping[str, Any]:
    """The record ``role``'s system is brought to: with its key, and with its child lists when the role writes
    one (only then are they built)."""
    if role.lists:
        return state.with_children()
    return {**state.record, state.config.key: state.customer_number}


def payload_changes(role: SystemRole, changed: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of ``role``'s payload that ``changed`` record fields feed: the names a command's
    ``changed_fields`` carry, since a route's ``only_changed`` and ``writes`` name the payload's fields (a record's
    ``beitrag`` sent as the account's ``credit_limit``). Without a payload mapping they are the record's own."""
    if role.payload is None or not changed:
        return changed
    feeds = payload_feeds(role.payload)
    names: dict[str, None] = {}
    for field in changed:
        for name in feeds.get(field, (field,)):
            names[name] = None
    return tuple(names)


_FEEDS: dict[int, tuple[RecordMapping, dict[str, tuple[str, ...]]]] = {}


def payload_feeds(mapping: RecordMapping) -> dict[str, tuple[str, ...]]:
    """Record field -> the payload fields a payload mapping fills from it (by its ``record:`` source's bindings),
    worked out once per mapping. A record field no binding reads maps to itself."""
    found = _FEEDS.get(id(mapping))
    if found is not None and found[0] is mapping:
        return found[1]
    feeds: dict[str, list[str]] = {}
    for source in mapping.sources:
        if source.record is None:
            continue
        for name, binding in source.bindings.items():
            for read in binding.reads:
                feeds.setdefault(read, []).append(name)
    result = {field: tuple(dict.fromkeys(names)) for field, names in feeds.items()}
    _FEEDS[id(mapping)] = (mapping, result)
    return result


def link_record(state: CustomerState) -> dict[str, Any]:
    """The link record as a system that stores it gets it: each field the record has from the record, the
    others (such as ``linked_at``) from the link."""
    config = state.config
    link = {f: state.value(f) if f in config.record_fields else state.xref.get(f) for f in config.link_fields}
    return {**link, config.link.key[0]: state.customer_number} if len(config.link.key) == 1 else link


def carried_ids(role: SystemRole, ids: tuple[str, ...], updated: tuple[str, ...]) -> tuple[str, ...]:
    """The link-back ``ids`` that go with the record's update of ``updated`` fields rather than as the link's own
    update: those ``role``'s ``writes`` lists too, when there is an update. One command and one echo instead of
    two (a new customer's link and the defaults its other system filled in)."""
    return tuple(f for f in ids if f in role.writes) if updated else ()


def decide(state: CustomerState, cause: Cause, *, context: Context, named: Mapping[str, Any],
           audit: list[Mapping[str, Any]], settled_at: dt.datetime) -> list[Command]:
    """The commands that bring every written system to the reconciled record; the mirrors remember them. A
    null the system cannot clear (its role's ``cannot_clear``) gets no command: its audit record (rule
    ``cannot_clear``) is added to ``audit``, once per value the system keeps."""
    config = state.config
    key = state.customer_number
    merged = state.merged_rows()
    if merged is not None:
        raise MergedRows(merged_reason(state, *merged))
    commands: list[Command] = []

    def command(target: str, operation: str, mapping: RecordMapping | None, payload: Mapping[str, Any],
                changed: tuple[str, ...] = ()) -> None:
        commands.append(Command(target=target, operation=operation, entity_type=config.record.target,
                                entity_key=key, payload_type=(mapping or config.record).target, payload=payload,
                                cause=cause, changed_fields=changed))

    present = [origin for origin in config.origins if state.mirror(origin).present]
    unknown = state.unknown()  # a value a system did not send, the record holding none (.withheld)
    whole: dict[str, Any] | None = None  # the record with its child lists, built once, when a role writes one
    defaults = config.defaults
    active = config.active
    held = config.reports_active  # the systems whose end in flight comes back: none without ``active``
    ended = _ended(state)  # its child lists are sent nowhere (fold_child), the change that ended it included
    for role in config.order:
        name = role.name
        mirror = state.mirror(name)
        if active is not None and name in held and mirror.ending(active):
            continue  # its end is in flight: what it needs is decided when it reports the end (module docstring)
        if role.lists and whole is None:
            whole = state.with_children()
        wanted = whole if role.lists and whole is not None else state.record

        def value(field: str, wanted: Mapping[str, Any] = wanted) -> Any:
            return wanted[field] if field in wanted else defaults.get(field)

        if config.creates_in(name):
            linked: bool | None = None  # asked once (it may make a mirror of the system that observes the id)
            if len(present) > present.count(name):  # an origin other than name holds it
                linked = state.linked(name)
            # Only a complete record is made elsewhere (every field its schema requires has a value): a row the
            # link alone knows (a party whose contact mechanisms are synced, its customer not in scope) is no one's
            # to create, and a create without a required field would only be refused by the target.
            # Nor one with a field whose value is unknown: the create would carry it as null (.withheld).
            if (linked is False and name not in state.creating and state.active
                    and state.complete and not unknown):
                command(name, "create", role.payload, command_payload(state, role, context, named, whole))
                state.creating[name] = commands[-1].idempotency_key
                for field in role.holds:
                    if value(field) is not None:
                        mirror.command(field, value(field))
                    else:
                        # the create leaves the system's default: known, so a later value is sent
                        mirror.reported[field] = None
                if role.captured:  # what its row shows of a field no system gave is no edit of it (fold)
                    mirror.unsent = {f for f in role.record_writes
                                     if f not in state.provenance and f not in config.child_fields}
                continue
            if not ((state.linked(name) if linked is None else linked) or name in state.creating):
                continue
        elif not mirror.present:
            continue
        # an id the system stores is set, never cleared, through the link (the link is not ended by a null)
        # (each comprehension below only where it has something to look at: most roles have no link-back ids, no
        # field that cannot be cleared and, most of the time, nothing differing)
        linking = tuple(f for f in role.link_back
                        if state.value(f) is not None and mirror.differs(f, state.value(f))) if role.link_back else ()
        differing = mirror.differing(role.record_writes, wanted, defaults) + (
            _unreported(state, mirror, role, wanted) if role.captured else _never_sent(state, mirror, role, wanted))
        if unknown and differing:
            differing = tuple(n for n in differing if n not in unknown)
        cannot_clear = role.cannot_clear
        kept = {n for n in differing if n in cannot_clear and mirror.view(n, value(n)) is None} \
            if cannot_clear and differing else set()
        if cannot_clear and (kept or mirror.uncleared):  # else it has nothing to audit, nothing to forget
            _audit_uncleared(state, mirror, role, kept, audit, settled_at)
        changed = tuple(n for n in differing if n not in kept and not (ended and n in config.child_fields)) \
            if differing else ()
        inactive = active is not None and active in changed and state.value(active) is False
        on_inactive = role.on_inactive or config.on_inactive
        if inactive and active is not None and on_inactive != "ignore":
            # the end alone goes: an update with it reaches a row the end may delete (an upsert makes it again)
            command(name, on_inactive, role.payload, command_payload(state, role, context, named, whole),
                    payload_changes(role, (active,)))
            mirror.command(active, False)
            if name not in held:  # no end comes back to decide the rest on: taken as held, never sent after it
                for field in linking:
                    mirror.command(field, state.value(field))
                for field in changed:
                    mirror.command(field, value(field))
            continue
        updated = tuple(n for n in changed if not (inactive and n == active)) if inactive else changed
        carried = carried_ids(role, linking, updated) if linking else ()
        for field in linking:
            if field not in carried:
                command(name, "update", config.link, link_record(state), (field,))
            mirror.command(field, state.value(field))
        if updated:
            command(name, "update", role.payload, command_payload(state, role, context, named, whole),
                    payload_changes(role, carried + updated))
            if role.captured:  # what the payload carries unchanged may be written too (mirror.py, "carried")
                for field in role.record_writes:
                    if field not in changed and field in wanted and mirror.expected(field) == mirror.view(
                            field, value(field)):
                        mirror.carry(field, value(field))
        for field in changed:
            if not (inactive and field == active):
                mirror.command(field, value(field))
    settle_unechoed(state)  # a write-only system sends no echo: what it was commanded is what it holds
    return commands


def _unreported(state: CustomerState, mirror: Mirror, role: SystemRole, wanted: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields ``role``'s system has not reported although its row was seen and its row's table maps them: the
    row was read before the field was mapped (a column added while running, README "Changing a source schema
    while running"). Unsent, the field stayed unknown there until a snapshot of that system's table, and nothing
    said so. The record's value another system gave is sent; not where the system owns the field (``owner_wins``):
    its own value, unknown, is the one that counts, and is not overwritten by a guess. Either is said once per
    system and field, with the snapshot that reads what the system holds. ``mirror``: ``role``'s system's."""
    config = state.config
    row = config.row_fields.get(role.name, frozenset())
    if not mirror.present or row <= mirror.reported.keys():
        return ()  # every field its row maps was reported: the usual case, decided without a look at each
    found = tuple(n for n in role.record_writes
                  if n in row and n in wanted and mirror.expected(n) is MISSING
                  and (stamp := state.provenance.get(n)) is not None and stamp.system != role.name)
    policies = config.record.policies
    owned = {n for n in found if n in policies and policies[n].owner == role.name
             and policies[n].policy is Policy.OWNER_WINS}
    for name in found:
        if _first_time("unreported", role.name, name):
            log.warning("%s never reported %s of %s %s (its rows were read before the field was mapped): %s; "
                        "snapshot %s's table so that what it holds is read", role.name, name, config.key,
                        state.customer_number, "not sent, it owns the field" if name in owned
                        else "the record's value is sent", role.name)
    return tuple(n for n in found if n not in owned)


def _never_sent(state: CustomerState, mirror: Mirror, role: SystemRole, wanted: Mapping[str, Any]
                ) -> tuple[str, ...]:
    """The fields ``role``'s write-only system (``capture: none``) was never sent although it holds the entity: fields
    added to its ``writes`` after the entity was made there. What such a system holds is what it was commanded
    (nothing comes back from it), so a field never commanded is unknown there, and was never sent: a new user's
    child list added to a running capture (``tags``) reached the canonical record but never the API, silently. The
    record's value is sent, when it has one (a null or an empty list leaves what the create left there); said once
    per system and field. ``mirror``: ``role``'s system's."""
    held = mirror.reported.keys() | mirror.pending.keys()
    if held.issuperset(role.record_writes):
        return ()  # every field it writes was sent once at least: the usual case, decided without a look at each
    found = tuple(n for n in role.record_writes if n not in held and wanted.get(n) not in (None, [], {}))
    for name in found:
        if _first_time("never sent", role.name, name):
            log.warning("%s was never sent %s of %s %s (the field was added to its writes after the entity was made "
                        "there): the record's value is sent now, and to each entity with its next change", role.name,
                        name, state.config.key, state.customer_number)
    return found


def _first_time(*said: str) -> bool:
    """Whether ``said`` (what is said, then of what: ``("unreported", system, field)``) is said for the first time
    in this process; it counts as said from now on."""
    if said in _SAID:
        return False
    _SAID.add(said)
    return True


#: What :func:`_first_time` was asked to say, once per process: what was said, then of what.
_SAID: set[tuple[str, ...]] = set()


def _audit_uncleared(state: CustomerState, mirror: Mirror, role: SystemRole, kept: set[str],
                     audit: list[Mapping[str, Any]], settled_at: dt.datetime) -> None:
    """Audit each field of ``kept`` (null in the record, a value in ``role``'s system, ``mirror``, which cannot clear
    it) whose kept value was not audited yet; forget the others, so a later divergence is audited again."""
    for name in role.cannot_clear:
        if name not in kept:
            mirror.uncleared.pop(name, None)
            continue
        value = mirror.expected(name)
        if mirror.uncleared.get(name, MISSING) == value:
            continue
        mirror.uncleared[name] = value
        audit.append(uncleared(
            entity_type=state.config.record.target, entity_key=state.customer_number, field=name,
            policy=state.config.record.policies[name], stamp=state.provenance.get(name), target=role.name,
            kept=value, settled_at=settled_at))
