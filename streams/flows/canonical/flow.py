"""The canonical documents flow (``isthmus-canonical``): every committed change of a table that a mapping file
publishes becomes one canonical record (Avro, single-object encoding) on its canonical topic, keyed by its
canonical id, carrying its lineage.

What it publishes comes from the mapping files alone: a file with ``publish: {topic: invoices, sources:
[erp_invoices]}`` has each change of those table sources mapped and published on ``isthmus.canonical.invoices``
(times in UTC from the zone of the source's system, statuses through the file's value maps; a delete through
the source's ``on_delete`` applied to the before-image). Which topic carries a source's changes comes from its
system's file (``systems/``), never from the table name inside the event, so a read-only system's tables are
published like any other's. The records the mappings look up (``lookup:``) are kept in the ``links`` store
from their own mapping files' sources (:mod:`streams.flows.lookups`); a change whose required look-up is not
known yet waits in ``parked`` and is published when it arrives (held visibly when it waits long:
:mod:`streams.flows.parked`). A local time that a daylight-saving change
repeated or skipped is resolved by its mapping's ``local_times:`` policy and flagged in the lineage header; a
change that cannot be mapped (a malformed event) goes to the dead-letter topic with the reason. Output, store changes
and input offsets commit in one Kafka transaction (the engine's), so each change is published exactly once.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import ChangeEvent, Op, decode
from streams.errors import IsthmusError
from streams.flows import topics
from streams.flows.canonical.lineage import Lineage, mapping_version
from streams.flows.engine.api import Context, FlowSpec, Incoming, Rejected
from streams.flows.exceptions import FlowUnavailable
from streams.flows.lookups import LookupContext, LookupTables, lookups_of
from streams.flows.parked import ParkedHolds
from streams.flows.truncates import Truncates
from streams.mapping import Context as MappingContext
from streams.mapping import Engine, LookupMissing, RecordMapping, SourceMapping
from streams.mapping.exceptions import MappingError
from streams.systems import Systems

NAME = "isthmus-canonical"
LINKS, PARKED = "links", "parked"


class CanonicalFlowError(IsthmusError):
    """The canonical documents flow cannot be built, or a change cannot become a canonical record."""


@dataclass(frozen=True)
class Document:
    """One published table source: changes on ``cdc_topic`` mapped by ``source`` of ``mapping`` and published
    on the canonical topic ``name`` as the mapping's target record."""

    cdc_topic: str
    system: str
    mapping: RecordMapping
    source: SourceMapping
    name: str
    version: str

    @property
    def schema(self) -> str:
        return self.mapping.target


def documents(mappings: Mapping[str, RecordMapping], systems: Systems) -> tuple[Document, ...]:
    """Every table source a mapping file publishes (``publish:``), with the topic its system captures it on."""
    found = []
    for stem in sorted(mappings):
        mapping = mappings[stem]
        if mapping.publish is None:
            continue
        for source in mapping.sources:
            if source.name in mapping.publish.sources and source.table is not None and source.system is not None:
                system = str(source.system)
                found.append(Document(cdc_topic=systems[system].topic(source.table), system=system, mapping=mapping,
                                      source=source, name=mapping.publish.topic,
                                      version=mapping_version(mapping.path)))
    return tuple(found)


def published_topics(mappings: Mapping[str, RecordMapping], prefix: str = topics.CANONICAL_PREFIX) -> tuple[str, ...]:
    """The canonical topics the mapping files publish on, in file order."""
    return tuple(dict.fromkeys(topics.canonical_topic(m.publish.topic, prefix)
                               for _, m in sorted(mappings.items()) if m.publish is not None))


class CanonicalFlow:
    def __init__(self, *, schemas: SchemaStore, mappings: Mapping[str, RecordMapping], systems: Systems,
                 name: str = NAME, prefix: str = topics.CANONICAL_PREFIX) -> None:
        """``prefix``: of the canonical topics (``<prefix>.invoices``, ...); a test publishes under its own."""
        self.schemas = schemas
        self.name = name
        self.prefix = prefix
        self.systems = systems
        self.documents = documents(mappings, systems)
        if not self.documents:
            raise FlowUnavailable(f"{NAME} publishes what mapping files declare with `publish:`, and none does; add "
                                  "`publish: {topic: <name>}` to the mapping files whose changes it should publish")
        self.context = MappingContext.of(systems)
        self.holds = ParkedHolds(flow=name, schemas=schemas, stores=(PARKED,))
        self.truncates = Truncates(flow=name, schemas=schemas, systems=systems, topic=self.holds.topic)
        self.by_topic: dict[str, list[Document]] = {}
        for document in self.documents:
            self.by_topic.setdefault(document.cdc_topic, []).append(document)
        named = schemas.schemas.named
        self.engines = {id(d.mapping): Engine(d.mapping, named) for d in self.documents}
        self.lookups = LookupTables(lookups_of(d.source for d in self.documents), mappings=mappings,
                                    systems=systems, named=named, flow=NAME)

    @property
    def stage(self) -> str:
        return f"flow.{self.name}"

    def topic(self, document: Document) -> str:
        return topics.canonical_topic(document.name, self.prefix)

    def spec(self) -> FlowSpec:
        outputs = tuple(dict.fromkeys(self.topic(d) for d in self.documents))
        inputs = tuple(dict.fromkeys((*self.lookups.topics, *self.by_topic)))
        return FlowSpec(name=self.name, inputs=inputs, handler=self.handle, stores=(LINKS, PARKED),
                        outputs=(*outputs, self.holds.topic), compacted=outputs, tick=self.holds.tick,
                        description="the changes of every table source a mapping file publishes, as canonical "
                                    "records with their lineage")


    def handle(self, record: Incoming, ctx: Context) -> None:
        queue = deque([record])
        while queue:
            current = queue.popleft()
            with ctx.isolated(current):  # a released change that fails is dead-lettered alone
                queue.extend(self._one(current, ctx))

    def _one(self, record: Incoming, ctx: Context) -> list[Incoming]:
        """Publish one change; returns the parked changes a new look-up value released."""
        if record.value is None:
            return []  # the tombstone after a delete: the delete itself was published
        try:
            event = decode(record.value, record.key, topic=record.topic, where=record.position)
            if not isinstance(event, ChangeEvent):
                raise CanonicalFlowError(f"{type(event).__name__} on the table topic {record.topic}; only row "
                                         "changes are expected there")
            if event.op is Op.TRUNCATE:
                self.truncates.seen(ctx, record, event)  # said, counted and held; nothing is published
                return []
            released = self._link(ctx, record.topic, event)
            for document in self.by_topic.get(record.topic, ()):
                self._publish(ctx, record, event, document)
            return released
        except _Park as park:
            self.holds.lot(ctx, PARKED).park(park.link, record)
            return []
        except IsthmusError as exc:
            raise Rejected(f"{type(exc).__name__}: {exc}", stage=self.stage) from exc

    def _link(self, ctx: Context, topic: str, event: ChangeEvent) -> list[Incoming]:
        """Keep what this change says of the looked-up records; returns the changes that waited for it."""
        lot = self.holds.lot(ctx, PARKED)
        released = self.lookups.observe(ctx.stores[LINKS], topic, event, self.context)
        return [r for key in released for r in lot.release(key)]

    def _publish(self, ctx: Context, record: Incoming, event: ChangeEvent, document: Document) -> None:
        mapping, source = document.mapping, document.source
        engine = self.engines[id(mapping)]
        links = LookupContext(self.lookups, ctx.stores[LINKS])
        context = dataclasses.replace(self.context, lookup=links, notes=[])  # the DST notes of this row alone
        deleted = event.op is Op.DELETE
        row = event.before if deleted else event.after
        if row is None:
            raise CanonicalFlowError(f"{record.position}: a {event.op.value} of {document.system}.{source.table} "
                                     "without its row image; the table needs full row images (REPLICA IDENTITY "
                                     "FULL / binlog_row_image=FULL)")
        try:
            engine.require(source, row)  # before the condition, which would read a missing column as null
            if not engine.applies(source, row):
                return
            values = engine.map_row(source, row, context)
        except LookupMissing as exc:
            if links.last is None:
                raise CanonicalFlowError(f"{record.position}: {exc}") from exc
            raise _Park(links.last) from exc
        except MappingError as exc:
            raise CanonicalFlowError(f"{record.position}: {document.system}.{source.table} "
                                     f"(op {event.op.value}) cannot be mapped by {mapping.path.name}: {exc}") from exc
        if deleted:
            values.update(source.on_delete or {})
        key = mapping.key_of(values)
        key_text = "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        lineage = Lineage.of(event, document.system, record, document.version,
                             local_times=[note.as_json() for note in context.notes or ()])
        ctx.emit(self.topic(document), key=key_text, value=self.schemas.encode(document.schema, values),
                 headers=lineage.headers())


class _Park(Exception):
    """The change needs a link not known yet; it waits under ``link``."""

    def __init__(self, link: str) -> None:
        super().__init__(link)
        self.link = link
