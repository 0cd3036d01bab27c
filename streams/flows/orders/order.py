"""One document from its origin to its target and its status back: what to command, and when. The roles
(which system, which fields, which statuses) come from :class:`~streams.flows.orders.config.DocumentConfig`;
the reference pair's words below (CRM, ERP, ``submitted``, ``on_hold``) are its flows/orders.yaml.

- **Create**: a CRM order whose header and lines arrived in one complete source transaction (never a
  snapshot read, whose lines cannot be known complete), with status ``submitted``, not yet linked to an
  ERP order, becomes one ERP ``SalesOrder create`` once its customer's ERP account is known. Until then
  it waits in the ``documents`` store and is looked at again when the customer or the account arrives; a
  wait for the account that lasts the worker's hold time is held visibly (cause ``no_account``, see holds). Its
  idempotency key comes from the CRM change that made it ready, whatever event finally released it.
- **Hold**: an order ready to go whose customer's ERP account is blocked (as the ERP's CDC last said) is
  not sent: the ERP would refuse it (409 ``account N is blocked``). It is held, the CRM shows it ``on_hold``
  (an ERP-owned status, commanded like the others), and the account's unblock releases it (the create goes
  then). A blocked customer's order is a business state, not an error.
- **Refused in a race**: a create sent before the flow saw the account blocked may be refused by the ERP
  (the sink records that 409 as a result, not a dead letter). When the flow sees the block and has no ERP
  order for a create it sent, it holds the order *in doubt* and, on the unblock, sends the same create
  again: the same payload and idempotency key, so a create the ERP did apply is answered from its
  idempotency table (only 2xx answers are stored there, so a refusal does not use up the key).
- **Cancel**: a CRM user's cancel (or delete) of an order the ERP holds as ``reserved`` becomes an ERP
  ``SalesOrder cancel``; the CRM's later commit wins over the ERP's reservation. A delete that carries only the
  row's key is applied to the row the flow stored (:func:`deleted_row`). A cancel the ERP's status takes none of
  (shipped) is held (cause ``locked``, :func:`.edits.cancel_held`), and the ERP's status is not written back over it.
- **Update**: with the flow file's ``update: {while: [...]}``, a CRM edit of an order the ERP holds (its lines,
  its CRM-owned header fields) becomes one ``SalesOrder update`` of the whole order while the ERP's status is one
  of ``while``; otherwise it is held visibly (cause ``locked``). See :mod:`.edits`.
- **Status back**: the ERP order's status and id go to the CRM (``SalesOrder update``, only the fields
  the CRM does not have or will not get from a pending command). The CRM's report of a value we wrote is
  an echo and commands nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.codecs.debezium.envelope import ChangeEvent, Op
from streams.flows.commands import Cause, Command
from streams.flows.engine.api import Incoming, Waiting
from streams.flows.orders import edits
from streams.flows.orders.config import DocumentConfig
from streams.flows.orders.exceptions import KeyOnlyDelete
from streams.flows.orders.holds import NO_ACCOUNT, WAITING_FOR, WAITS
from streams.flows.orders.mapper import Mapper
from streams.flows.orders.mirror import Mirror
from streams.flows.orders.state import State, cause_of, cause_state
from streams.mapping import LookupMissing, MappedChange


def key_text(key: Any) -> str:
    """A record key as store and command key: one value, or a composite key's values joined by ``/``."""
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def origin_column(mapper: Mapper, field: str) -> str | None:
    """The origin column that holds header field ``field`` (written back, or bound as a plain column)."""
    config = mapper.config
    binding = config.origin.bindings.get(field)
    return config.write_back.get(field) or (binding.column if binding is not None else None)


def apply_origin_header(state: State, mapper: Mapper, event: ChangeEvent,
                        record: Incoming) -> tuple[str | None, bool]:
    """An origin header change; returns its document key (None for a key-only delete of a document never seen:
    :func:`deleted_row`), and whether it changed a column the document's content reads (an edit: :mod:`.edits`)."""
    config = mapper.config
    assert event.row is not None
    row = dict(event.row)
    if event.op is Op.DELETE:
        if config.origin.key_only_before:
            known = deleted_row(state, mapper, event)
            if known is None:
                state.count("deletes_of_unknown_documents")
                return None, False
            row = known
        for field, value in (config.origin.on_delete or {}).items():
            column = origin_column(mapper, field)
            if column is not None:
                row[column] = value
    mapper.validate(config.header, config.origin, row, state.lookup)
    engine = mapper.engine(config.header)
    context = mapper.context(state.lookup).reading(config.origin.system)
    number = key_text(config.header.key_of({k: engine.value(config.origin.bindings[k], row, context)
                                            for k in config.header.key}))
    ref = str(engine.value(config.origin.bindings[config.line_ref.by], row, context))
    document = state.get("documents", number)
    mirror = Mirror(document.get("mirror"))
    echo = mirror.observe({f: row.get(c) for f, c in config.write_back.items()})
    if echo:
        state.count("echoes_suppressed")
    if not echo and document.get("hold"):
        # the origin changed it: worth another try, as it is now
        document["hold"] = {**document["hold"], "cleared": True, "edited": True}
    cancel_requested = bool(document.get("cancel_requested"))
    if not echo:
        if row.get(config.origin_status) == config.cancel_status:
            cancel_requested = True
        elif not document.get("cancel_sent"):
            cancel_requested = False
    stored, previous = State.dump(row), document.get(config.origin_system) or {}
    edited = bool(config.update_while) and any(stored.get(column) != previous.get(column)
                                               for column in config.content_columns)
    document.update({config.origin_system: stored}, ref=ref, mirror=mirror.to_state(),
                    origin_cause=cause_state(Cause.of(event, config.origin_system, record)),
                    origin_snapshot=event.op is Op.READ, cancel_requested=cancel_requested)
    state.put("documents", number, document)
    lines = state.get("lines", ref)
    if lines.get("document") != number:
        state.put("lines", ref, {**lines, "document": number})
    return number, edited


def deleted_row(state: State, mapper: Mapper, event: ChangeEvent) -> dict[str, Any] | None:
    """The origin row of a deleted document whose delete carries only the row's key (PostgreSQL's default replica
    identity, as the columns file says; the other NOT NULL columns come as ``''`` or ``0``): the row the flow
    stored of it, found by its header reference (what its lines name it by, which the key gives), so its party and
    link stand and its ``on_delete`` becomes a cancel; None for a document the flow never saw (nothing to cancel).
    Raises :class:`KeyOnlyDelete` when the key does not give the reference."""
    config = mapper.config
    source, binding = config.origin, config.origin.bindings[config.line_ref.by]
    if not binding.reads <= set(source.row_key):
        raise KeyOnlyDelete(
            f"{source.table} row {dict(event.key or {})} was deleted, but its delete carries only the row's key "
            f"({config.origin_system}'s default replica identity) and the key does not give the document's "
            f"{config.line_ref.by} ({', '.join(sorted(binding.reads))}), so the flow cannot tell which document "
            f"it was and its cancel is not sent: cancel it in {config.target_system} by hand if it has it, and run "
            f"`ALTER TABLE {source.table} REPLICA IDENTITY FULL` and re-discover {config.origin_system} so that "
            "later deletes say their document")
    context = mapper.context(state.lookup).reading(source.system)
    ref = mapper.engine(config.header).value(binding, event.row or {}, context)
    number = state.get("lines", str(ref)).get("document")
    stored = None if number is None else state.get("documents", str(number)).get(config.origin_system)
    if stored is None:
        return None
    return {**State.load(stored), **{column: (event.row or {}).get(column) for column in source.row_key}}


def apply_origin_line(state: State, mapper: Mapper, event: ChangeEvent) -> str | None:
    """An origin line change; returns its document key when the header is known.

    A lines table whose deletes carry only the row's key (PostgreSQL's default replica identity, as the columns
    file says) names no header in a delete: the header each line was filed under is remembered (index entry
    ``line=<line id>``), and a delete finds its line there. A delete of a line never seen changes nothing."""
    config = mapper.config
    row = event.row
    assert row is not None and event.key is not None
    line_id = ",".join(str(v) for v in event.key.values())
    placed = f"line={line_id}" if _lines_remembered(config) else None
    if placed is not None and event.op is Op.DELETE:
        filed = state.get("index", placed).get("ref")
        if filed is None:
            return None
        state.put("index", placed, None)
        ref = str(filed)
    else:
        ref = str(mapper.ref(config.lines, config.lines_source, config.line_ref, row))
        if placed is not None and state.get("index", placed).get("ref") != ref:
            state.put("index", placed, {"ref": ref})
    entry = state.get("lines", ref)
    lines = dict(entry.get("lines") or {})
    if event.op is Op.DELETE:
        lines.pop(line_id, None)
    else:
        lines[line_id] = State.dump(mapper.row(config.lines, config.lines_source, row, state.lookup))
    state.put("lines", ref, {**entry, "lines": lines})
    number: str | None = entry.get("document")
    if number is not None:
        clear_hold(state, number, edited=True)
    return number


def _lines_remembered(config: DocumentConfig) -> bool:
    """Whether the lines' deletes name no header (key-only before-images, and the header reference is no part of
    the row's key), so the header of each line is remembered."""
    source = config.lines_source
    return bool(source.key_only_before) and not config.line_ref.ref.reads <= set(source.row_key)


def clear_hold(state: State, number: str, *, edited: bool = False) -> None:
    """The cause of a refused document's hold may be gone: it is sent again when next looked at; as it was
    refused (its first key), unless the origin ``edited`` it meanwhile."""
    document = state.get("documents", number)
    hold = document.get("hold")
    if hold and (not hold.get("cleared") or (edited and not hold.get("edited"))):
        document["hold"] = {**hold, "cleared": True, "edited": edited or bool(hold.get("edited"))}
        state.put("documents", number, document)


def apply_target(state: State, mapper: Mapper, change: MappedChange, cause: Cause) -> str:
    """A target header change naming its document's key; returns that key."""
    number = key_text(change.key)
    system = mapper.config.target_system
    document = state.get("documents", number)
    values = {**(State.load(document.get(system)) or {}), **change.values}
    document.update({system: State.dump(values)}, target_cause=cause_state(cause))
    state.put("documents", number, document)
    return number


def _lines(state: State, mapper: Mapper, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    config = mapper.config
    stored = (state.get("lines", str(document.get("ref"))).get("lines") or {}).values()
    unbound = {f: None for f in _fields(config.lines) if f not in config.lines_source.bindings}
    lines = [{**State.load(line), **unbound} for line in stored]
    return sorted(lines, key=lambda line: tuple(line[k] for k in config.lines.key))


def _fields(mapping: Any) -> list[str]:
    return list(dict.fromkeys([*mapping.policies, *(f for s in mapping.sources for f in s.bindings)]))


def canonical(state: State, mapper: Mapper, document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document as its canonical record: the origin's content with what the target decides.

    None while the origin header is unknown; raises LookupMissing while a required look-up (its party) is."""
    config = mapper.config
    row = State.load(document.get(config.origin_system))
    if row is None:
        return None
    values = mapper.row(config.header, config.origin, row, state.lookup)
    target = State.load(document.get(config.target_system)) or {}
    causes = [cause_of(document.get(k)) for k in ("origin_cause", "target_cause")]
    times = [c.commit_time for c in causes if c is not None]
    owned = config.header.fields_owned_by(config.target_system)
    record = {**{f: None for f in owned if f in config.target.bindings}, **values}
    record.update({f: row.get(c) for f, c in config.write_back.items() if f not in values})
    assert config.header.parent is None
    record[_lines_field(mapper)] = _lines(state, mapper, document)
    record[config.updated] = max(times) if times else None
    for field in owned:
        if target.get(field) is not None:
            record[field] = target[field]
    return record


def _lines_field(mapper: Mapper) -> str:
    parent = mapper.config.lines.parent
    assert parent is not None
    return parent.field


def party_blocked(state: State, mapper: Mapper, record: Mapping[str, Any]) -> bool:
    """Whether the document's party is blocked in the target, as the target's CDC last reported it."""
    party = mapper.config.party
    number = record.get(party.field)
    if number is None:
        return False
    values = state.side("parties", str(number), mapper.config.target_system) or {}
    return bool(values.get(party.blocked))


def _create(mapper: Mapper, number: str, payload: Mapping[str, Any], cause: Cause, part: str = "") -> Command:
    config = mapper.config
    return Command(target=config.target_system, operation="create", entity_type=config.header.target,
                   entity_key=number, payload_type=config.header.target, payload=payload, cause=cause,
                   correlation_id=number, part=part, reads_refusals=True)


def _creation(state: State, mapper: Mapper, document: dict[str, Any], number: str, record: Mapping[str, Any],
              origin_cause: Cause) -> list[Command]:
    """Create, hold or re-send the target document of an origin document the target does not show yet."""
    blocked = party_blocked(state, mapper, record)
    sent = document.get("create_sent")
    if not document.get("created"):
        if blocked:
            document["held"] = True
            return []
        payload = State.dump(dict(record))
        if sent is not None and document.pop("resend", False):
            # refused, its cause cleared, the origin did not edit it: the same create again, with its first key
            # (the target keeps no refused key), so a refusal that was only a race is applied once
            cause, part, payload = cause_of(sent["cause"]), str(sent.get("part") or ""), sent["payload"]
            assert cause is not None
            record = State.load(payload)
        else:
            # a first create, or another payload after a refusal (the origin changed the document): a new
            # command, as the same key with another payload is refused
            resends = int(document.get("resends") or 0) + (sent is not None)
            cause, part = origin_cause, f"resend{resends}" if resends else ""
            document["resends"] = resends
        create = _create(mapper, number, record, cause, part=part)
        document.update(created=create.idempotency_key, held=False, in_doubt=False,
                        create_sent={"payload": payload, "cause": cause_state(cause), "part": part})
        return [create]
    if blocked:
        # sent, no target document seen, and now the party is blocked: the target may have refused it
        document.update(held=True, in_doubt=True)
        return []
    document["held"] = False
    if document.get("in_doubt") and sent is not None:
        document["in_doubt"] = False
        cause = cause_of(sent["cause"])
        assert cause is not None
        return [_create(mapper, number, State.load(sent["payload"]), cause, part=str(sent.get("part") or ""))]
    return []


def evaluate(state: State, mapper: Mapper, number: str, trigger: Cause, now_s: float, *,
             edited: bool = False) -> tuple[list[Command], str | None, dict[str, Any] | None]:
    """The commands document ``number`` needs now (marked sent in its state), its party's key when known, and
    its canonical record as now stored (None when it was not made again: the stored one stands).

    A document whose party cannot be looked up yet waits in the index under that look-up. One ready to go whose
    party has no account in the target yet waits under :data:`NO_ACCOUNT`, since ``now_s`` (epoch seconds) when
    it starts to; one whose party cannot be looked up waits under :data:`WAITING_FOR` too: the flow's tick
    holds either once that lasts (:func:`due_waits`). ``edited``: the step changed it in its origin (an edit of a
    document the target has is sent as an ``update`` with the flow file's ``update``: :mod:`.edits`)."""
    config = mapper.config
    document = state.get("documents", number)
    if not document.get(config.origin_system):
        return [], None, None
    before = dict(document)
    row = State.load(document[config.origin_system])
    target = State.load(document.get(config.target_system))
    try:
        record = canonical(state, mapper, document)
    except LookupMissing:
        if state.lookup.last is not None:
            state.add_indexed(f"wait={state.lookup.last}", number, document)
            # it waits, and is held once that lasts (see holds); another look-up starts another wait
            lookup, waiting = str(state.lookup.last), document.get(WAITING_FOR) or {}
            document[WAITING_FOR] = waiting if waiting.get("lookup") == lookup else {
                "since": now_s, "due": False, "lookup": lookup}
            state.add_indexed(WAITING_FOR, number, document)
            if edited and config.update_while:
                document[edits.UNSENT] = True  # judged once the look-up arrives
            if document != before:
                state.put("documents", number, document)
        return [], None, None  # the party is not known yet: the document waits for it
    document.pop(WAITING_FOR, None)
    assert record is not None
    party = record.get(config.party.field)
    if party is not None:
        state.add_indexed(f"party={party}", number, document)
    commands: list[Command] = []
    origin_cause = cause_of(document.get("origin_cause"))
    assert origin_cause is not None
    status = row.get(config.origin_status)
    hold = document.get("hold")
    if hold and (target is not None or hold.get("cleared")):
        if target is None:
            # sent again (see _creation): as refused, or as it is now when the origin edited it
            document.update(created=None, resend=not hold.get("edited"))
        document["hold"] = hold = None  # the target has it, or the cause may be gone: it goes on
    ready = (target is None and not document.get("origin_snapshot")
             and status in (*config.send, config.party.held, config.hold.status)
             and row.get(config.write_back[config.link]) is None and bool(record[_lines_field(mapper)]))
    if hold:
        pass  # refused by the target: held until its cause clears (see holds)
    elif ready and record.get(config.party.account) is not None:
        commands += _creation(state, mapper, document, number, record, origin_cause)
    elif document.get("held"):
        document["held"] = False
    if ready and not hold and not document.get("created") and record.get(config.party.account) is None:
        # its party has no account in the target (yet): it waits, and is held once that lasts (see holds)
        document[NO_ACCOUNT] = {"since": now_s, "due": False, **(document.get(NO_ACCOUNT) or {})}
        state.add_indexed(NO_ACCOUNT, number, document)
    else:
        document.pop(NO_ACCOUNT, None)
    if (document.get("cancel_requested") and not document.get("cancel_sent") and target is not None
            and target.get(config.status) in config.cancel_while):
        cancel = Command(target=config.target_system, operation="cancel", entity_type=config.header.target,
                         entity_key=number, payload_type=config.header.target,
                         payload={**record, config.status: config.cancel_status}, cause=origin_cause,
                         correlation_id=number)
        commands.append(cancel)
        document["cancel_sent"] = cancel.idempotency_key
    cancel_held = edits.cancel_held(config, document, target)  # not sent: held, and the origin keeps its cancel
    if config.update_while:
        created_now = any(c.operation == "create" for c in commands)  # it carries the edit
        update = edits.decide(config, document, number, record, target, origin_cause,
                              edited=edited and not created_now)
        if update is not None:
            commands.append(update)
    wanted: dict[str, Any] | None = None
    if target is not None:
        wanted = {f: target.get(f) for f in config.write_back}
        if cancel_held or (document.get("cancel_requested") and target.get(config.status) in config.cancel_while):
            del wanted[config.status]  # the origin's cancel is on its way to the target, or held
    elif hold and config.hold.status:
        wanted = {config.status: config.hold.status}
    elif document.get("held") and config.party.held:
        wanted = {config.status: config.party.held}
    if wanted:
        mirror = Mirror(document.get("mirror"))
        due = mirror.due(wanted)
        if due:
            commands.append(Command(
                target=config.origin_system, operation="update", entity_type=config.header.target,
                entity_key=number, payload_type=config.header.target, payload={**record, **wanted}, cause=trigger,
                changed_fields=due, correlation_id=number))
            mirror.commanded({f: wanted[f] for f in due})
            document["mirror"] = mirror.to_state()
    document["canonical"] = State.dump(record)
    if document != before:
        state.put("documents", number, document)
    return commands, None if party is None else str(party), record


def due_waits(state: State, now_s: float, hold_after_s: float) -> tuple[list[tuple[str, float]], Waiting]:
    """The documents that have waited (for their party's account in the target, :data:`NO_ACCOUNT`, or for a
    look-up, :data:`WAITING_FOR`) ``hold_after_s`` by ``now_s`` and are not held for it yet (marked held now:
    ``due``), each with when it started to wait, and how many wait, since when. Each index forgets the documents
    that no longer wait under it."""
    due: list[tuple[str, float]] = []
    started: list[float] = []  # when each waiting document started to
    for cause in WAITS:

        def waits(number: str, cause: str = cause) -> bool:
            document = state.get("documents", number)
            wait = document.get(cause)
            if not wait:
                return False
            since = float(wait["since"])
            started.append(since)
            if not wait.get("due") and now_s - since >= hold_after_s:
                document[cause] = {**wait, "due": True}
                state.put("documents", number, document)
                due.append((number, since))
            return True

        state.index.sweep(cause, waits)
    return due, Waiting(records=len(started), oldest_since_s=min(started) if started else None)
