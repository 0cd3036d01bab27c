"""The warehouse loader: a Kafka consumer of the canonical topics whose positions live in the warehouse,
next to the rows.

Why its own process and not a flow on the exactly-once engine: the engine commits input offsets in a
Kafka transaction, which PostgreSQL cannot join, and it dead-letters any record whose handler raises,
so a database outage would send good rows to the dead-letter topic. Here each batch's rows and the
positions that produced them commit in one PostgreSQL transaction: exactly once into the warehouse, and
a database or Kafka failure just resumes from the last commit. Dead letters (rows the cleaning rules
refuse) are produced and flushed before that commit, so none is lost; a crash between the two sends a
batch's dead letters again, recognisable by their original topic, partition and offset.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from streams.codecs.avro.single_object import SchemaStore
from streams.config.kafka import KafkaAddress, client_kwargs, producer_kwargs
from streams.kafka import names, written_schemas
from streams.kafka.deadletters import DEAD_LETTER_TYPE, STAGE_HEADER, Original, dead_letter_value, dlq_topic
from streams.metrics.histogram import LabelledHistogram
from streams.warehouse import ddl
from streams.warehouse.exceptions import WarehouseSettingsError
from streams.warehouse.rows import Change, Position, Rejection, to_changes
from streams.warehouse.settings import WarehouseSettings
from streams.warehouse.tables import Tables, TableSpec
from streams.warehouse.tables_file import load_tables
from streams.warehouse.writer import stored_positions, write_batch

log = logging.getLogger(__name__)
STAGE = "warehouse.load"


def connect_warehouse(settings: WarehouseSettings) -> psycopg.Connection[Any]:
    """A connection to the warehouse's database (autocommit), on the server ``settings.dsn`` names."""
    if settings.dsn is None:
        raise WarehouseSettingsError(f"{WarehouseSettings.env_name('dsn')} is not set: no warehouse server to load "
                                     "into; fix: set it (or warehouse.dsn in the --config file), or run `isthmus "
                                     "up`, whose stack offers its own")
    return psycopg.connect(settings.dsn.get_secret_value(), dbname=settings.database, autocommit=True,
                           connect_timeout=5)


class Loader:
    def __init__(self, settings: WarehouseSettings, kafka: KafkaAddress, schemas: SchemaStore | None = None,
                 stop: threading.Event | None = None, tables: Tables | None = None, *,
                 worker_id: str = "isthmus-warehouse") -> None:
        """``tables``: the warehouse's tables (default: ``warehouse/tables.yaml``, read and checked here);
        ``worker_id``: the loader's name in client ids, dead letters and metrics."""
        self.settings = settings
        self.kafka = kafka
        self.worker_id = worker_id
        self.schemas = schemas or SchemaStore.from_directory()
        self.stop = stop or threading.Event()
        tables = tables or load_tables(schemas=self.schemas.schemas)
        #: Canonical topic -> the warehouse tables its records feed.
        self.topics: dict[str, tuple[TableSpec, ...]] = {
            specs[0].topic(settings.canonical_prefix): specs for specs in tables.by_topic.values()}
        self.loaded = 0
        self.rejected = 0
        self.batches = 0
        self.batch_seconds = LabelledHistogram(
            "isthmus_warehouse_batch_seconds", "Time to clean and write one batch and commit it with its positions.",
            "loader")

    def connect(self) -> psycopg.Connection[Any]:
        conn = connect_warehouse(self.settings)
        conn.execute(f'SET search_path TO "{self.settings.schema_name}"')
        return conn

    def run(self, *, once: bool = False, restart_delay_s: float = 2.0) -> None:
        """Load until stopped (or, with ``once``, until the end offsets seen at start are loaded)."""
        while not self.stop.is_set():
            try:
                if self._run_once(once=once):
                    return
            except (psycopg.OperationalError, KafkaError) as exc:
                log.warning("warehouse loader: %s; resuming from the last commit in %.0fs", exc, restart_delay_s)
                self.stop.wait(restart_delay_s)

    def _run_once(self, *, once: bool) -> bool:
        if self.schemas.lookup is None:  # the schemas written before: checked, and read where no file has them
            written_schemas.attach(self.schemas, self.kafka)
        conn = self.connect()
        ddl.apply(conn, self.settings.schema_name)
        consumer = KafkaConsumer(**client_kwargs(self.kafka), group_id=None,
                                 enable_auto_commit=False, isolation_level="read_committed",
                                 client_id=names.client_id(f"{self.worker_id}-{socket.gethostname()}"),
                                 max_poll_records=self.settings.batch_size)
        producer = KafkaProducer(**producer_kwargs(self.kafka), acks="all",
                                 enable_idempotence=True)
        try:
            assigned = self._assign(consumer, conn)
            targets = consumer.end_offsets(assigned) if once else {}
            last_refresh = time.monotonic()
            while not self.stop.is_set():
                if once and all(consumer.position(tp) >= end for tp, end in targets.items()):
                    return True
                if not once and time.monotonic() - last_refresh > 10:
                    assigned = self._assign(consumer, conn)  # a captured table whose topic appeared later
                    last_refresh = time.monotonic()
                batch = consumer.poll(timeout_ms=500, max_records=self.settings.batch_size)
                if batch:
                    self._load(conn, producer, batch)
            return True
        finally:
            consumer.close()
            producer.close()
            conn.close()

    def _assign(self, consumer: KafkaConsumer, conn: psycopg.Connection[Any]) -> list[TopicPartition]:
        existing = consumer.topics()
        wanted = [TopicPartition(topic, p) for topic in self.topics if topic in existing
                  for p in sorted(consumer.partitions_for_topic(topic) or ())]
        current = set(consumer.assignment())
        if set(wanted) != current:
            consumer.assign(wanted)
            positions = stored_positions(conn)
            for tp in wanted:
                offset = positions.get((tp.topic, tp.partition))
                if offset is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset)
            log.info("warehouse loader: reading %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in wanted))
        return wanted

    def _load(self, conn: psycopg.Connection[Any], producer: KafkaProducer, batch: dict[Any, list[Any]]) -> None:
        began = time.monotonic()
        changes: list[Change] = []
        rejections: list[Rejection] = []
        positions: dict[tuple[str, int], int] = {}
        for tp, messages in batch.items():
            for m in messages:
                position = Position(topic=m.topic, partition=m.partition, offset=m.offset)
                outcome = to_changes(position, self.topics.get(m.topic, ()), m.value, m.headers or (),
                                     self.schemas, self.settings.rules)
                if isinstance(outcome, tuple):
                    changes += outcome
                elif isinstance(outcome, Rejection):
                    rejections.append(outcome)
                    self._dead_letter(producer, m, outcome.reason)
            positions[(tp.topic, tp.partition)] = messages[-1].offset + 1
        if rejections:
            producer.flush()
        write_batch(conn, changes, rejections, positions)
        self.loaded += len(changes)
        self.rejected += len(rejections)
        self.batches += 1
        self.batch_seconds.observe(self.worker_id, time.monotonic() - began)
        log.debug("warehouse loader: %d changes, %d rejected, at %s", len(changes), len(rejections), positions)

    def _dead_letter(self, producer: KafkaProducer, message: Any, reason: str) -> None:
        original = Original(topic=message.topic, partition=message.partition, offset=message.offset,
                            timestamp_ms=message.timestamp, key=message.key, value=message.value,
                            headers=tuple(message.headers or ()))
        letter = dead_letter_value(original, reason=reason, error_type="RowRejected", stage=STAGE, attempts=1,
                                   worker=self.worker_id)
        producer.send(dlq_topic(), key=message.key, value=self.schemas.encode(DEAD_LETTER_TYPE, letter),
                      headers=[(STAGE_HEADER, STAGE.encode())])
