"""Debezium records of ERP stock and CRM products in the exact shape the dev Connect writes (Connect schemas
from the captured fixtures in tests/codecs/fixtures), with real topic names and increasing log positions."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from reference.topics import CRM_PRODUCTS, ERP_STOCK

FIXTURES = Path(__file__).resolve().parents[2] / "codecs" / "fixtures"
T0 = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
SHAPES = {topic: json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
          for topic, name in ((ERP_STOCK, "erp_stock_u_1"), (CRM_PRODUCTS, "crm_products_c_1"))}


@dataclass(frozen=True)
class Rec:
    topic: str
    key: bytes | None
    value: bytes | None


def quantity(value: str) -> str:
    """A NUMERIC/DECIMAL(14,3) as Connect writes it: base64 of the unscaled two's complement integer."""
    unscaled = int(Decimal(value).scaleb(3))
    return base64.b64encode(unscaled.to_bytes(max(1, (unscaled.bit_length() + 8) // 8), "big", signed=True)).decode()


def stock_row(sku: str, warehouse: str, on_hand: str, reserved: str = "0") -> dict[str, Any]:
    return {"sku": sku, "warehouse_code": warehouse, "on_hand": quantity(on_hand), "reserved": quantity(reserved),
            "version": 1}


def product_row(sku: str, available: str, *, name: str = "Widget") -> dict[str, Any]:
    return {"sku": sku, "name": name, "list_price": "C7g=", "available_qty": quantity(available), "version": 1,
            "updated_at": "2026-03-10T06:00:00.000000Z"}


@dataclass
class Cdc:
    now: dt.datetime = T0
    lsn: int = 70_000_000
    binlog_pos: int = 4_000

    def _record(self, topic: str, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
                source: dict[str, Any], tx_id: str) -> Rec:
        row = after if after is not None else before
        assert row is not None
        key_schema = SHAPES[topic]["key"]["schema"]
        key = {"schema": key_schema, "payload": {f["field"]: row[f["field"]] for f in key_schema["fields"]}}
        payload = {"before": before, "after": after, "op": op, "source": source, "ts_ms": source["ts_ms"] + 5,
                   "transaction": {"id": tx_id, "total_order": 1, "data_collection_order": 1}}
        return Rec(topic, json.dumps(key).encode(),
                   json.dumps({"schema": SHAPES[topic]["value"]["schema"], "payload": payload}).encode())

    def stock(self, op: str, *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> Rec:
        self.now += dt.timedelta(seconds=1)
        self.binlog_pos += 300
        seconds = int(self.now.timestamp())
        gtid = f"0-1-{self.binlog_pos}"
        source = {"connector": "mariadb", "db": "erp", "file": "binlog.000001", "gtid": gtid, "name": "erp",
                  "pos": self.binlog_pos, "query": None, "row": 0, "sequence": None, "server_id": 1,
                  "snapshot": "false", "table": "stock", "thread": None, "ts_ms": seconds * 1000,
                  "ts_ns": seconds * 10**9, "ts_us": seconds * 10**6, "version": "3.5.0.Final"}
        return self._record(ERP_STOCK, op, before, after, source, gtid)

    def product(self, op: str, *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> Rec:
        self.now += dt.timedelta(seconds=1)
        self.lsn += 80
        micros = int(self.now.timestamp() * 1_000_000)
        source = {"connector": "postgresql", "db": "crm", "lsn": self.lsn, "name": "crm", "origin": None,
                  "origin_lsn": None, "schema": "crm", "sequence": f'[null,"{self.lsn}"]', "snapshot": "false",
                  "table": "products", "ts_ms": micros // 1000, "ts_ns": micros * 1000, "ts_us": micros,
                  "txId": self.lsn // 80, "version": "3.6.1.Final", "xmin": None}
        return self._record(CRM_PRODUCTS, op, before, after, source, f"{self.lsn // 80}:{self.lsn}")
