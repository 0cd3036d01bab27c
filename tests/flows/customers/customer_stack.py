"""Running the customer flow on the real engine against a stack, and reading what it produced.

The flow runs (``support.flows.RunningFlow``, from the beginning of its inputs) in a thread under its own
consumer group (a unique name per test), so it starts from the beginning of the CDC topics without disturbing
any other consumer. It only handles the records of this
test's customers (by customer number, CRM customer id or row id, registered before the rows are written):
other tests' customers on the shared topics are not its business, and must not get commands from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from support.sink_worker import InProcessSink
from support.topics import Record, TopicReader

from reference.topics import CANONICAL_CUSTOMERS
from streams.codecs import ChangeEvent, decode
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.envelope import TransactionEvent, TransactionStatus
from streams.codecs.exceptions import CodecError
from streams.flows.engine.api import Context, FlowSpec, Incoming
from streams.flows.topics import AUDIT_CONFLICTS
from streams.kafka.topics import TopicSpec, ensure_topics

WAIT_S = 90.0


@dataclass
class Mine:
    """What belongs to this test: customer numbers, CRM customer ids and CRM contact/address row ids."""

    numbers: set[str] = field(default_factory=set)
    crm_ids: set[int] = field(default_factory=set)
    row_ids: set[int] = field(default_factory=set)

    def claims(self, record: Incoming) -> bool:
        if record.value is None:
            return False
        try:
            event = decode(record.value, record.key, topic=record.topic)
        except CodecError:
            return False
        if not isinstance(event, ChangeEvent):
            return False
        for row in (event.after, event.before):
            if row is None:
                continue
            if event.table == "customers" and row.get("customer_number") in self.numbers:
                return True
            if event.table == "accounts" and row.get("crm_customer_number") in self.numbers:
                return True
            if event.table in ("addresses", "contacts") and (
                    row.get("customer_id") in self.crm_ids or row.get("id") in self.row_ids):
                return True
        return False


def only(spec: FlowSpec, mine: Mine, name: str, *, dead_letters: str | None = None) -> FlowSpec:
    """``spec`` under another consumer group, handling only this test's records: its changes, the ENDs of their
    source transactions (an END met before any change of its transaction is kept until one is claimed, so the
    flow's transaction join sees exactly this test's transactions), and the dead letters on ``dead_letters``
    keyed by one of its customer numbers."""
    ended: dict[str, Incoming] = {}
    claimed: set[str] = set()

    def handler(record: Incoming, ctx: Context) -> Any:
        if record.topic == dead_letters:
            if record.key is not None and record.key.decode(errors="replace") in mine.numbers:
                spec.handler(record, ctx)
            return None
        if record.value is None:
            return None
        try:
            event = decode(record.value, record.key, topic=record.topic)
        except CodecError:
            return None
        if isinstance(event, TransactionEvent):
            if event.status is TransactionStatus.END:
                if event.tx_key in claimed:
                    claimed.discard(event.tx_key)
                    spec.handler(record, ctx)
                else:
                    ended[event.tx_key] = record
                    while len(ended) > 50_000:
                        ended.pop(next(iter(ended)))
            return None
        if mine.claims(record):
            spec.handler(record, ctx)
            if isinstance(event, ChangeEvent) and event.transaction is not None:
                tx_key = event.transaction.tx_key
                end = ended.pop(tx_key, None)
                if end is not None:
                    spec.handler(end, ctx)
                else:
                    claimed.add(tx_key)
        return None

    return dataclasses.replace(spec, name=name, handler=handler)


#: what a customer test reads: (topic, key, decoded value)
Keyed = tuple[str, str, Mapping[str, Any]]


def reader(bootstrap: str, topics: list[str], decode_value: Callable[[bytes], Mapping[str, Any]]) -> TopicReader[Keyed]:
    """Keyed records produced on ``topics`` from now on (a topic a flow makes later is created now)."""
    def decode(record: Record) -> Keyed | None:
        if record.value is None or record.text_key is None:
            return None
        return record.topic, record.text_key, decode_value(record.value)

    return TopicReader(bootstrap, topics, decode, start="end", create_topics=True)


@contextmanager
def sinks(topics: Mapping[str, Mapping[str, str]], run: str, schemas: SchemaStore) -> Iterator[None]:
    """A CRM and an ERP sink worker in threads of this process, on this test's own command, result and
    dead-letter topics (``topics[system]`` maps ISTHMUS_SINK_* names to topics) and consumer groups."""
    with ExitStack() as running:
        for system, names in topics.items():
            running.enter_context(InProcessSink(system, {
                **names, "ISTHMUS_SINK_GROUP_ID": f"it-sink-{system}-{run}",
                "ISTHMUS_SINK_TRANSACTIONAL_ID": f"it-sink-{system}-{run}", "ISTHMUS_SINK_COMMIT_INTERVAL_MS": "100"},
                schemas))
        yield


@dataclass
class Databases:
    """Straight writes into the CRM and ERP databases, as their users would make them."""

    stack: Any
    mine: Mine

    def crm(self, sql: str, *params: Any) -> Any:
        with self.stack.connect_crm(autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
            return None if row is None else row[0]

    def crm_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.stack.connect_crm(autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def erp(self, sql: str, *params: Any) -> Any:
        conn = self.stack.connect_erp(autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.lastrowid
        finally:
            conn.close()

    def erp_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = self.stack.connect_erp(autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def crm_customer(self, number: str, name: str, *, email: str | None = None) -> int:
        """Insert a CRM customer; its id is claimed for this test before the row exists."""
        self.mine.numbers.add(number)
        customer_id = int(self.crm("SELECT nextval('crm.customers_id_seq')"))
        self.mine.crm_ids.add(customer_id)
        self.crm("INSERT INTO crm.customers (id, customer_number, name, email) VALUES (%s, %s, %s, %s)",
                 customer_id, number, name, email)
        return customer_id


def sink_loop_topics(bootstrap: str, run: str, *, partitions: int) -> tuple[dict[str, dict[str, str]], str]:
    """Topics of one run's flow-and-sinks loop, made on the stack: each system's command and result topics (with
    ``partitions``) as its sink's environment, and their dead-letter topic, which is returned too; with the
    canonical customers and the conflicts topic the flow writes."""
    dlq = f"it-{run}.dlq"
    topics = {system: {"ISTHMUS_SINK_COMMAND_TOPIC": f"it-{run}.commands.{system}",
                       "ISTHMUS_SINK_RESULTS_TOPIC": f"it-{run}.results.{system}",
                       "ISTHMUS_SINK_DLQ_TOPIC": dlq} for system in ("crm", "erp")}
    asyncio.run(ensure_topics(bootstrap, [
        *(TopicSpec(name=t[k], partitions=partitions) for t in topics.values()
          for k in ("ISTHMUS_SINK_COMMAND_TOPIC", "ISTHMUS_SINK_RESULTS_TOPIC")),
        TopicSpec(name=dlq, partitions=1, config=(("retention.ms", "-1"),)),
        TopicSpec(name=CANONICAL_CUSTOMERS, partitions=1, config=(("cleanup.policy", "compact"),)),
        TopicSpec(name=AUDIT_CONFLICTS, partitions=1)]))
    return topics, dlq
