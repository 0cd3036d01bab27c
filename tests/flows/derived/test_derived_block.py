"""The ``derived`` block by configuration only: its section's mistakes name line, field and fix, and a made-up
pair of systems (other system, table and column names) sums and commands through the same code."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.systems import reference_with, system
from support.tx_events import with_ends

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import LocalRun
from streams.flows.engine.stores import MemoryStore
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.files import load_flow_files
from streams.flows.stock import StockFlow, read_config
from streams.flows.stock.keying import GroupKeys
from streams.mapping import RecordMapping, load_mapping
from streams.mapping.loader import default_tables
from streams.systems import Systems

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "codecs" / "fixtures"
MAPPING = """\
description: free stock of an item over every bin
target: isthmus.canonical.ProductAvailability
key: sku
owner: ledger
policy: latest_commit_wins
sources:
  ledger_bins:
    system: ledger
    table: bins
    group_by: [item]
    fields:
      sku: item
      available_qty: {sum: "qty - held"}
"""
SECTION = """\
name: shop-free-stock
block: derived
derived:
  mapping: free_stock
  stamp: as_of
  target: {system: shopfront, table: items, key: code, column: free, operation: upsert}
"""


def _decimal(name: str) -> Column:
    return Column(name=name, sql_type="DECIMAL", args=("14", "3"), nullable=False)


def _text(name: str) -> Column:
    return Column(name=name, sql_type="VARCHAR", args=("40",), nullable=False)


@pytest.fixture(scope="module")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


@pytest.fixture
def systems() -> Systems:
    return reference_with(system("ledger", prefix="ledger", namespace="books"),
                          system("shopfront", prefix="shop", namespace="public", writable=True))


@pytest.fixture
def mapping(tmp_path: Path, schemas: SchemaStore, systems: Systems) -> RecordMapping:
    bins = Table(name="bins", columns={c.name: c for c in (_text("item"), _text("site"), _decimal("qty"),
                                                           _decimal("held"))}, primary_key=("item", "site"))
    tables = {**default_tables(), "ledger": Catalog(system="ledger", engine="mariadb", namespace="books",
                                                    tables={"bins": bins})}
    path = tmp_path / "free_stock.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return load_mapping(path, schemas=schemas.schemas, tables=tables, systems=systems)


def _flow_file(tmp_path: Path, text: str) -> Any:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "derived.yaml").write_text(text, encoding="utf-8")
    (flow,) = load_flow_files(folder, env={})
    return flow


def _renamed(shape: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A captured Connect schema with its columns renamed (types kept)."""
    renamed = copy.deepcopy(shape)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("field"), str) and node["field"] in names:
                node["field"] = names[node["field"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(renamed)
    return renamed


STOCK = _renamed(json.loads((FIXTURES / "erp_stock_u_1.json").read_text(encoding="utf-8")),
                 {"sku": "item", "warehouse_code": "site", "on_hand": "qty", "reserved": "held"})
PRODUCT = _renamed(json.loads((FIXTURES / "crm_products_c_1.json").read_text(encoding="utf-8")),
                   {"sku": "code", "available_qty": "free"})


def _quantity(value: str) -> str:
    unscaled = int(Decimal(value).scaleb(3))
    return base64.b64encode(unscaled.to_bytes(max(1, (unscaled.bit_length() + 8) // 8), "big", signed=True)).decode()


class Events:
    """Debezium records of the made-up systems (their topics, tables and columns)."""

    def __init__(self, run: LocalRun) -> None:
        self.run = run
        self.n = 0

    def _record(self, topic: str, shape: dict[str, Any], table: str, op: str, before: dict[str, Any] | None,
                after: dict[str, Any] | None) -> Any:
        self.n += 1
        row = after if after is not None else before
        assert row is not None
        at = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=self.n)
        ms = int(at.timestamp() * 1000)
        key_schema = shape["key"]["schema"]
        key = {"schema": key_schema, "payload": {f["field"]: row[f["field"]] for f in key_schema["fields"]}}
        source = dict(shape["value"]["payload"]["source"])
        moved = {"db": topic.split(".")[1], "table": table, "ts_ms": ms, "ts_us": ms * 1000, "ts_ns": ms * 10**6,
                 "pos": 100 * self.n, "lsn": 100 * self.n, "gtid": f"0-1-{self.n}", "snapshot": "false"}
        source.update({k: v for k, v in moved.items() if k in source})
        payload = {"before": before, "after": after, "op": op, "source": source, "ts_ms": ms + 5,
                   "transaction": {"id": str(self.n), "total_order": 1, "data_collection_order": 1}}
        return self.run.record(topic, json.dumps(key).encode(),
                               json.dumps({"schema": shape["value"]["schema"], "payload": payload}).encode())

    def bin(self, op: str, item: str, site: str, qty: str, held: str = "0",
            before: tuple[str, str] | None = None) -> Any:
        row = {"item": item, "site": site, "qty": _quantity(qty), "held": _quantity(held), "version": 1}
        old = None if before is None else {**row, "qty": _quantity(before[0]), "held": _quantity(before[1])}
        if op == "d":
            return self._record("ledger.books.bins", STOCK, "bins", op, row, None)
        return self._record("ledger.books.bins", STOCK, "bins", op, old, row)

    def item(self, code: str, free: str) -> Any:
        row = {"code": code, "name": "Thing", "list_price": "C7g=", "free": _quantity(free), "version": 1,
               "updated_at": "2026-03-10T06:00:00.000000Z"}
        return self._record("shop.public.items", PRODUCT, "items", "c", None, row)


def test_a_made_up_pair_sums_per_key_commands_its_target_and_ignores_its_echo(
        tmp_path: Path, schemas: SchemaStore, systems: Systems, mapping: RecordMapping) -> None:
    config = read_config(_flow_file(tmp_path, SECTION), {"free_stock": mapping}, systems, schemas.schemas.named)
    spec = StockFlow(schemas=schemas, config=config, systems=systems, name="shop-free-stock").spec()
    assert spec.inputs == ("ledger.books.bins", "shop.public.items", "ledger.transaction")
    run = LocalRun(spec)
    events = Events(run)

    def feed(*records: Any) -> list[dict[str, Any]]:
        """Feed ``records``, each change alone in its source transaction (its END after it)."""
        seen = len(run.context.emitted)
        ended = with_ends([(r.topic, r.key, r.value) for r in records])
        asyncio.run(run.feed([run.record(*r) for r in ended if r[0] in spec.inputs]))
        assert run.context.dead_letters == []
        out = []
        for e in run.context.emitted[seen:]:
            assert e.topic == "isthmus.commands.shopfront" and e.value is not None
            command = dict(schemas.decode(e.value, "isthmus.canonical.Command").value)
            out.append({**command, "payload": json.loads(command["payload"])})
        return out

    assert feed(events.bin("c", "IT-1", "A", "10", "3")) == []  # the target has no item IT-1 yet: kept
    (first,) = feed(events.item("IT-1", "0"))
    assert (first["target"], first["operation"], first["entity_key"]) == ("shopfront", "upsert", "IT-1")
    assert first["payload"]["sku"] == "IT-1" and first["payload"]["available_qty"] == "7.000"
    assert first["payload"]["as_of"] is not None and first["changed_fields"] == ["available_qty"]
    (second,) = feed(events.bin("c", "IT-1", "B", "5", "1"))
    assert second["payload"]["available_qty"] == "11.000"
    assert feed(events.item("IT-1", "7"), events.item("IT-1", "11")) == []  # echoes
    (third,) = feed(events.bin("d", "IT-1", "B", "5", "1"))
    assert third["payload"]["available_qty"] == "7.000"
    keys = spec.key_by
    assert isinstance(keys, GroupKeys)
    stores = {name: MemoryStore(name) for name in keys.stores}
    change = events.bin("c", "IT-2", "A", "1")
    assert keys.route(change, stores) == []  # it waits for its transaction's END, which passes it on
    _, end = with_ends([(change.topic, change.key, change.value)])
    assert [(k, r.offset) for k, r in keys.route(run.record(*end), stores)] == [("IT-2", change.offset)]
    assert [k for k, _ in keys.route(events.item("IT-2", "0"), stores)] == ["IT-2"]


def test_section_mistakes_name_line_field_and_fix(tmp_path: Path, schemas: SchemaStore, systems: Systems,
                                                  mapping: RecordMapping) -> None:
    text = """\
name: shop-free-stock
block: derived
derived:
  mapping: free_stock
  field: price
  stamp: when
  colour: blue
  target: {system: ledger, table: items, key: [code, other], column: free, operation: set}
"""
    with pytest.raises(FlowFileError) as raised:
        read_config(_flow_file(tmp_path, text), {"free_stock": mapping}, systems, schemas.schemas.named)
    found = {(p.line, p.field): (p.message, p.fix) for p in raised.value.problems}
    assert "does not sum 'price'" in found[(5, "derived.field")][0]
    assert "available_qty" in found[(5, "derived.field")][1]
    assert "no field 'when'" in found[(6, "derived.stamp")][0]
    assert found[(7, "derived.colour")][0] == "unknown key"
    assert "read-only" in found[(8, "derived.target.system")][0]
    assert "one target column per key field" in found[(8, "derived.target.key")][1]
    assert "'set' is not one of create, update" in found[(8, "derived.target.operation")][0]
    unknown = SECTION.replace("system: shopfront", "system: warehouse")
    with pytest.raises(FlowFileError, match=r"derived.yaml:6: derived.target.system: unknown system 'warehouse'"):
        read_config(_flow_file(tmp_path, unknown), {"free_stock": mapping}, systems, schemas.schemas.named)


def test_a_mapping_the_folder_lacks_makes_the_flow_unavailable(tmp_path: Path, schemas: SchemaStore,
                                                               systems: Systems) -> None:
    with pytest.raises(FlowUnavailable, match=r"free_stock\.yaml"):
        read_config(_flow_file(tmp_path, SECTION), {}, systems, schemas.schemas.named)
