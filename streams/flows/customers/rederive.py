"""Replaying a dead-lettered command re-derives it from the entity's current state.

``isthmus topics dlq replay`` asks, by default, the entity flow whose command a sink dead-lettered to derive it
again (a :class:`~streams.kafka.rederive.RederiveRequest` on the dead-letter topic the flow reads, keyed by the
entity). The stored command is what the source said when it was sent; the request is answered with what the
entity's state needs in the dead letter's target system *now*, so a fix made in the source since is what gets
applied:

- the system holds no row of the entity (not linked, no row seen) and no other create is on its way: ``create``
  with the current data (the refused creation forgotten first, as :mod:`~streams.flows.customers.refused` does);
- the system holds it: an ``update`` of every field Isthmus writes there that the system may not hold (a value
  still in flight, perhaps the dead letter's own, or one the system reported otherwise), with the current
  values; the ids it stores go as an ``update`` of the link; ``on_inactive`` alone when the entity has ended. Nothing
  when the system reported every current value already;
- a write-only system (``capture: none``) shows nothing of what it holds (:mod:`~streams.flows.customers.
  unechoed`): a dead-lettered ``create``, or any command while no create of the entity was sent (a refused one is
  forgotten), comes to ``create`` with the current data, since the system may hold nothing; any other command to
  an entity created there comes to an ``update`` of every field Isthmus writes there, with the current values
  (or ``on_inactive`` alone when the entity has ended);
- the flow does not know the entity (no state of it: say the flow's state was rebuilt without it), or the dead
  letter is no command of this flow's record to one of its systems: the stored command is re-sent as it was,
  marked as a replay, as ``--as-stored`` does.

The commands are new (their idempotency keys derive from the request's own position, so a request handled again
after a crash makes the same ones, a second request new ones); their causation names the dead-lettered command
(``parent_command_id``) and the dead letter (``correlation_id``: ``replay of <dlq>[p]@offset``), and they carry
the ``isthmus.replay`` header, so one that fails again is dead-lettered saying it was a replay. The request is
handled in the flow's transaction like any record: the commands, the entity's mirrors and the offset commit
together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import CodecError
from streams.flows.commands import Cause, Command
from streams.flows.customers.config import EntityConfig, SystemRole, entity_config
from streams.flows.customers.exceptions import CustomerFlowError
from streams.flows.customers.mirror import MISSING
from streams.flows.customers.overlap import owner_holds_other
from streams.flows.customers.state import CustomerState
from streams.flows.customers.sync import (
    carried_ids,
    command_payload,
    decide,
    link_record,
    payload_changes,
    wanted_record,
)
from streams.flows.customers.unechoed import settle_unechoed
from streams.flows.engine.api import Incoming
from streams.flows.engine.objects import ObjectView
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.files import load_flow_files
from streams.kafka.deadletters import replayed_headers, value_left_out
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.mapping import Context, RecordMapping, load_mappings
from streams.sinks.bounded import letter_command
from streams.sinks.dlq import DeadLetterEntry
from streams.sinks.topics import SINK_STAGE
from streams.systems import Systems, load_systems

log = logging.getLogger(__name__)

#: The connector a re-derived command's source position names (no database committed it: the flow's state did).
CONNECTOR = "isthmus.rederive"

Way = Literal["rederived", "as_stored", "not_ours"]


@dataclass(frozen=True, kw_only=True)
class Stored:
    """The stored record a dead letter keeps, to re-send as it was (to its original topic, marked as a replay)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(kw_only=True)
class Answer:
    """What a request comes to: ``rederived`` (``commands``, possibly none), ``as_stored`` (``stored`` is re-sent,
    ``why`` says why) or ``not_ours`` (another flow's request: nothing)."""

    way: Way
    request: RederiveRequest | None = None
    commands: list[Command] = field(default_factory=list)
    stored: Stored | None = None
    why: str = ""


def rederive(record: Incoming, entities: ObjectView[CustomerState], *, config: EntityConfig, schemas: SchemaStore,
             context: Context, named: Mapping[str, Any], audit: list[Mapping[str, Any]],
             settled_at: dt.datetime) -> Answer:
    """Answer the request ``record`` (a RederiveRequest of the dead-letter topic); ``entities``: the batch's view
    of the flow's ``entities`` store. Raises :class:`CustomerFlowError` for a request that cannot be read."""
    if record.value is None:
        return Answer(way="not_ours")
    try:
        request = RederiveRequest.from_avro(schemas.decode(record.value, REDERIVE_TYPE).value)
    except (CodecError, KeyError, TypeError, ValueError) as exc:
        raise CustomerFlowError(f"{record.position}: not a {REDERIVE_TYPE}: {exc}; write requests with "
                                "`isthmus topics dlq replay`") from exc
    if request.flow != config.name:
        return Answer(way="not_ours")
    try:
        letter = schemas.decode(request.dead_letter).value
    except CodecError as exc:
        raise CustomerFlowError(f"{record.position}: the dead letter of the request for {request.address} cannot "
                                f"be read: {exc}") from exc
    stored = Stored(topic=str(letter["topic"]), key=letter.get("key"), value=letter.get("value"),
                    headers=replayed_headers(letter, request.dlq_topic, request.dlq_partition, request.dlq_offset,
                                             request.requested_at))
    command, why = own_command(letter, config, schemas)
    if command is None:
        return _as_stored(request, stored, letter, why)
    system, key = str(command["target"]), str(command["entity_key"])
    state = entities.get(key)
    if not (state.record or state.xref or state.mirrors):
        return _as_stored(request, stored, letter, f"{config.name} does not know {config.key} {key}")
    cause = dead_letter_cause(config, record, key, connector=CONNECTOR, at=request.requested_at)
    commands = _derive(state, config.written[system], command, cause, context=context, named=named, audit=audit,
                       settled_at=settled_at)
    entities.put(key, state)
    parent, correlation = str(command["command_id"]), f"replay of {request.address}"
    return Answer(way="rederived", request=request, commands=[
        dataclasses.replace(c, parent_command_id=parent, correlation_id=correlation) for c in commands])


def _as_stored(request: RederiveRequest, stored: Stored, letter: Mapping[str, Any], why: str) -> Answer:
    """The answer that re-sends the stored command as it was; a dead letter that left the command's value out
    (too large to keep, :mod:`streams.sinks.bounded`) has none to re-send: :class:`CustomerFlowError` says so."""
    size = value_left_out(letter)
    if size is not None:
        raise CustomerFlowError(
            f"it cannot be derived again ({why}), and its stored command cannot be re-sent: the dead letter left its "
            f"value ({size} bytes) out, too large to keep. The entity's next change (or its re-sync) derives what the "
            "target needs; then settle the dead letter (`isthmus topics dlq settle`)")
    return Answer(way="as_stored", request=request, stored=stored, why=why)


def dead_letter_cause(config: EntityConfig, record: Incoming, key: str, *, connector: str,
                      at: dt.datetime) -> Cause:
    """The cause of commands the flow derives from a record of the dead-letter topic (a replay's request, a
    refused create): no database committed them, so their source is that record, as of ``at``."""
    return Cause(system=config.origin, connector=connector, database=record.topic,
                 table=f"{record.topic}[{record.partition}]@{record.offset}", row_key=key, commit_time=at,
                 topic=record.topic, partition=record.partition, offset=record.offset)


def own_command(letter: Mapping[str, Any], config: EntityConfig,
                schemas: SchemaStore) -> tuple[Mapping[str, Any] | None, str]:
    """The dead letter's command when it is one of this flow's (its record, to a system it writes, dead-lettered
    by that system's sink); else None and why not."""
    stage = str(letter.get("stage") or "")
    system = stage[len(SINK_STAGE):]
    if not stage.startswith(SINK_STAGE) or system not in config.written:
        return None, f"stage {stage or '-'} is no sink of a system {config.name} writes"
    try:
        command = letter_command(letter, schemas)  # its fields alone when the sink left its value out
    except CodecError as exc:
        return None, f"its value is not a command ({exc})"
    if command is None:
        return None, "it keeps no command"
    if command.get("entity_type") != config.record.target or command.get("target") != system:
        return None, f"a {command.get('entity_type')} command is not derived from {config.record.target}"
    if not command.get("entity_key"):
        return None, "the command names no entity"
    return command, ""


def _derive(state: CustomerState, role: SystemRole, dead: Mapping[str, Any], cause: Cause, *, context: Context,
            named: Mapping[str, Any], audit: list[Mapping[str, Any]], settled_at: dt.datetime) -> list[Command]:
    """What ``state`` needs in ``role``'s system now; the mirrors remember it (see the module's docstring)."""
    system = role.name
    mirror = state.mirror(system)
    sent = state.creating.get(system)
    # A write-only system is never seen holding the entity: a create sent and not dead-lettered is all there is.
    made = (state.linked(system) or mirror.present) if role.captured else (
        sent is not None and dead.get("operation") != "create")
    if not made:
        if sent is not None and sent != dead.get("idempotency_key"):
            return []  # another create, made from the data of its time, is on its way; its own result decides
        state.creating.pop(system, None)
        mirror.gone()
        return decide(state, cause, context=context, named=named, audit=audit, settled_at=settled_at)
    commands = _resend(state, role, cause, context=context, named=named)
    settle_unechoed(state)
    return commands


def _resend(state: CustomerState, role: SystemRole, cause: Cause, *, context: Context,
            named: Mapping[str, Any]) -> list[Command]:
    """The update with the current value of every field the system may not hold, or its ``on_inactive`` alone when
    the entity has ended there."""
    config = state.config
    mirror = state.mirror(role.name)
    commands: list[Command] = []

    def command(operation: str, payload_type: str, body: Mapping[str, Any], changed: tuple[str, ...]) -> None:
        commands.append(Command(target=role.name, operation=operation, entity_type=config.record.target,
                                entity_key=state.customer_number, payload_type=payload_type, payload=body,
                                cause=cause, changed_fields=changed))

    def unsure(name: str, wanted: Any) -> bool:
        """May the system not hold ``wanted``? A value in flight may be the dead letter's; a value reported
        otherwise is not there. Unknown (never reported) is not written, as :meth:`Mirror.differs` says. A
        write-only system reports nothing: any value it was sent may be the dead letter's."""
        if wanted is MISSING or mirror.expected(name) is MISSING:
            return False
        if not role.captured:
            return True
        return bool(mirror.pending.get(name)) or mirror.reported.get(name, MISSING) != mirror.view(name, wanted)

    whole = wanted_record(state, role)  # with the child lists the role writes

    def value(name: str) -> Any:
        return whole[name] if name in whole else config.defaults.get(name)

    ids = tuple(f for f in role.link_back if state.value(f) is not None and unsure(f, state.value(f)))
    unknown = state.unknown()  # a value its system did not send: named in no update (.withheld)
    fields = tuple(n for n in role.record_writes
                   if n not in unknown and unsure(n, whole[n] if n in whole else config.defaults.get(n, MISSING))
                   and not (value(n) is None and n in role.cannot_clear))
    owned = tuple(n for n in fields if owner_holds_other(state, role.name, n))
    if owned:  # never another system's value over the one the owner reported (.overlap)
        log.warning("%s %s: not re-sent to %s: %s, which %s owns and reported a value of its own while the record "
                    "holds another system's (a state built before its own row was told from the echo of a create); "
                    "rebuild the flow's state (README.md, \"Data both systems hold already\")",
                    config.key, state.customer_number, role.name, ", ".join(owned), role.name)
        fields = tuple(n for n in fields if n not in owned)
    active = config.active
    inactive = active is not None and active in fields and state.value(active) is False
    on_inactive = role.on_inactive or config.on_inactive
    record_type = (role.payload or config.record).target
    if inactive and active is not None and on_inactive != "ignore":  # the end alone goes (sync.decide)
        command(on_inactive, record_type, command_payload(state, role, context, named, whole),
                payload_changes(role, (active,)))
        mirror.command_again(active, False)
        if role.name not in config.reports_active:  # nothing comes back to decide the rest on
            for name in (*ids, *fields):
                mirror.command_again(name, value(name))
        return commands
    updated = tuple(n for n in fields if not (inactive and n == active))
    carried = carried_ids(role, ids, updated)
    alone = tuple(f for f in ids if f not in carried)
    if alone:
        command("update", config.link.target, link_record(state), alone)
    if updated:
        command("update", record_type, command_payload(state, role, context, named, whole),
                payload_changes(role, carried + updated))
    for name in (*ids, *fields):
        if not (inactive and name == active and on_inactive == "ignore"):
            mirror.command_again(name, value(name))
    return commands


def rederiving_flow(letter: Mapping[str, Any], flows: Sequence[EntityConfig],
                    schemas: SchemaStore) -> tuple[str | None, str]:
    """The entity flow of ``flows`` that derives the command of ``letter`` (a DeadLetter record), so a replay asks
    it to derive the command again; None and why when no flow, or more than one, does (then the replay re-sends
    the stored record as it was)."""
    found = [config.name for config in flows if own_command(letter, config, schemas)[0] is not None]
    if len(found) == 1:
        return found[0], ""
    if found:
        return None, f"the entity flows {', '.join(found)} all derive it; none is asked"
    stage = str(letter.get("stage") or "")
    if not stage.startswith(SINK_STAGE):
        return None, f"stage {stage or '-'} is no sink: the record is not a command an entity flow derives"
    try:
        command = schemas.decode(letter["value"]).value if letter.get("value") else {}
    except CodecError:
        command = {}
    kind = str(command.get("entity_type") or "the record").rpartition(".")[2]
    return None, f"no entity flow derives {kind} commands for {stage[len(SINK_STAGE):]}"


def entity_flows(mappings: Mapping[str, RecordMapping], named: Mapping[str, Any], systems: Systems, *,
                 env: Mapping[str, str] | None = None) -> tuple[list[EntityConfig], dict[str, str]]:
    """The entity flows of the flow files (``ISTHMUS_FLOWS_DIR``, default flows/), and those that cannot be
    built, each with why."""
    flows: list[EntityConfig] = []
    broken: dict[str, str] = {}
    for flow in load_flow_files(env=env):
        if flow.block != "entity":
            continue
        try:
            flows.append(entity_config(flow, mappings, named, systems))
        except (FlowFileError, FlowUnavailable) as exc:
            broken[flow.name] = str(exc)
    return flows, broken


def load_entity_flows(store: SchemaStore) -> tuple[list[EntityConfig], dict[str, str]]:
    """:func:`entity_flows` of the project's systems and mapping files, as a replay reads them."""
    systems = load_systems()
    return entity_flows(load_mappings(schemas=store.schemas, systems=systems), store.schemas.named, systems)


def replay_ways(entries: Sequence[DeadLetterEntry], flows: Sequence[EntityConfig], store: SchemaStore, *,
                as_stored: bool = False) -> dict[str, tuple[str | None, str]]:
    """Per dead letter's address, how a replay sends it (the CLI's and the dashboard's one rule): the entity flow
    asked to derive its command again, or None (re-sent as stored) and why."""
    if as_stored:
        return {e.address(): (None, "--as-stored") for e in entries}
    return {e.address(): rederiving_flow(e.letter, flows, store) for e in entries}
