"""The stock flow's key is the SKU, read from the Kafka key of both inputs (tombstones included), so the
keying stage needs no state."""

from __future__ import annotations

from stock_events import Cdc, product_row, stock_row

from streams.flows.engine.api import Incoming
from streams.flows.stock.keying import SkuKeys


def _incoming(topic: str, key: bytes | None, value: bytes | None) -> Incoming:
    return Incoming(topic=topic, partition=0, offset=0, key=key, value=value, timestamp_ms=0)


def test_stock_rows_products_and_tombstones_route_by_sku() -> None:
    cdc = Cdc()
    records = [cdc.stock("c", after=stock_row("SKU-1", "WH1", "5")),
               cdc.stock("c", after=stock_row("SKU-1", "WH2", "3")),
               cdc.product("c", after=product_row("SKU-1", "0")), cdc.product("c", after=product_row("SKU-2", "0"))]
    routed = [SkuKeys().route(_incoming(r.topic, r.key, r.value), {}) for r in records]
    assert [[key for key, _ in r] for r in routed] == [["SKU-1"], ["SKU-1"], ["SKU-1"], ["SKU-2"]]
    tombstone = _incoming(records[0].topic, records[0].key, None)
    assert SkuKeys().route(tombstone, {}) == [("SKU-1", tombstone)]


def test_a_key_that_is_not_a_debezium_key_goes_on_unkeyed_for_the_flow_to_dead_letter() -> None:
    record = _incoming("erp.erp.stock", b"not json", b"{}")
    assert SkuKeys().route(record, {}) == [(None, record)]
