"""The entity flow (block ``entity``; the reference instance is the customer master, customer <-> account):
changes of the record's, the link's and the children's tables in (:class:`~streams.flows.customers.config.
EntityConfig` says which); commands to the written systems, the reconciled record and the conflict audit out.

Stores (all keyed by text, values JSON objects but the entities'):

- ``entities``: per record key, the reconciled record with provenance, its child lists, the link, what
  each system holds (:mod:`~streams.flows.customers.mirror`) and the creations in flight, in a compact layout
  (:class:`~streams.flows.customers.state.StateCodec`). An entity is decoded once per batch, kept as an object
  while the batch's records change it, and written (and its canonical record published, if the batch changed
  it) once when the batch ends (``Context.objects``);
- ``index``: ``<id field>=<id>`` to the record key, for each link field the sources' look-ups use (the
  reference: ``crm_customer_id``, through which contacts and addresses find their customer). An entry stays
  when the entity is deleted, so the rows that go with it (cascaded deletes) still find it;
- ``rows``: the last image of each row that names its entity only through a look-up (contacts, addresses).
  Such tables may keep PostgreSQL's default replica identity, so their updates and deletes carry only the
  key; the remembered row stands in for the before-image (which entity, which kind of address);
- ``parked``: changes whose entity is not known yet (a ``LookupMissing``), by what they wait for. They
  are completed, in their order, when the entity arrives; a wait that lasts is held visibly
  (:mod:`streams.flows.parked`);
- ``deferred``: the entities the parts of a source transaction past the ``transaction_limit`` folded, decided at
  its END (:mod:`~streams.flows.customers.deferred`);
- ``missed``: the rows whose change was dead-lettered, whose next change claims every field
  (:mod:`~streams.flows.customers.missed`);
- ``no_origin``: the entities a decision found held only by systems that are no origin, by key, with since when, until
  the tick holds them visibly (:mod:`~streams.flows.customers.no_origin`).

A change the flow cannot use is rejected (``Rejected``): the engine undoes everything its record did, so a
record that is dead-lettered leaves no trace in the stores; a change parked for its entity leaves none either.
The changes of one source transaction (:mod:`~streams.flows.customers.txnet`) are folded in one isolated scope
and decided together: a change that cannot be used is rejected alone, an entity that cannot be decided is rejected
with the changes folded into it, the others decided without them (:mod:`~streams.flows.customers.undecided`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.codecs import ChangeEvent, Op, decode
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import decode_key
from streams.codecs.debezium.unavailable import unavailable_columns
from streams.codecs.exceptions import CodecError, FieldDecodeError
from streams.flows.canonical.lineage import LINEAGE_HEADER, MAPPING_VERSION_HEADER, Lineage, mapping_version
from streams.flows.commands import Cause, Command, NotWritable, command_headers, encode_command, payload_json
from streams.flows.customers.config import EntityConfig, Reads, reference_config
from streams.flows.customers.copied import CopiedIds
from streams.flows.customers.deferred import (
    DECIDED_COUNT,
    DECISIONS_PER_BATCH,
    DEFERRED,
    DEFERRED_COUNT,
    DecisionProgress,
    Deferred,
    cause_record,
)
from streams.flows.customers.exceptions import CustomerFlowError, MissingMapping
from streams.flows.customers.ignored import IgnoredDeletes
from streams.flows.customers.keying import CustomerKeys, row_key
from streams.flows.customers.lost import ENDED_COUNT, say_ended
from streams.flows.customers.matching import fills_from_matching_rows, shown_change
from streams.flows.customers.missed import MARKED_COUNT, MISSED, WHOLE_COUNT, Missed
from streams.flows.customers.no_origin import NO_ORIGIN, NoOriginHolds
from streams.flows.customers.recreate import reborn
from streams.flows.customers.rederive import dead_letter_cause, rederive
from streams.flows.customers.refused import forget_refused, same_payload
from streams.flows.customers.remembered import ROWS_CODEC, Row, UnknownEnds
from streams.flows.customers.snapshots import SNAPSHOT_CHUNK, SNAPSHOT_TX, Snapshots
from streams.flows.customers.state import CustomerState, StateCodec
from streams.flows.customers.sync import ENDED_CHILD_COUNT, command_payload, decide, fold, fold_child, fold_xref
from streams.flows.customers.txnet import PARTS, Group, Part, Transactions
from streams.flows.customers.undecided import Undecided, left_out, listed
from streams.flows.customers.unindexed import answerable, answers, index_fix
from streams.flows.customers.withheld import WithheldHolds
from streams.flows.engine.api import Context, FlowSpec, Incoming, OutputTooLarge, Rejected, Store, Ticking, Waiting
from streams.flows.engine.objects import ObjectView
from streams.flows.engine.packed import fingerprint
from streams.flows.exceptions import FlowUnavailable
from streams.flows.lookups import short_name
from streams.flows.parked import ParkedHolds
from streams.flows.topics import AUDIT_CONFLICTS, DLQ_TOPIC
from streams.flows.topics import topic as own_topic
from streams.flows.truncates import Truncates
from streams.kafka.deadletters import REPLAY_HEADER, REPLAY_NOTE, replay_header
from streams.kafka.rederive import requested_flow
from streams.mapping import Context as MappingContext
from streams.mapping import LookupMissing, MappedChange, MappingError, RecordMapping, map_change
from streams.systems import Systems

log = logging.getLogger(__name__)

FLOW_NAME = "isthmus-customers"
STAGE = f"flow.{FLOW_NAME}"
CONFLICT = "isthmus.canonical.ConflictRecord"
#: The connector a decision made when a refused create was forgotten names as its cause's.
REFUSED_CONNECTOR = "isthmus.refused"

ENTITIES, INDEX, ROWS, PARKED = "entities", "index", "rows", "parked"
STORES = (ENTITIES, INDEX, ROWS, PARKED, MISSED, NO_ORIGIN)


Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def input_tables(config: EntityConfig, systems: Systems) -> dict[str, tuple[str, str]]:
    """Input topic -> the system and table its events come from, as the systems' files name the topics."""
    return {systems[system].topic(table): (system, table) for system, table in config.reads}


class _LinkLookup:
    """The look-up of the link record by one of its indexed id fields (the mapping files'
    ``lookup: {record: <link>, by: <id field>}``); remembers what it missed so the change can be parked under
    it. An index entry is ``{<key field>: <record key>}``; one by the record key the index lacks is answered by the
    entity (:mod:`.unindexed`). One per flow, its mapping context made once around it (a context per record cost
    two ``dataclasses.replace`` a record); :meth:`start` readies it for a record."""

    def __init__(self, config: EntityConfig) -> None:
        self._index: Store | None = None
        self._parked: Store | None = None
        self._entities: ObjectView[CustomerState] | None = None
        self._record = short_name(config.link.target)
        self._indexed = config.indexed
        self._key = config.key
        self.missed: str | None = None

    def start(self, stores: Mapping[str, Store], entities: ObjectView[CustomerState]) -> _LinkLookup:
        """Look up in ``stores``' index (and ``entities``) for the record about to be applied; nothing missed yet."""
        self._index, self._parked, self._entities, self.missed = stores[INDEX], stores[PARKED], entities, None
        return self

    def __call__(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None:
        if short_name(record) != self._record or by not in self._indexed:
            return None
        assert self._index is not None, "start() readies the look-up for a record"
        entry = self._index.get(f"{by}={key}")
        if entry is None:
            assert self._parked is not None and self._entities is not None
            if by == self._key and answers(self._entities, self._parked, f"{by}={key}", key):
                return {by: key, self._key: key}
            self.missed = f"{by}={key}"
            return None
        return {by: key, self._key: entry[self._key]}


@dataclass
class _Outcome:
    conflicts: list[Mapping[str, Any]] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    echoes: list[str] = field(default_factory=list)
    #: The entities the change folded into, each with the change as the cause of its commands.
    touched: dict[str, Cause] = field(default_factory=dict)


@dataclass
class _SetAside:
    """What a group's folding set aside, to be done after its scope: changes rejected alone (with the rejection),
    changes parked (with what they wait for); and, by position, the changes of entities that could not be decided,
    left out when the group is folded again (with their rejection: :mod:`.undecided`)."""

    rejected: list[tuple[Incoming, Rejected]] = field(default_factory=list)
    parked: list[tuple[str, Incoming]] = field(default_factory=list)
    left_out: dict[str, Rejected] = field(default_factory=dict)


@dataclass(frozen=True)
class _Waits:
    """A change that waits for its entity: its look-up of ``waiting_for`` (an index key) missed."""

    waiting_for: str


def _unpublished(state: CustomerState) -> bool:
    """The entity's canonical record differs from the one last published (held back while its source
    transaction's parts came): its state must be written, so that the batch's end publishes it."""
    canonical = state.canonical()
    return canonical is not None and fingerprint(canonical) != state.published


def _undecided(used: list[Incoming], exc: Exception) -> str:
    """The dead-letter reason of a group whose decision failed for no entity of it (every change of it gets this
    one)."""
    if len(used) == 1:
        return f"{used[0].position}: cannot decide on this change: {exc}"
    return (f"{listed([r.position for r in used])}: cannot decide on the {len(used)} changes of its source "
            f"transaction: {exc}; the failure names none of the entities they folded into, so none is decided")


@dataclass(frozen=True, slots=True)
class _Change:
    """The change an entity last folded in, from which its canonical record's lineage headers are made when the
    batch ends: only the batch's last change to an entity is published, so the lineage (its JSON key text, its
    headers) is built once per published record rather than once per source record."""

    event: ChangeEvent
    system: str
    record: Incoming
    cause: Cause
    #: The local times its mapping found repeated or skipped by a DST change (``LocalTimeNote.as_json``).
    local_times: tuple[Mapping[str, str], ...] = ()

    def lineage(self, version: str) -> Lineage:
        return Lineage.of(self.event, self.system, self.record, version, self.local_times, cause=self.cause)


@dataclass(frozen=True, slots=True)
class _KeptLineage:
    """The lineage a held entity keeps with its state (``CustomerState.held_lineage``): that of the last change
    the parts of a source transaction folded into it, whose record is gone by the time it is decided."""

    header: str

    def lineage(self, version: str) -> Lineage:
        return Lineage.from_headers(((LINEAGE_HEADER, self.header.encode()), (MAPPING_VERSION_HEADER,
                                                                              version.encode())))


class CustomerFlow:
    """The flow's logic; :meth:`spec` is what a worker runs."""

    def __init__(self, *, mappings: Mapping[str, RecordMapping], schemas: SchemaStore, systems: Systems,
                 config: EntityConfig | None = None, clock: Clock = _utc_now,
                 tables: Mapping[str, tuple[str, str]] | None = None,
                 command_topics: Mapping[str, str] | None = None, canonical_topic: str | None = None,
                 transactions: bool | None = None, dead_letter_topic: str | None = DLQ_TOPIC) -> None:
        """``config``: the flow file's ``entity:`` section (default: the project's flows/customers.yaml over
        ``mappings``). ``systems``: the declared systems (their zones, and by default their topics).
        ``tables``: the input topics, by the system and table each carries (default: :func:`input_tables`);
        every table the config reads needs one. ``command_topics``: the command topic per target system
        (default: the sinks' ``isthmus.commands.<system>``). ``canonical_topic``: where the reconciled record
        goes (default: the section's ``publish``). ``transactions``: join the changes of a source transaction
        along the systems' transaction topics (default: as the section's ``transactions`` says when the input
        topics are the systems' own, not when ``tables`` names others, which have no transaction topic).
        ``dead_letter_topic``: where the sinks dead-letter commands, read for refused creates (default: the
        sinks' ``isthmus.dlq``, under the topic prefix; None: not read; :mod:`~streams.flows.customers.refused`)."""
        if config is None:
            try:
                config = reference_config(mappings, schemas.schemas.named, systems, FLOW_NAME)
            except FlowUnavailable as exc:
                raise MissingMapping(f"{exc}; loaded: {', '.join(sorted(mappings)) or 'none'}") from exc
        self.config = config
        self.name = config.name
        self.stage = f"flow.{config.name}"
        net = config.transactions == "net" and (tables is None if transactions is None else transactions)
        tables = input_tables(config, systems) if tables is None else tables
        unread = sorted(set(config.reads) - set(tables.values()))
        if unread:
            raise CustomerFlowError(f"{config.name} needs an input topic for " + ", ".join(
                f"{system}.{table}" for system, table in unread))
        self.tables = dict(tables)
        self.transactions = Transactions(net=net, systems=systems, tables=self.tables,
                                         limit=config.transaction_limit)
        #: Each system's initial snapshot, folded as one transaction and decided at its end.
        self._snapshots = Snapshots(config.name, self.tables)
        #: How a long run of deferred decisions goes, said every few seconds.
        self._deciding = DecisionProgress(config.name)
        self.dead_letters = own_topic(DLQ_TOPIC) if dead_letter_topic == DLQ_TOPIC else dead_letter_topic
        self.command_topics = dict(command_topics or {})
        self.canonical_topic = canonical_topic or own_topic(config.publish)
        self.conflicts_topic = own_topic(AUDIT_CONFLICTS)
        self.mapping_version = mapping_version(config.record.path)
        self.schemas = schemas
        self.named = schemas.schemas.named
        self.systems = systems
        self.context = MappingContext.of(systems)
        self.clock = clock
        self._codec = StateCodec(config)
        #: The record's sources whose rows make its key of their own columns: one such row is one
        #: record, so two live rows giving one key are refused (``MergedRows``); an address found through its
        #: customer's id is one of several rows of its entity. Each with the name its rows are claimed under.
        self._row_keyed = config.row_claims
        #: The record's sources several rows of which may match one entity at once (an address found through its
        #: customer's id): the field shows the matching row changed last (:mod:`.matching`).
        self._matching = frozenset(s.name for s in config.record.sources if fills_from_matching_rows(s, config.key))
        self.holds = ParkedHolds(flow=self.name, schemas=schemas, stores=(PARKED,), fix=index_fix(config, systems))
        self.truncates = Truncates(flow=self.name, schemas=schemas, systems=systems, topic=self.holds.topic)
        self._lookup = _LinkLookup(config)
        #: The ids the rows a group ended reported, which a create copied from them does not take (.copied).
        self._copied = CopiedIds()
        #: The deletes dropped because nothing is known of their row: counted, and said once per table.
        self._unknown_ends = UnknownEnds(self.name, config.record.target, systems)
        #: The deletes that end nothing (no ``active``): counted, and said once per system.
        self._ignored = IgnoredDeletes(self.name, config)
        self._withheld = WithheldHolds(flow=self.name, config=config, systems=systems, schemas=schemas,
                                       topic=self.holds.topic)
        #: The entities that only systems that are no origin hold: held after the wait, once each.
        self._no_origin = NoOriginHolds(flow=self.name, config=config, schemas=schemas, topic=self.holds.topic)
        #: The mapping context of the flow's changes; its notes (the local times a DST change repeated or skipped)
        #: are cleared for each change and kept with the change's lineage.
        self._mapping_context = dataclasses.replace(self.context, lookup=self._lookup, notes=[])
        #: An entity decided with nothing to send, into which only child rows were folded since, is not decided
        #: again where no system writes a child list (its decision reads nothing they change: ``settled``). Every
        #: path that changes entities but the folding of changes (dead letters, the tick, the deferred decisions)
        #: moves this on, so no mark made before it holds.
        self._settled_mark = 0
        self._children_unwritten = not any(role.lists for role in config.order)

    def spec(self) -> FlowSpec:
        return FlowSpec(
            name=self.name, inputs=(*self.tables, *self.transactions.topics,
                                    *([self.dead_letters] if self.dead_letters else ())),
            handler=self.handle, stores=(*STORES, *self.transactions.stores, PARTS, DEFERRED),
            outputs=(self.canonical_topic, self.conflicts_topic, self.holds.topic), compacted=(self.canonical_topic,),
            key_by=CustomerKeys(self.config, self.tables, self.context, self.named, self.transactions,
                                self.dead_letters),
            description=self.config.description, tick=self.tick, warnings=self.config.warnings,
            sends=self.config.sends)

    def handle(self, record: Incoming, ctx: Context) -> None:
        if record.topic == self.dead_letters:
            self._settled_mark += 1
            if requested_flow(record.headers) is not None:
                self._rederive(record, ctx)
            else:
                refused = forget_refused(record, self._entities(ctx), config=self.config, schemas=self.schemas)
                if refused is not None:
                    self._refused(record, refused, ctx)
            return
        groups = Transactions.parts(record, ctx.stores)
        if groups is None:
            where = self.tables.get(record.topic)
            groups = self.transactions.groups(record, where[0] if where else None, ctx.stores, ctx.count, ctx=ctx)
            if self.transactions.net and where and len(groups) == 1 and groups[0] == (record,) \
                    and not isinstance(groups[0], Part):
                # a change standing alone: a snapshot's read is a part of the snapshot's transaction (.snapshots)
                part = self._snapshots.part(record, self.transactions.event(record), ctx.stores[DEFERRED])
                if part is not None:
                    groups = [part]
        self._groups(groups, ctx)

    def _refused(self, record: Incoming, refused: Mapping[str, Any], ctx: Context) -> None:
        """A create of the entity was refused (and forgotten, :mod:`.refused`): when the record has changed since
        it was sent, the entity is decided again now (its create goes with the data it has now); when not, the
        same data would be refused again, so nothing is sent until the entity's next change. An end refused is
        decided again now when the entity lives again (what was held while the end was in flight goes); an
        entity still ended is not (its end would only be refused again): its next change sends the end. A create
        refused where the entity's own row linked it since (several origins held it already) is decided again now,
        and its dead letter noted settled, whatever is sent (:mod:`.overlap`)."""
        key, role = str(refused["entity_key"]), self.config.written[str(refused["target"])]
        operation = str(refused["operation"])
        entities = self._entities(ctx)
        state = entities.get(key)
        met = operation == "create" and state.linked(role.name)  # its own row there linked it (.overlap)
        with ctx.isolated(record):
            try:
                if operation != "create":
                    if not state.active:
                        return
                elif not met and same_payload(refused, payload_json(command_payload(state, role, self.context,
                                                                                    self.named))):
                    return
                cause = dead_letter_cause(self.config, record, key, connector=REFUSED_CONNECTOR,
                                          at=dt.datetime.fromtimestamp(record.timestamp_ms / 1000, dt.UTC))
                audit: list[Mapping[str, Any]] = []
                commands = decide(state, cause, context=self.context, named=self.named, audit=audit,
                                  settled_at=self.clock())
                outputs = self._encode_commands(commands) + self._encode_conflicts(audit)
            except (MappingError, CodecError, CustomerFlowError, NotWritable) as exc:
                raise Rejected(stage=self.stage, reason=(
                    f"{key}: its refused {operation} was forgotten, but the entity, changed since, cannot be decided "
                    f"again: {exc}; it is decided with its next change")) from exc
            entities.put(key, state)
            for topic, out_key, value, headers in outputs:
                ctx.emit(topic, key=out_key, value=value, headers=headers)
            if commands or met:  # the dead letter is dealt with: a note beside it, so `dlq list` no longer counts it
                sent = ", ".join(f"{c.operation} {c.command_id} to {c.target}" for c in commands) or "nothing sent"
                since = ("its own row there linked the entity" if met else "with the data changed since"
                         if operation == "create" else "the entity live again since")
                note = {"dlq_topic": record.topic, "dlq_partition": record.partition, "dlq_offset": record.offset,
                        "replayed_to": f"{self.name}: {sent}, {since}", "way": "settled",
                        "replayed_at": self.clock()}
                ctx.emit(record.topic, key=record.key, value=self.schemas.encode(REPLAY_NOTE, note))

    def _rederive(self, record: Incoming, ctx: Context) -> None:
        """A replay's request to derive a dead-lettered command again (:mod:`~streams.flows.customers.rederive`):
        the commands the entity's state needs now, or the stored command re-sent as it was; both marked as the
        replay of the dead letter (``isthmus.replay``)."""
        audit: list[Mapping[str, Any]] = []
        try:
            answer = rederive(record, self._entities(ctx), config=self.config, schemas=self.schemas,
                              context=self.context, named=self.named, audit=audit, settled_at=self.clock())
            commands = self._encode_commands(answer.commands)
            conflicts = self._encode_conflicts(audit)
        except (MappingError, CodecError, CustomerFlowError, NotWritable) as exc:
            raise Rejected(f"{record.position}: cannot re-derive the dead-lettered command: {exc}",
                           stage=self.stage) from exc
        request = answer.request
        if request is None:
            return  # another flow's request
        if answer.stored is not None:
            stored = answer.stored
            ctx.emit(stored.topic, key=stored.key, value=stored.value, headers=dict(stored.headers))
            ctx.count("rederive_as_stored")
            log.info("%s: the command of %s is re-sent as stored: %s", record.position, request.address, answer.why)
            return
        replay = {REPLAY_HEADER: replay_header(request.dlq_topic, request.dlq_partition, request.dlq_offset,
                                               request.requested_at)}
        for topic, key, value, headers in commands:
            ctx.emit(topic, key=key, value=value, headers={**headers, **replay})
        for topic, key, value, headers in conflicts:
            ctx.emit(topic, key=key, value=value, headers=headers)
        ctx.count("rederived")
        ctx.count("conflicts", len(conflicts))
        log.info("%s: the command of %s is re-derived from the current state: %s", record.position, request.address,
                 ", ".join(f"{c.operation} {c.payload_type.rpartition('.')[2]} {c.entity_key} -> {c.target} "
                           f"[{','.join(c.changed_fields)}]" for c in answer.commands)
                 or "nothing to send, the system holds the current values")

    def tick(self, ctx: Context, ticking: Ticking) -> Waiting:
        """Apply what arrived of the source transactions whose missing changes will never come (their tables read
        to their end: :meth:`~streams.flows.customers.txnet.Transactions.abandon_read_to_end`), and the complete
        ones behind them, and the changes parked for an entity's own key that the entity answers now
        (:mod:`.unindexed`); then hold the entities no origin has had for too long (:mod:`.no_origin`) and announce
        the parked changes that wait too long."""
        self._settled_mark += 1
        self._groups(self.transactions.abandon_read_to_end(ticking.read_to_end, ctx.stores, ctx.count, ctx=ctx), ctx)
        self._groups(self._snapshots.quiet(ticking, ctx.stores[DEFERRED]), ctx)
        unindexed = answerable(self.config, self._entities(ctx), ctx.stores[PARKED])  # parked before it could be
        self._groups([(record,) for record in self._release(ctx, unindexed)], ctx)
        busy = self._decide_deferred(ctx)
        busy = self._no_origin.tick(ctx, ticking, self._entities(ctx)) or busy
        waiting = self.holds.tick(ctx, ticking)
        return dataclasses.replace(waiting, busy=True) if busy else waiting

    def _groups(self, groups: list[Group], ctx: Context) -> None:
        for group in groups:
            queue: deque[Group] = deque([group])
            while queue:
                released = self._group(queue.popleft(), ctx)
                queue.extendleft(reversed([(r,) for r in released]))

    def _group(self, records: Group, ctx: Context) -> list[Incoming]:
        """Fold the changes of one group (a source transaction, or one change) in order, then decide once for
        every entity they touched; returns the parked records their entities released, to be processed next.

        The group is one isolated scope: an entity that cannot be decided undoes all of it, which is folded and
        decided again without the changes folded into that entity (:mod:`.undecided`); a failure that is no
        entity's rejects every change it used. A change that cannot be used, or must wait for its entity, is set
        aside while folding (its own part undone at once) and dead-lettered or parked after the scope, so that
        undoing the group does not undo that too."""
        aside = _SetAside()
        released: list[str] = []
        undecided: tuple[Incoming, ...] = ()
        while True:
            try:
                with ctx.isolated():
                    try:
                        released = self._fold_and_decide(records, ctx, aside)
                    except Rejected as rejection:
                        undecided = rejection.records
                        raise
                break
            except Undecided as failed:  # each time one change more at least is left out: it ends
                aside = _SetAside(left_out={**aside.left_out, **failed.reasons})
        if undecided:  # the scope was undone, the marks of the changes rejected alone with it
            for record in (*(r for r, _ in aside.rejected), *undecided):
                self._missed(record, ctx)
        for record, letter in aside.rejected:
            with ctx.isolated(record):
                raise letter
        for waiting_for, record in aside.parked:
            self._park(ctx, waiting_for, record)
        if isinstance(records, Part) and records.last and Deferred(ctx.stores[DEFERRED]).end(records.tx):
            self._decide_deferred(ctx)
        return self._release(ctx, released)

    def _entities(self, ctx: Context) -> ObjectView[CustomerState]:
        return ctx.objects(ENTITIES, self._codec, on_flush=self._publish)

    def _fold_and_decide(self, records: Group, ctx: Context, aside: _SetAside) -> list[str]:
        """Fold the group's changes, then decide once per entity they touched, with the cause of the group's last
        change of it; the entities' canonical records are published when the batch ends (:meth:`_publish`)."""
        folded: dict[str, Cause] = {}
        used: list[Incoming] = []
        outcome = _Outcome()
        settled_at = self.clock()
        self._copied.group()
        folded_by: list[tuple[Incoming, dict[str, Cause]]] = []
        for record in records:
            if aside.left_out and record.position in aside.left_out:  # its entity cannot be decided
                aside.rejected.append((record, aside.left_out[record.position]))
                self._missed(record, ctx)
                continue
            try:
                one = self._fold(record, ctx, settled_at)
            except Rejected as rejection:
                aside.rejected.append((record, rejection))
                self._missed(record, ctx)  # in the group's scope: a later change of the row in it claims all
                continue
            if isinstance(one, _Waits):
                aside.parked.append((one.waiting_for, record))
                continue
            if one is None:
                continue
            used.append(record)
            outcome.conflicts += one.conflicts
            outcome.echoes += one.echoes
            outcome.released += one.released
            folded.update(one.touched)
            folded_by.append((record, one.touched))
        if not used:
            return []
        deciding = folded
        entities = self._entities(ctx)
        self._withheld.folded(ctx, entities, folded, settled_at)  # a value a change left out: unknown (.withheld)
        if isinstance(records, Part) and (not records.last or len(folded) > DECISIONS_PER_BATCH):
            # decided at the transaction's end (see .deferred), at most a batch's budget of them at a time
            fill = 0
            if records.tx.startswith(SNAPSHOT_TX):  # a read per part: an entity left once a batch, not per read
                folded = {key: cause for key, cause in folded.items() if not entities.get(key).held}
                fill = SNAPSHOT_CHUNK
            for key in folded:
                entities.get(key).held = True  # and published there (see _publish)
            Deferred(ctx.stores[DEFERRED]).defer(records.tx, folded, fill=fill)
            ctx.count(DEFERRED_COUNT, len(folded))
            deciding = {}
        failed: dict[str, Exception] = {}
        commands: list[tuple[str, str, bytes, dict[str, bytes]]] = []
        audits: list[tuple[str, str, bytes, dict[str, bytes]]] = []
        audited = len(outcome.conflicts)
        for key, cause in deciding.items():
            audit: list[Mapping[str, Any]] = []
            try:
                state = entities.get(key)
                state.held = False
                if state.settled == self._settled_mark and self._children_unwritten:
                    decided = []  # decided with nothing to send, child rows alone folded since (``settled``)
                else:
                    decided = decide(state, cause, context=self.context, named=self.named, audit=audit,
                                     settled_at=settled_at)
                    state.settled = self._settled_mark if not decided and not audit else None
                if decided:
                    commands += self._encode_commands(decided)
                if audit:
                    audits += self._encode_conflicts(audit)
            except (MappingError, CodecError, CustomerFlowError, NotWritable) as exc:
                failed[key] = exc
                continue
            outcome.conflicts += audit
            if say_ended(state, cause, self.name):  # a target's delete ended it: not created there again
                ctx.count(ENDED_COUNT)
            self._ignored.decided(state, decided, cause, ctx)
            self._no_origin.decided(ctx, state, settled_at)  # only systems that are no origin hold it?
            entities.put(key, state)  # encoded, and its canonical record published, when the batch ends
        outputs = commands + self._encode_conflicts(outcome.conflicts[:audited]) + audits if audited or audits \
            else commands
        ctx.count("echoes_suppressed", len(outcome.echoes))
        ctx.count("conflicts", len(outcome.conflicts))
        for topic, key, value, headers in outputs:
            try:
                ctx.emit(topic, key=key, value=value, headers=headers)
            except OutputTooLarge as exc:  # the entity's, as a failure deciding it
                failed.setdefault(key, exc)
        if failed:  # the group is undone, and folded again without the changes of these entities
            reasons = left_out(failed, folded_by, len(records), part=isinstance(records, Part), stage=self.stage)
            if reasons is None:
                failure = next(iter(failed.values()))
                raise Rejected(_undecided(used, failure), stage=self.stage, records=used) from failure
            raise Undecided(reasons)
        return outcome.released

    def _decide_deferred(self, ctx: Context) -> bool:
        """Decide the next entities ended source transactions left (:mod:`~streams.flows.customers.deferred`), at
        most the flow's transaction limit of them, each on its own: one that cannot be decided is dead-lettered
        alone, as its last change (the entity's state stands). True when more are left."""
        self._settled_mark += 1
        deferred = Deferred(ctx.stores[DEFERRED])
        taken = deferred.take(min(self.config.transaction_limit, DECISIONS_PER_BATCH))
        if not taken:
            return False
        entities = self._entities(ctx)
        settled_at = self.clock()
        for key, cause in taken:
            with ctx.isolated(cause_record(key, cause)):
                audit: list[Mapping[str, Any]] = []
                state = entities.get(key)
                state.held = False
                uncleared = [len(mirror.uncleared) for mirror in state.mirrors.values()]
                try:
                    commands = decide(state, cause, context=self.context, named=self.named, audit=audit,
                                      settled_at=settled_at)
                    if say_ended(state, cause, self.name):
                        ctx.count(ENDED_COUNT)
                    self._ignored.decided(state, commands, cause, ctx)
                    no_origin = self._no_origin.decided(ctx, state, settled_at)
                    outputs = self._encode_commands(commands) + self._encode_conflicts(audit)
                except (MappingError, CodecError, CustomerFlowError, NotWritable) as exc:
                    raise Rejected(stage=self.stage, reason=(
                        f"{key}: cannot decide on the changes of source transaction {cause.transaction_id} "
                        f"(its last change of this entity: {cause.event_id}): {exc}; the entity's state is kept, "
                        "it is decided again with its next change")) from exc
                # A decision with nothing to send changed nothing (an entity in several chunks was decided with
                # the first): its state is not written again, nor its changelog, unless its canonical record,
                # held back while the transaction's parts came, is still to be published.
                if commands or audit or no_origin or uncleared != [
                        len(mirror.uncleared) for mirror in state.mirrors.values()] or _unpublished(state):
                    entities.put(key, state)
                ctx.count("conflicts", len(audit))
                for topic, out_key, value, headers in outputs:
                    ctx.emit(topic, key=out_key, value=value, headers=headers)
        ctx.count(DECIDED_COUNT, len(taken))
        self._deciding.decided(len(taken), deferred.left())
        return deferred.pending()

    def _missed(self, record: Incoming, ctx: Context) -> None:
        """Remember the row of a change about to be dead-lettered (:mod:`.missed`), by its Debezium key; a record
        of no input, or without a key that decodes, names no row."""
        if record.key is None or record.topic not in self.tables:
            return
        try:
            key = decode_key(record.key, topic=record.topic, where=f"{record.position} key")
        except CodecError as exc:
            log.warning("%s: dead-lettered, and its key does not decode (%s): its row's next change claims only "
                        "what it changed", record.position, exc)
            return
        if key and Missed(ctx.stores[MISSED]).mark(record.topic, key, record.position):
            ctx.count(MARKED_COUNT)

    def _fold(self, record: Incoming, ctx: Context, settled_at: dt.datetime) -> _Outcome | _Waits | None:
        """Fold one record into the stores; None when there is nothing in it to fold, ``_Waits`` when it must wait
        for its entity. Raises ``Rejected`` for a change the flow cannot use. What it did is undone in both."""
        if record.value is None:
            return None  # the tombstone after a delete: the delete itself carried the change
        where = self.tables.get(record.topic)
        if where is None:
            raise Rejected(stage=self.stage, reason=(
                f"{record.position}: {record.topic} is not an input of {self.name} "
                f"(inputs: {', '.join(self.tables)}); route only those topics to this flow"))
        system, table = where
        kept = self.transactions.decoded(record)
        if kept is None:
            try:
                decoded = decode(record.value, record.key, topic=record.topic, where=record.position)
            except FieldDecodeError as exc:  # a change event, one of whose values has no value a record holds
                raise Rejected(stage=self.stage, reason=f"a value of this change cannot be read: {exc}") from exc
            except CodecError as exc:
                raise Rejected(stage=self.stage, reason=f"not a Debezium change event: {exc}") from exc
            if not isinstance(decoded, ChangeEvent):
                return None
            kept = decoded
        event = kept
        if event.op is Op.TRUNCATE:
            self.truncates.seen(ctx, record, event)  # said, counted and held; nothing of the state changes
            return None
        entities = self._entities(ctx)
        lookup = self._lookup.start(ctx.stores, entities)
        self._copied.start(record, entities, ctx.count)
        try:
            with ctx.isolated():  # undoes what the change did before it failed (or was parked)
                outcome = self._apply(ctx, system, table, event, record, settled_at, entities)
                if outcome.conflicts:  # one that cannot be encoded is this change's problem
                    self._encode_conflicts(outcome.conflicts)
            self._copied.folded()
        except LookupMissing as exc:
            if lookup.missed is None:
                raise Rejected(stage=self.stage, reason=f"{record.position}: {exc}") from exc
            return _Waits(lookup.missed)
        except (MappingError, CodecError, CustomerFlowError, NotWritable) as exc:
            raise Rejected(stage=self.stage, reason=(
                f"{record.position}: cannot use this {system} {table} change "
                f"(op {event.op.value}, {event.source.position}): {exc}")) from exc
        return outcome

    # parking

    def _park(self, ctx: Context, waiting_for: str, record: Incoming) -> None:
        self.holds.lot(ctx, PARKED).park(waiting_for, record)

    def _release(self, ctx: Context, keys: list[str]) -> list[Incoming]:
        if not keys:
            return []
        lot = self.holds.lot(ctx, PARKED)
        return [record for key in keys for record in lot.release(key)]

    # applying one change

    def _apply(self, ctx: Context, system: str, table: str, event: ChangeEvent,
               record: Incoming, settled_at: dt.datetime, entities: ObjectView[CustomerState]) -> _Outcome:
        """``entities``: the batch's (:meth:`_entities`)."""
        stores = ctx.stores
        context = self._mapping_context
        notes = context.notes
        if notes:
            notes.clear()
        outcome = _Outcome()
        config = self.config
        reads = config.reads[(system, table)]
        # a change of a row whose last change was dead-lettered claims every field it binds (.missed); a delete
        # takes the mark too, even of a row this flow never saw (its create dead-lettered, so never remembered)
        whole = event.key is not None and Missed(stores[MISSED]).take(record.topic, event.key) is not None
        if whole:
            ctx.count(WHOLE_COUNT)
        if reads.remember:
            event = self._with_remembered_row(ctx.objects(ROWS, ROWS_CODEC), table, event, reads.whole_images)
            if event.op is Op.DELETE and event.before is None:  # nothing known of the row: which entity is unknown
                self._unknown_ends.dropped(ctx, system, table, row_key(table, event))
                return outcome
        states: dict[str, CustomerState] = {}

        def state_of(key: Any) -> CustomerState:
            if not isinstance(key, str) or not key:
                raise CustomerFlowError(f"the change maps to {config.key} {key!r}; it must be non-empty text"
                                        + _key_only_hint(event, system, table))
            if key not in states:
                states[key] = entities.get(key)
            return states[key]

        for child in reads.children:
            for change in map_change(child, event, system, context, self.named, table=table, whole=whole):
                if ended := fold_child(state_of, change):  # folded into an ended entity: sent nowhere
                    ctx.count(ENDED_CHILD_COUNT, ended)
        # the keys an end of this row does not end: another row of the table is their entity's (claim)
        outlived: set[str] | None = None
        if reads.record:
            row = row_key(table, event) if event.key else None  # which row maps to the entity (MergedRows)
            for change in map_change(config.record, event, system, context, self.named, table=table, whole=whole):
                state = state_of(change.key)
                state.settled = None  # more than a child row folded: decided again
                if (row is not None and change.source.name in self._row_keyed
                        and not state.claim(self._row_keyed[change.source.name], row, ends=change.deleted)):
                    # the row ends while another row of the table is the entity's: its on_delete would end an
                    # entity whose row lives (a refused second row's delete, as MergedRows told the user to make)
                    outlived = outlived or set()
                    outlived.add(change.key)
                    continue
                fold_op, fold_whole = event.op, whole
                if row is not None and change.source.name in self._matching:
                    shown = shown_change(state.matching, change, row)
                    if shown is None:
                        continue  # a row not shown ends, or changes nothing its source maps
                    if change.deleted and not shown.deleted:
                        # the row shown ended and another matches: its values are the system's now, as an update
                        fold_op, fold_whole = Op.UPDATE, False
                    change = shown
                observed = self._observed(change, event, reads)
                change = reborn(change, fold_op, config)
                outcome.conflicts += fold(state, change, observed=observed, op=fold_op, settled_at=settled_at,
                                          echoes_seen=outcome.echoes, whole=fold_whole)
        if reads.link:
            for change in map_change(config.link, event, system, context, self.named, table=table, whole=whole):
                if outlived and change.deleted and change.key in outlived:
                    continue  # the entity is still there, in its other row
                state = state_of(change.key)
                state.settled = None
                if change.deleted:  # a link row: the entity is (no longer) there
                    state.mirror(system).gone()
                    state.deleted_now |= {system}
                else:
                    state.mirror(system).present = True
                fold_xref(state, change, settled_at=settled_at)
                outcome.released += self._index(stores[INDEX], change)
        cause = Cause.of(event, system, record)
        last = _Change(event=event, system=system, record=record, cause=cause,
                       local_times=tuple(note.as_json() for note in notes) if notes else ())
        for key, state in states.items():
            state.touched_by, state.lineage = record, last
            entities.put(key, state)
            outcome.touched[key] = cause
        return outcome

    def _publish(self, key: str, state: CustomerState, ctx: Context) -> None:
        """The batch ends with ``state`` changed: its canonical record is published if the batch changed it
        (by fingerprint, against the one of the state stored before the batch), once, with the lineage of the
        last change the batch folded into it (or, decided at a transaction's end, the last change its parts
        folded in: ``held_lineage``)."""
        if state.held:  # a part of a source transaction still open changed it: published when it is decided,
            if state.lineage is not None:  # with the lineage of the last change the batch folded in
                state.held_lineage = state.lineage.lineage(self.mapping_version).headers()[LINEAGE_HEADER].decode()
            return
        lineage = state.lineage
        if lineage is None and state.held_lineage is not None:  # no later change: the held part's is the last
            lineage = _KeptLineage(state.held_lineage)
        state.held_lineage = None
        canonical = state.canonical()
        published = fingerprint(canonical)
        if canonical is None or published == state.published:
            state.published = published
            return
        try:
            value = self.schemas.encode(self.config.record.target, canonical)
        except CodecError as exc:
            raise Rejected(stage=self.stage, records=(state.touched_by,) if state.touched_by else (), reason=(
                f"{key}: its canonical {self.config.record.target} cannot be encoded: {exc}; the entity's state "
                "is kept and the commands it decided went out; only the canonical record waits, published with the "
                "entity's next change")) from exc
        try:
            ctx.emit(self.canonical_topic, key=key, value=value,
                     headers=lineage.lineage(self.mapping_version).headers() if lineage is not None else {})
        except OutputTooLarge as exc:  # the batch ends: the engine knows no record in hand
            raise exc.naming((state.touched_by,) if state.touched_by else (), stage=self.stage, outcome=(
                f"{key}: its canonical record is not published; the entity's state is kept, the record is published "
                "with the entity's next change")) from exc
        state.published = published

    def _observed(self, change: MappedChange, event: ChangeEvent, reads: Reads) -> dict[str, Any]:
        """What the system reports for the fields Isthmus writes into it: the mapped values, plus, on a link
        row, the columns the section's ``observes`` names (the reference: the CRM's ``erp_account_id``, its
        copy of the link, which no mapping binds). A row that ends leaves the ids it reported to :mod:`.copied`,
        so that a new row that copied them from it (a primary key changed) does not take them."""
        observed = dict(change.values)
        columns = self.config.observes.get(change.system)
        if columns and reads.link and event.after is None and change.deleted:
            self._copied.ended(change.system, change.key, event.before, columns)
        elif columns and reads.link and event.after is not None:
            if change.renumbered_from is None:
                ids = {name: event.after.get(column) for name, column in columns.items()}
                observed.update(self._copied.taken(change.system, change.key, ids))
            else:  # the row still holds the ids of the old key's records (the ERP account the old customer had,
                # which ends with it): none of the new key's, which is created anew and linked back there
                observed.update({name: None for name in columns})
        return observed

    def _with_remembered_row(self, rows: ObjectView[Row], table: str, event: ChangeEvent,
                             whole_images: bool) -> ChangeEvent:
        """The change with the row as this flow last saw it for its before-image (a table whose updates and
        deletes carry none); the row is remembered for its next change (:mod:`.remembered`). An insert or a
        snapshot read needs no before-image, so it is not looked up: a key no store holds yet costs the on-disk
        store the most (in the initial sync's profile these look-ups were 8.5 % of the customer worker's time).
        A row not remembered keeps the change's own before-image where the table's images are ``whole_images``."""
        key = row_key(table, event)
        wants_before = event.op in (Op.UPDATE, Op.DELETE)
        remembered = rows.get(key) if wants_before else None
        after = event.after
        if remembered is not None and event.op is Op.UPDATE:
            missing = unavailable_columns(after)
            if missing:  # unchanged values the update left out (TOASTed): the remembered ones
                after = {**(after or {}), **{c: remembered[c] for c in missing if c in remembered}}
        rows.put(key, None if event.op is Op.DELETE or after is None else dict(after))
        if wants_before and (remembered is not None or not whole_images):
            return event.with_images(remembered, after)
        return event

    def _index(self, index: Store, change: MappedChange) -> list[str]:
        """Index the entity by the ids its link change names; returns the new index keys."""
        added = []
        entry = {self.config.key: change.key}
        for by in self.config.indexed:
            value = change.values.get(by)
            if by in change.values and value is not None and not change.deleted:
                key = f"{by}={value}"
                if index.get(key) != entry:
                    index.put(key, entry)
                    added.append(key)
        return added

    # output

    def _encode_commands(self, commands: list[Command]) -> list[tuple[str, str, bytes, dict[str, bytes]]]:
        return [(self.command_topics.get(command.target) or command.topic, command.entity_key,
                 encode_command(self.schemas, command, systems=self.systems), command_headers(command))
                for command in commands]

    def _encode_conflicts(self, conflicts: list[Mapping[str, Any]]) -> list[tuple[str, str, bytes, dict[str, bytes]]]:
        return [(self.conflicts_topic, conflict["entity_key"], self.schemas.encode(CONFLICT, conflict), {})
                for conflict in conflicts]


def _key_only_hint(event: ChangeEvent, system: str, table: str) -> str:
    """What to do when a delete maps to no key: its before-image may hold only the row's key (Debezium fills the
    other NOT NULL columns with their defaults: ``''``, ``0``), as a PostgreSQL table without REPLICA IDENTITY FULL
    sends, and the flow does not remember the table's rows (its columns file records no replica identity)."""
    if event.op is not Op.DELETE:
        return ""
    return (f"; if {system}'s {table} is a PostgreSQL table whose replica identity is not FULL, its deletes carry "
            f"only the row's key ({', '.join(event.key or {}) or 'none'}): run ALTER TABLE {table} REPLICA IDENTITY "
            f"FULL, or re-run `isthmus mappings discover {system}` and restart the worker so the flow remembers the "
            "table's rows (the columns file then records the table's replica identity)")
