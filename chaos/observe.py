"""What the invariants are checked against: committed commands and dead letters from Kafka (read_committed,
from the beginning), the idempotency tables and the business rows of both databases."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from chaos.invariants import CommandSeen
from chaos.lag import GROUP_PREFIX, GroupPosition
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect import admin
from streams.sinks.topics import COMMAND_TOPICS, DLQ_TOPIC, RESULTS_TOPICS
from streams.stack.running import RunningStack


def _consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", group_id=None,
                         enable_auto_commit=False, request_timeout_ms=30_000)


def read_topics(bootstrap: str, topics: Iterable[str]) -> list[tuple[str, bytes | None, bytes | None]]:
    """(position, key, value) of every committed record of ``topics``, from their beginning to their current
    end; the position as ``topic[partition]@offset``."""
    consumer = _consumer(bootstrap)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[tuple[str, bytes | None, bytes | None]] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for tp, records in consumer.poll(timeout_ms=1000).items():
                found += [(f"{tp.topic}[{tp.partition}]@{r.offset}", r.key, r.value) for r in records]
        return found
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: Iterable[str]) -> int:
    """Sum of the end offsets of ``topics``: it moves whenever anything (a record or a marker) is written."""
    consumer = _consumer(bootstrap)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return sum(consumer.end_offsets(partitions).values()) if partitions else 0
    finally:
        consumer.close()


def group_positions(bootstrap: str, groups: Sequence[str] | None = None) -> list[GroupPosition]:
    """The committed offset of every flow's and sink's consumer group (``GROUP_PREFIX``), or of ``groups`` when
    given, on each partition it committed, with that partition's read_committed end offset (the last stable
    offset)."""
    rows = [r for r in admin.lag(bootstrap, groups) if groups or r.group.startswith(GROUP_PREFIX)]
    if not rows:
        return []
    consumer = _consumer(bootstrap)
    try:
        ends = consumer.end_offsets(list({TopicPartition(r.topic, r.partition) for r in rows}))
    finally:
        consumer.close()
    return [GroupPosition(group=r.group, topic=r.topic, partition=r.partition, committed=r.committed,
                          end=int(ends[TopicPartition(r.topic, r.partition)])) for r in rows]


class RecordProbe:
    """``chaos.lag.HasRecords`` on the cluster, through one read_committed consumer (use it in a ``with``): reads
    [start, end) of a partition, so that transaction markers and aborted records, which no consumer receives, do
    not count. A range that cannot be read to its end within ``timeout_s`` counts as holding records: unread is
    not caught up."""

    def __init__(self, bootstrap: str, *, timeout_s: float = 60.0) -> None:
        self._consumer = _consumer(bootstrap)
        self._timeout_s = timeout_s

    def __enter__(self) -> RecordProbe:
        return self

    def __exit__(self, *_: object) -> None:
        self._consumer.close()

    def __call__(self, topic: str, partition: int, start: int | None, end: int) -> bool:
        consumer, tp = self._consumer, TopicPartition(topic, partition)
        consumer.assign([tp])
        if start is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, start)
        deadline = time.monotonic() + self._timeout_s
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                return True
            if any(r.offset < end for r in consumer.poll(timeout_ms=200).get(tp, [])):
                return True
        return False


def cdc_topics(bootstrap: str) -> list[str]:
    """The change topics of both connectors (``crm.*``, ``erp.*``)."""
    consumer = _consumer(bootstrap)
    try:
        return sorted(t for t in consumer.topics() if t.startswith(("crm.", "erp.")))
    finally:
        consumer.close()


def commands(bootstrap: str) -> list[CommandSeen]:
    store = SchemaStore.from_directory()
    seen = []
    for position, _, value in read_topics(bootstrap, COMMAND_TOPICS.values()):
        if value is None:
            continue
        record = dict(store.decode(value).value)
        seen.append(CommandSeen(target=str(record["target"]), idempotency_key=record["idempotency_key"],
                                entity_key=record["entity_key"], payload_type=record["payload_type"],
                                operation=str(record["operation"]), position=position))
    return seen


def refused_by_target(bootstrap: str) -> set[str]:
    """Idempotency keys a sink recorded as the target's business refusal (a CommandResult with a non-2xx
    status, e.g. the ERP's 409 "account N is blocked"; see ``refusals`` in targets/)."""
    store = SchemaStore.from_directory()
    keys = set()
    for _, _, value in read_topics(bootstrap, RESULTS_TOPICS.values()):
        if value is None:
            continue
        record = store.decode(value).value
        if not 200 <= int(record["status"]) < 300:
            keys.add(str(record["idempotency_key"]))
    return keys


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    key: str
    stage: str
    reason: str
    topic: str
    position: str


def dead_letters(bootstrap: str) -> list[DeadLetter]:
    store = SchemaStore.from_directory()
    letters = []
    for _, key, value in read_topics(bootstrap, [DLQ_TOPIC]):
        record: dict[str, Any] = dict(store.decode(value).value) if value is not None else {}
        letters.append(DeadLetter(key=key.decode(errors="replace") if key is not None else "",
                                  stage=str(record.get("stage", "")), reason=str(record.get("reason", ""))[:300],
                                  topic=str(record.get("topic", "")),
                                  position=f"{record.get('topic')}[{record.get('partition')}]@{record.get('offset')}"))
    return letters


def idempotency_rows(stack: RunningStack) -> dict[str, Counter[str]]:
    with stack.connect_crm() as crm, crm.cursor() as cur:
        cur.execute("SELECT idem_key, count(*) FROM crm.idempotency_keys GROUP BY idem_key")
        crm_rows = Counter({str(k): int(n) for k, n in cur.fetchall()})
    erp = stack.connect_erp()
    try:
        with erp.cursor() as cur:
            cur.execute("SELECT idem_key, count(*) FROM idempotency_keys GROUP BY idem_key")
            erp_rows = Counter({str(k): int(n) for k, n in cur.fetchall()})
    finally:
        erp.close()
    return {"crm": crm_rows, "erp": erp_rows}


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Both systems' business rows, keyed the way the mappings join them."""

    crm_customers: dict[str, dict[str, Any]]
    erp_accounts: dict[str, dict[str, Any]]
    accounts_per_customer: dict[str, int]
    crm_orders: dict[str, dict[str, Any]]
    erp_orders: dict[str, dict[str, Any]]
    orders_per_crm_order: dict[str, int]
    crm_availability: dict[str, Decimal]
    erp_availability: dict[str, Decimal]


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def snapshot(stack: RunningStack) -> Snapshot:
    with stack.connect_crm() as crm, crm.cursor() as cur:
        cur.execute("SELECT customer_number, name, email, phone, erp_account_id, credit_limit, payment_terms, "
                    "blocked, open_balance FROM crm.customers")
        crm_customers = {r["customer_number"]: r for r in _rows(cur)}
        cur.execute("SELECT o.order_number, o.status, o.erp_order_id, o.total_amount, c.customer_number "
                    "FROM crm.sales_orders o JOIN crm.customers c ON c.id = o.customer_id")
        crm_orders = {r["order_number"]: r for r in _rows(cur)}
        cur.execute("SELECT sku, available_qty FROM crm.products")
        crm_availability = {str(sku): Decimal(q) for sku, q in cur.fetchall()}
    erp = stack.connect_erp()
    try:
        with erp.cursor() as cur:
            cur.execute(
                "SELECT a.crm_customer_number, a.account_id, a.name, a.email, a.phone, a.credit_limit, "
                "a.payment_terms, a.blocked, a.active, "
                "COALESCE((SELECT SUM(i.amount) FROM invoices i WHERE i.account_id = a.account_id), 0) - "
                "COALESCE((SELECT SUM(p.amount) FROM payments p WHERE p.account_id = a.account_id), 0) "
                "AS open_balance FROM accounts a WHERE a.crm_customer_number IS NOT NULL")
            accounts = _rows(cur)
            cur.execute("SELECT crm_order_number, order_id, status, total_amount FROM sales_orders "
                        "WHERE crm_order_number IS NOT NULL")
            orders = _rows(cur)
            cur.execute("SELECT sku, SUM(on_hand - reserved) FROM stock GROUP BY sku")
            erp_availability = {str(sku): Decimal(q) for sku, q in cur.fetchall()}
    finally:
        erp.close()
    return Snapshot(
        crm_customers=crm_customers,
        erp_accounts={r["crm_customer_number"]: r for r in accounts},
        accounts_per_customer=dict(Counter(r["crm_customer_number"] for r in accounts)),
        crm_orders=crm_orders,
        erp_orders={r["crm_order_number"]: r for r in orders},
        orders_per_crm_order=dict(Counter(r["crm_order_number"] for r in orders)),
        crm_availability=crm_availability,
        erp_availability=erp_availability,
    )
