"""The ``document`` flow (the reference: ``isthmus-orders``): origin documents to the target, the target's
status and the party's balance back to the origin, and each document's reconciled record published
(``isthmus.canonical.reconciled-orders`` for the reference; the customer-360 view's orders).

Which mapping file, source, system and field plays which role comes from the flow file's ``document:``
section (:class:`~streams.flows.orders.config.DocumentConfig`); which topic feeds which role from the
sources' systems. Each record is decoded, applied to the state, and then the documents and balances it
touched are looked at once: a transaction's header and lines are therefore judged together. Origin
header and line changes wait for their whole source transaction (:mod:`streams.flows.orders.txjoin`). The
records the mappings look up are kept by :class:`~streams.flows.lookups.LookupTables`; a balance row whose
party is not known yet is parked under that look-up and replayed when it arrives, and a document waiting
for its party is looked at again then. Input that cannot be decoded or mapped goes to the dead-letter topic
with the reason; nothing else stops.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, Tombstone, TransactionEvent, TransactionStatus, decode
from streams.errors import IsthmusError
from streams.flows.commands import Cause, Command, emit_command, payload_json
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected, Ticking, Waiting
from streams.flows.engine.repartition import origin_of, relay
from streams.flows.kept import KeptEvents
from streams.flows.lookups import LookupTables, lookups_of, short_name
from streams.flows.orders import balance, edits, holds, order
from streams.flows.orders.exceptions import IncompleteTransaction, UnexpectedRecord
from streams.flows.orders.mapper import Mapper
from streams.flows.orders.refusals import REFUSABLE, RefusalKeys
from streams.flows.orders.state import LINKS, STORES, State
from streams.flows.orders.txjoin import ABANDONED, Buffered, JoinCodec, Joined, TransactionJoin
from streams.flows.parked import ParkedHolds
from streams.flows.topics import HOLDS
from streams.flows.topics import topic as own_topic
from streams.flows.truncates import Truncates
from streams.kafka.deadletters import is_replay
from streams.mapping import LookupMissing, MappedChange, SourceMapping
from streams.sinks.topics import results_topic as sink_results

NAME = "isthmus-orders"
#: What a topic's changes are to the flow.
HEADER, LINE, TARGET, PARTY_ORIGIN, PARTY_TARGET, BALANCE = (
    "header", "line", "target", "party_origin", "party_target", "balance")


@dataclass(frozen=True, kw_only=True)
class DocumentTopics:
    """The flow's inputs, as the systems' files name their topics: each topic's roles (a topic may have
    several), the origin's transaction topic, and the names its END counts the joined tables under."""

    transaction: str
    roles: dict[str, tuple[tuple[str, SourceMapping], ...]]
    #: ``<namespace>.<table>`` of the header and lines, as a transaction's END counts them.
    joined: tuple[str, ...]
    #: The topic of each of ``joined``.
    joined_topics: dict[str, str] = field(default_factory=dict)
    lookups: tuple[str, ...] = field(default=())
    #: The target's results (its sink's CommandResults): a refused create holds its document.
    results: str = ""
    #: The flow's own one-partition topic its results stage re-keys the refusals into (the input read in place
    #: of ``results``, which has the command topics' partition count: :mod:`streams.flows.orders.refusals`).
    refusals: str = ""

    @classmethod
    def of(cls, mapper: Mapper, lookups: LookupTables, results: str | None = None,
           refusals: str = "") -> DocumentTopics:
        config = mapper.config
        origin = mapper.systems[config.origin_system]
        pairs: list[tuple[str, SourceMapping]] = [
            (HEADER, config.origin), (LINE, config.lines_source), (TARGET, config.target),
            (PARTY_ORIGIN, config.party.origin), (PARTY_TARGET, config.party.target),
            *((BALANCE, s) for s in config.balance_sources)]
        roles: dict[str, list[tuple[str, SourceMapping]]] = {}
        for role, source in pairs:
            roles.setdefault(mapper.topic(source), []).append((role, source))
        joined = {f"{origin.namespace}.{s.table}": mapper.topic(s) for s in (config.origin, config.lines_source)}
        return cls(transaction=origin.transaction_topic, roles={t: tuple(r) for t, r in roles.items()},
                   joined=tuple(joined), joined_topics=joined,
                   lookups=lookups.topics, results=results or sink_results(config.target_system),
                   refusals=refusals)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.transaction, *self.roles, *self.lookups,
                                    *((self.refusals,) if self.refusals else ()))))


class OrdersFlow:
    """A ``document`` flow over ``mapper`` (its configuration and mapping files)."""

    def __init__(self, *, schemas: SchemaStore, mapper: Mapper, name: str = NAME,
                 orders_topic: str | None = None, results_topic: str | None = None,
                 holds_topic: str | None = None) -> None:
        """``orders_topic``: where each document's reconciled record goes (None: nowhere); ``results_topic``:
        the target sink's results (default: ``isthmus.results.<target>``); ``holds_topic``: where holds go
        (default: ``isthmus.holds``, under the topic prefix)."""
        self.schemas = schemas
        self.mapper = mapper
        self.name = name
        self.orders_topic = orders_topic
        self.systems = mapper.systems
        config = mapper.config
        sources = (config.origin, config.target, config.party.origin, config.party.target, *config.balance_sources)
        self.lookups = LookupTables(lookups_of(sources), mappings=mapper.mappings,
                                    systems=mapper.systems, named=mapper.named, flow=name)
        results = results_topic or sink_results(config.target_system)
        self.refusals_stage, refusals = relay(name, results, RefusalKeys(schemas, config.header.target),
                                              what="results")
        self.topics = DocumentTopics.of(mapper, self.lookups, results, refusals)
        self.holds_topic = holds_topic or own_topic(HOLDS)
        self.parked = ParkedHolds(flow=name, schemas=schemas, stores=("parked",), topic=self.holds_topic)
        self.truncates = Truncates(flow=name, schemas=schemas, systems=mapper.systems, topic=self.holds_topic)
        #: The join's store as objects for a batch (:class:`~streams.flows.orders.txjoin.JoinCodec`).
        self.join_codec = JoinCodec(Buffered())
        #: What each input topic is to the flow, worked out once rather than per record: the topics whose
        #: changes wait for their source transaction (header, lines), and the balance sources of each topic.
        self.joining = frozenset(topic for topic, roles in self.topics.roles.items()
                                 if any(role in (HEADER, LINE) for role, _ in roles))
        self.balances = {topic: [s for role, s in roles if role == BALANCE]
                         for topic, roles in self.topics.roles.items()}
        #: The system whose topic each topic is (None: no declared system's), found on first use.
        self.system_of: dict[str, str | None] = {}
        #: The changes the join decoded, kept for when their transaction is released (decoded once).
        self.kept = KeptEvents()

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def spec(self) -> FlowSpec:
        config = self.mapper.config
        outputs = () if self.orders_topic is None else (self.orders_topic,)
        return FlowSpec(name=self.name, inputs=self.topics.inputs, handler=self.handle, stores=STORES,
                        outputs=(*outputs, self.holds_topic), compacted=outputs, feeders=(self.refusals_stage,),
                        tick=self.tick, sends=config.sends,
                        description=f"{config.origin_system} {config.header.name} documents to "
                                    f"{config.target_system} (joined per source transaction); status and balances "
                                    "back; the reconciled documents")

    def handle(self, record: Incoming, ctx: Context) -> None:
        _Step(self, ctx).run(record)

    def tick(self, ctx: Context, ticking: Ticking) -> Waiting:
        """Abandon the source transactions whose missing changes will never come (their tables read to their end:
        :meth:`~streams.flows.orders.txjoin.TransactionJoin.abandon_read_to_end`) and go on with those behind
        them; then announce the parked records and the documents waiting for their party's account that wait too
        long."""
        step = _Step(self, ctx)
        read = {name for name, topic in self.topics.joined_topics.items() if topic in ticking.read_to_end}
        released = step.join.abandon_read_to_end(read)
        if released:
            step.joined(released)
            step.settle()
        return self.parked.tick(ctx, ticking) + step.hold_waits(ticking)


class _Step:
    """What one input record does: apply changes, then judge the documents and balances it touched."""

    def __init__(self, flow: OrdersFlow, ctx: Context) -> None:
        self.flow = flow
        self.mapper = flow.mapper
        self.config = flow.mapper.config
        self.ctx = ctx
        self.state = State(ctx, flow.lookups)
        self.topics = flow.topics
        self.documents: dict[str, Cause] = {}
        #: The documents this step changed in their origin (header or lines): their edits are judged.
        self.edited: set[str] = set()
        self.parties: dict[str, Cause] = {}

    @functools.cached_property
    def join(self) -> TransactionJoin:
        """The transaction join, made only by a record that needs it (most records are parties and balances)."""
        return TransactionJoin(self.ctx.objects("tx", self.flow.join_codec), self.flow.topics.joined)

    def run(self, record: Incoming) -> None:
        self.record(record)
        self.settle()

    def settle(self) -> None:
        """Judge the documents and balances the step touched: their commands, holds and reconciled records."""
        commands: list[Command] = []
        records: dict[str, dict[str, Any] | None] = {}  # made once here, not read back from the state twice
        now_s = time.time()
        for number, cause in self.documents.items():
            sent, party, records[number] = order.evaluate(self.state, self.mapper, number, cause, now_s,
                                                          edited=number in self.edited)
            commands += sent
            if party is not None:
                self.parties.setdefault(party, cause)
        for party, cause in self.parties.items():
            commands += balance.evaluate(self.state, self.mapper, party, cause)
        for command in commands:
            emit_command(self.ctx, self.flow.schemas, command, systems=self.flow.systems)
        for number, cause in self.documents.items():
            document = self.state.get("documents", number)
            record = records.get(number) or State.load(document.get("canonical"))
            self.announce(number, cause.commit_time, document, record)
            self.publish(number, record)

    def hold_waits(self, ticking: Ticking) -> Waiting:
        """Hold the documents that have waited ``ticking.hold_after_s`` for their party's account in the target,
        or for a look-up (a Hold record, as of when they started to wait); returns how many wait, since when."""
        due, waiting = order.due_waits(self.state, ticking.now_s, ticking.hold_after_s)
        for number, since in due:
            document = self.state.get("documents", number)
            self.announce(number, dt.datetime.fromtimestamp(since, dt.UTC), document,
                          State.load(document.get("canonical")))
        return waiting

    def reject(self, record: Incoming, error: Exception) -> None:
        """Dead-letter ``record`` (one the join held, or the record in hand) in a scope of its own, undoing only
        what was done for it there, and go on with the rest."""
        with self.ctx.isolated(record):
            raise Rejected(f"{type(error).__name__}: {error}", stage=self.flow.stage)

    def record(self, record: Incoming) -> None:
        try:
            if record.topic == self.topics.refusals:
                self.result(origin_of(record))
                return
            try:
                decoded = decode(record.value, record.key, topic=record.topic, where=record.position)
            except IsthmusError as exc:
                if self.undecodable(record, exc):
                    return
                raise
            if isinstance(decoded, Tombstone):
                return
            if record.topic == self.topics.transaction:
                if not isinstance(decoded, TransactionEvent):
                    raise UnexpectedRecord(f"{type(decoded).__name__} on the transaction topic {record.topic}")
                if decoded.status is TransactionStatus.END:
                    self.joined(self.join.end(decoded))
                return
            if not isinstance(decoded, ChangeEvent):
                raise UnexpectedRecord(f"{type(decoded).__name__} on the table topic {record.topic}; "
                                       "only row changes are expected there")
            if record.topic in self.flow.joining and self.join.joins(decoded) and not is_replay(record.headers):
                self.flow.kept.keep(record, decoded)
                self.joined(self.join.add(record, decoded))
                return
            self.change(record, decoded)
        except IsthmusError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc}", stage=self.flow.stage) from exc

    def undecodable(self, record: Incoming, error: IsthmusError) -> bool:
        """Dead-letter ``record``, a change of a joined table that cannot be decoded, telling the join (True), so
        that its transaction's other changes, abandoned without it, say why; False for any other record (the
        caller dead-letters it as it does every record it cannot use)."""
        if record.topic not in self.flow.joining or is_replay(record.headers):
            return False
        if not self.join.dead_lettered(record, f"{type(error).__name__}: {error}"):
            return False
        self.reject(record, error)  # in a scope of its own: the join's note of it, written before, stays
        return True

    def joined(self, released: Iterable[Joined]) -> None:
        for joined in released:
            if not joined.complete:
                self.ctx.count(ABANDONED)
                error = IncompleteTransaction(
                    f"source transaction {joined.tx_key} is missing {joined.lacking} "
                    f"({joined.why}); its document is not sent half-written")
                for record in joined.records:
                    self.reject(record, error)
                continue
            events = [(r, self.flow.kept.take(r) or decode(r.value, r.key, topic=r.topic, where=r.position))
                      for r in joined.records]
            changes = [(r, e) for r, e in events if isinstance(e, ChangeEvent)]
            problem = self.check_all(changes)
            if problem is not None:
                for record, _ in changes:
                    self.reject(record, IncompleteTransaction(
                        f"source transaction {joined.tx_key} has a change that cannot be mapped, so none of it "
                        f"is used: {problem}"))
                continue
            for record, event in changes:
                self.change(record, event)

    def check_all(self, changes: list[tuple[Incoming, ChangeEvent]]) -> str | None:
        """Map a transaction's changes without keeping them: a transaction is used whole or not at all."""
        config = self.config
        named = [b for s, m in ((config.origin, config.header), (config.lines_source, config.lines))
                 for b in (*(s.bindings[k] for k in m.key if k in s.bindings), s.parent_key) if b is not None]
        columns = tuple(dict.fromkeys(c for b in named for c in sorted(b.reads)))
        for record, event in changes:
            try:
                self.check(record, event)
            except IsthmusError as exc:
                row = event.row or {}
                names = ", ".join(f"{k}={row.get(k)}" for k in columns if k in row)
                return f"{record.position} ({event.table} {names}): {exc}"
        return None

    def check(self, record: Incoming, event: ChangeEvent) -> None:
        if event.op is Op.TRUNCATE:
            return  # it maps nothing: :meth:`change` says it was read
        row = event.row
        assert row is not None
        for role, source in self.topics.roles.get(record.topic, ()):
            if role == LINE and event.op is not Op.DELETE:
                self.mapper.validate(self.config.lines, source, row, self.state.lookup)
            elif role == HEADER:
                if event.op is Op.DELETE and source.key_only_before:
                    row = order.deleted_row(self.state, self.mapper, event) or {}  # the row as the flow knows it
                if row:
                    self.mapper.validate(self.config.header, source, row, self.state.lookup)

    def change(self, record: Incoming, event: ChangeEvent) -> None:
        topic = record.topic
        if event.op is Op.TRUNCATE:
            self.flow.truncates.seen(self.ctx, record, event)  # said, counted and held; no document changes
            return
        systems = self.flow.system_of
        if topic not in systems:
            found = self.flow.systems.by_topic(topic)
            systems[topic] = None if found is None else found[0].name
        system = systems[topic]
        if system is None:
            raise UnexpectedRecord(f"{record.position}: {topic} is no declared system's topic")
        cause = Cause.of(event, system, record)
        released = self.flow.lookups.observe(self.state.store(LINKS), topic, event,
                                             self.mapper.context(None))
        config, lookup = self.config, self.state.lookup
        roles = self.topics.roles.get(topic, ())
        balances = self.flow.balances.get(topic)
        if balances:
            self.money(record, event, cause, balances)
        for role, source in roles:
            if role == HEADER:
                number, edited = order.apply_origin_header(self.state, self.mapper, event, record)
                if number is None:
                    continue  # a key-only delete of a document never seen: nothing to cancel
                self.documents[number] = cause
                if edited:
                    self.edited.add(number)
            elif role == LINE:
                filed = order.apply_origin_line(self.state, self.mapper, event)
                if filed is not None:
                    self.documents[filed] = cause
                    self.edited.add(filed)
            elif role == TARGET:
                for change in self.mapper.change(config.header, source, event, lookup):
                    self.documents[order.apply_target(self.state, self.mapper, change, cause)] = cause
            elif role in (PARTY_ORIGIN, PARTY_TARGET):
                self.party(event, cause, source)
        for key in released:
            for number in self.state.take_indexed(f"wait={key}"):
                self.documents.setdefault(number, cause)
            for parked in self.flow.parked.lot(self.ctx, "parked").release(key):
                self.record(parked)

    def result(self, record: Incoming) -> None:
        """A target's CommandResult: a refused create or update of one of our documents holds it (see holds)."""
        config = self.config
        if record.value is None:
            return
        result = self.flow.schemas.decode(record.value, holds.RESULT_SCHEMA).value
        operation = result.get("operation")
        if result.get("payload_type") != config.header.target or operation not in REFUSABLE:
            return
        refusal = holds.refusal_of(result)
        number = str(result.get("entity_key") or "")
        document = self.state.get("documents", number)
        if refusal is None or not document.get(config.origin_system):
            return  # applied, or not ours
        if operation == "update":
            if not edits.refused(document, refusal):
                return  # the refusal of an update sent before the one that counts now
        elif document.get("created") != refusal.idempotency_key:
            return  # the refusal of a create sent before the one that counts now
        else:
            document.update(hold=refusal.to_state(), created=None)
        self.state.put("documents", number, document)
        self.documents[number] = Cause(
            system=config.target_system, connector=f"sink.{config.target_system}", database="-", table=record.topic,
            row_key=refusal.command_id, commit_time=result.get("applied_at") or dt.datetime.now(dt.UTC),
            topic=record.topic, partition=record.partition, offset=record.offset)

    def announce(self, number: str, at: dt.datetime, document: dict[str, Any],
                 record: Mapping[str, Any] | None) -> None:
        """A Hold record when the document's hold changed (held, another cause, or released), decided ``at``;
        ``document`` is its state, ``record`` its canonical record."""
        config = self.config
        party = (record or {}).get(config.party.field)
        target = config.target_system
        what = short_name(config.party.mapping.target)
        now = holds.current(
            document, blocked_message=f"{config.party.target.name} {party} is blocked in {target} "
                                      f"({config.party.blocked})",
            no_account_message=f"{what} {party} has no account in {target} ({config.party.account}), so the "
                               f"document is not sent: the {what}'s create in {target} was refused or is pending "
                               "(`isthmus topics dlq list --pending`: fix it and replay it), or its account was "
                               f"deleted or never made (create it in {target} for {party}); the document goes on "
                               "when the account appears",
            account=config.party.account)
        before = document.get("announced")
        if now == before:
            return
        status = holds.origin_status(document, now, refused=config.hold.status, blocked=config.party.held)
        value = holds.record(key=number, entity_type=config.header.target, flow=self.flow.name,
                             origin=config.origin_system, target=target, now=now, before=before,
                             origin_status=status, at=at)
        self.ctx.emit(self.flow.holds_topic, key=number, value=self.flow.schemas.encode(holds.HOLD_SCHEMA, value))
        self.state.put("documents", number, {**document, "announced": now})

    def party(self, event: ChangeEvent, cause: Cause, source: SourceMapping) -> None:
        """A party change in either system: kept per side; its documents may go now."""
        system = str(source.system)
        for change in self.mapper.change(self.config.party.mapping, source, event, self.state.lookup):
            number = order.key_text(change.key)
            party = self.state.get("parties", number)
            previous = State.load(party.get(system)) or {}
            values = {**previous, **change.values}
            if system == self.config.target_system and any(
                    previous.get(f) != values.get(f) for f in self.config.hold.release):
                for document in self.state.indexed(f"party={number}"):
                    order.clear_hold(self.state, document)
            party.update({system: State.dump(values), f"{system}_at": State.dump(change.commit_time)})
            kept = self.config.balance
            if kept and system == self.config.origin_system and event.op is not Op.DELETE and event.after is not None:
                party = balance.observed(self.state, self.mapper, party, event.after.get(kept.column))
            self.state.put("parties", number, party)
            self.parties[number] = cause
            for document in self.state.indexed(f"party={number}"):
                self.documents.setdefault(document, cause)

    def money(self, record: Incoming, event: ChangeEvent, cause: Cause, sources: list[SourceMapping]) -> None:
        """A row of the party's balance: its party's total."""
        changes: list[MappedChange] = []
        try:
            for source in sources:
                changes += self.mapper.change(self.config.party.mapping, source, event, self.state.lookup)
        except LookupMissing:
            if self.state.lookup.last is None:
                raise
            self.flow.parked.lot(self.ctx, "parked").park(self.state.lookup.last, record)
            return
        for change in changes:
            party = balance.apply(self.state, self.mapper, change)
            self.mark_balance(party, change.commit_time)
            self.parties[party] = cause

    def mark_balance(self, party: str, at: dt.datetime) -> None:
        entry = self.state.get("balances", party)
        previous = State.load(entry.get("at"))
        if previous is None or at > previous:
            self.state.put("balances", party, {**entry, "at": State.dump(at)})

    def publish(self, number: str, record: Mapping[str, Any] | None) -> None:
        """Publish the document's reconciled ``record`` when it changed (a digest per document in ``views``)."""
        if record is None or self.flow.orders_topic is None:
            return
        digest = hashlib.sha256(payload_json(record).encode()).hexdigest()
        if (self.ctx.stores["views"].get(number) or {}).get("digest") == digest:
            return
        self.ctx.emit(self.flow.orders_topic, key=number,
                      value=self.flow.schemas.encode(self.config.header.target, record))
        self.ctx.stores["views"].put(number, {"digest": digest})
