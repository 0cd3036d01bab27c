"""The stock flow's key is the SKU, read from the Kafka key of both inputs (tombstones included), so routing needs
no state but the ERP's source transactions, which the keying stage joins (a stock change goes on with its END,
marked as its transaction's); run per partition on what the stage emitted, the flow commands exactly what the
one-partition flow commands."""

from __future__ import annotations

from collections import Counter

from stock_events import Cdc, Rec, product_row, stock_row
from stock_harness import StockHarness
from support.fleet import fleet_runs
from support.tx_events import with_ends

from streams.flows.engine.api import Incoming, Store
from streams.flows.engine.stores import MemoryStore
from streams.flows.stock.keying import GroupKeys


def _keys(flow: StockHarness) -> GroupKeys:
    """The router of the flow as flows/stock.yaml configures it."""
    keys = flow.flow.spec().key_by
    assert isinstance(keys, GroupKeys)
    return keys


def _incoming(topic: str, key: bytes | None, value: bytes | None) -> Incoming:
    return Incoming(topic=topic, partition=0, offset=0, key=key, value=value, timestamp_ms=0)


def _routed(flow: StockHarness, stores: dict[str, Store], *records: Rec) -> list[list[str | None]]:
    """The keys each record (each followed by its END, when the flow reads its transaction topic) is routed with."""
    ended = [r for r in with_ends([(r.topic, r.key, r.value) for r in records]) if r[0] in flow.run.flow.inputs]
    return [[k for k, _ in _keys(flow).route(_incoming(*record), stores)] for record in ended]


def test_stock_rows_products_and_tombstones_route_by_sku(flow: StockHarness) -> None:
    keys = _keys(flow)
    stores: dict[str, Store] = {name: MemoryStore(name) for name in keys.stores}
    cdc = Cdc()
    records = [cdc.stock("c", after=stock_row("SKU-1", "WH1", "5")),
               cdc.stock("c", after=stock_row("SKU-1", "WH2", "3")),
               cdc.product("c", after=product_row("SKU-1", "0")), cdc.product("c", after=product_row("SKU-2", "0"))]
    # a stock change waits for its END, which passes it on; a product change (not joined) goes at once
    assert _routed(flow, stores, *records) == [[], ["SKU-1"], [], ["SKU-1"], ["SKU-1"], ["SKU-2"]]
    tombstone = _incoming(records[0].topic, records[0].key, None)
    assert [(key, r.topic, r.key, r.value) for key, r in keys.route(tombstone, stores)] == [
        ("SKU-1", tombstone.topic, tombstone.key, None)]


def test_a_key_that_is_not_a_debezium_key_goes_on_unkeyed_for_the_flow_to_dead_letter(flow: StockHarness) -> None:
    keys = _keys(flow)
    record = _incoming("erp.erp.stock", b"not json", b"{}")
    assert [(key, r.value) for key, r in keys.route(record, {})] == [(None, b"{}")]


def test_partitioned_stock_flow_commands_exactly_what_the_one_partition_flow_does(flow: StockHarness) -> None:
    cdc = Cdc()
    records: list[Rec] = []
    for n in range(6):
        sku = f"SKU-{n}"
        records += [cdc.product("c", after=product_row(sku, "0")), cdc.stock("c", after=stock_row(sku, "WH1", "9")),
                    cdc.stock("c", after=stock_row(sku, "WH2", str(n), "1"))]
    records += [cdc.stock("u", before=stock_row("SKU-2", "WH1", "9"), after=stock_row("SKU-2", "WH1", "4")),
                cdc.stock("d", before=stock_row("SKU-3", "WH2", "3", "1"))]
    baseline = flow.feed(*records)
    spec = flow.flow.spec()
    runs = fleet_runs(spec, [r for r in with_ends([(r.topic, r.key, r.value) for r in records]) if r[0] in spec.inputs])
    keys: list[str] = []
    for run in runs:
        assert run.context.dead_letters == []
        keys += [flow.schemas.decode(e.value).value["idempotency_key"] for e in run.context.emitted
                 if e.value is not None]
    assert len(runs) > 1
    assert Counter(keys) == Counter(c["idempotency_key"] for c in baseline) and len(baseline) >= 6
