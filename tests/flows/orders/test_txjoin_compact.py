"""A join holds a change with its Connect schema inline (JsonConverter's ``{"schema":…,"payload":…}``) as its payload
text and the schema's fingerprint, the schema text once in its transaction's state: ~5x less to write to the
store and its changelog, and the record released is the one buffered, byte for byte, also when read back from
the store by another process."""

from __future__ import annotations

import json
import logging

import orjson
import pytest
from order_events import Cdc, Change, Rec, crm_line, crm_order

from reference.topics import CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS
from streams.codecs import ChangeEvent, TransactionEvent, decode
from streams.flows.engine.api import Incoming
from streams.flows.engine.stores import MemoryStore
from streams.flows.orders.txjoin import (
    ENDED,
    Buffered,
    JoinCodec,
    TransactionJoin,
    held_record,
    held_state,
    schema_split,
)
from streams.flows.parking import record_to_state

pytestmark = pytest.mark.unit

COLLECTIONS = ("crm.sales_orders", "crm.sales_order_lines")


def _compact(rec: Rec) -> Rec:
    """The record as JsonConverter writes it: compact JSON."""
    value = None if rec.value is None else json.dumps(json.loads(rec.value), separators=(",", ":")).encode()
    return Rec(rec.topic, rec.key, value)


def _incoming(rec: Rec, offset: int) -> Incoming:
    return Incoming(topic=rec.topic, partition=0, offset=offset, key=rec.key, value=rec.value, timestamp_ms=7,
                    headers=(("isthmus.test", b"\x00\x01"),))


def _order(cdc: Cdc, lines: int) -> tuple[list[Rec], Rec]:
    tx = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, "SO-1", 1)),
                              *(Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(30 + n, 21, n, f"SKU-{n}"))
                                for n in range(lines))])
    return [_compact(r) for r in tx.changes], _compact(tx.end)


def test_a_change_is_kept_as_its_payload_and_read_back_byte_for_byte(cdc: Cdc) -> None:
    changes, _ = _order(cdc, 1)
    record = _incoming(changes[0], 3)
    state = held_state(record)
    assert "value" in state and state["value"] is None and "payload" in state  # type: ignore[operator,index]
    whole = len(orjson.dumps(record_to_state(record)))
    assert len(orjson.dumps(state)) * 3 < whole  # the schema was most of it
    split = schema_split(record.value)
    assert split is not None and state["schema"] == split[0]  # type: ignore[index,call-overload]
    assert held_record(state, {split[0]: split[1]}) == record  # type: ignore[arg-type]


def test_a_value_in_another_form_is_kept_whole() -> None:
    record = Incoming(topic="t", partition=0, offset=1, key=None, value=b'{"schema": {}, "payload": 1}',
                      timestamp_ms=0)
    assert held_state(record) == record_to_state(record)
    assert held_record(held_state(record), {}) == record  # type: ignore[arg-type]


def test_a_join_read_back_from_its_store_releases_the_records_as_buffered(cdc: Cdc) -> None:
    changes, end = _order(cdc, 3)
    store = MemoryStore("tx")
    records = [_incoming(rec, n) for n, rec in enumerate(changes)]
    for record in records:  # each call a new join, codec and cache: as after a restart, read from the store
        join = TransactionJoin.on_store(store, COLLECTIONS, codec=JoinCodec(Buffered(limit=0)))
        event = decode(record.value, record.key, topic=record.topic)
        assert isinstance(event, ChangeEvent)
        assert join.add(record, event) == []
    (tx_key,) = [k for k in dict(store.items()) if k.startswith("tx:")]
    assert len(store.get(tx_key)["schemas"]) == 2  # type: ignore[index,arg-type]  # one per table, not per change
    ended = decode(end.value, end.key, topic=end.topic)
    assert isinstance(ended, TransactionEvent)
    join = TransactionJoin.on_store(store, COLLECTIONS, codec=JoinCodec(Buffered(limit=0)))
    (released,) = join.end(ended)
    assert list(released.records) == records
    assert {k: v for k, v in store.items() if k != ENDED} == {"queue": {"txs": []}}  # nothing of it left, nor schemas


def test_a_held_change_whose_schema_is_missing_is_refused_with_what_to_do(cdc: Cdc) -> None:
    changes, _ = _order(cdc, 1)
    state = held_state(_incoming(changes[0], 0))
    with pytest.raises(ValueError, match="delete the flow's state"):
        held_record(state, {})  # type: ignore[arg-type]


@pytest.mark.parametrize("cached", [True, False])
def test_a_change_delivered_twice_is_held_once(cdc: Cdc, cached: bool) -> None:
    """Connect delivers at least once: the same change again (its place in the transaction) is not held twice."""
    changes, end = _order(cdc, 1)
    store = MemoryStore("tx")
    codec = JoinCodec(Buffered())
    records = [_incoming(rec, n) for n, rec in enumerate(changes)]
    for record in [*records, records[0]]:
        join = TransactionJoin.on_store(store, COLLECTIONS, codec=codec if cached else JoinCodec(Buffered(limit=0)))
        event = decode(record.value, record.key, topic=record.topic)
        assert isinstance(event, ChangeEvent)
        join.add(record, event)
    (tx_key,) = [k for k in dict(store.items()) if k.startswith("tx:")]
    assert sum(map(len, store.get(tx_key)["have"].values())) == 2  # type: ignore[index,union-attr,call-overload]
    ended = decode(end.value, end.key, topic=end.topic)
    assert isinstance(ended, TransactionEvent)
    (released,) = TransactionJoin.on_store(store, COLLECTIONS, codec=codec).end(ended)
    assert list(released.records) == records


def test_a_transaction_held_with_a_truncate_is_abandoned_saying_so(cdc: Cdc,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """MariaDB and MySQL commit a TRUNCATE as a statement of its own, whose END Debezium's metadata does not carry:
    its transaction is abandoned when a later one ends, and the line says why (not "a table added to the
    capture or renamed", which a new user took it for)."""
    changes, _ = _order(cdc, 1)
    record = _incoming(changes[1], 0)
    truncate = json.loads(record.value or b"{}")
    truncate["payload"].update(op="t", before=None, after=None)
    record = Incoming(topic=record.topic, partition=0, offset=0, key=None, value=json.dumps(truncate).encode(),
                      timestamp_ms=7)
    event = decode(record.value, record.key, topic=record.topic)
    assert isinstance(event, ChangeEvent) and event.transaction is not None
    store = MemoryStore("tx")
    join = TransactionJoin.on_store(store, COLLECTIONS, codec=JoinCodec(Buffered(limit=0)))
    join.add(record, event)
    caplog.set_level(logging.INFO, logger="streams.flows.txjoin")
    (released,) = join._lost([event.transaction.tx_key], why="a transaction committed after it has ENDed")
    assert list(released.records) == [record]
    assert ("came without their END (a transaction committed after it has ENDed: a TRUNCATE of "
            "crm.sales_order_lines, which MariaDB and MySQL commit as a statement of its own, with no END in "
            "Debezium's transaction metadata)") in caplog.text
