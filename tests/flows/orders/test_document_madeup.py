"""The document block on a made-up pair that shares no table, column or system name with the reference: a
shop's baskets and items, joined along the shop's transaction, become one booking in a books system; the
booking's phase comes back to the basket (its echo commands nothing); a bill moves the buyer's balance due.
Configuration only: tests/flows/orders/madeup (mapping files, and flows/deals.yaml)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.envelopes import captured_change
from support.systems import reference_with, system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import LocalRun
from streams.flows.files import load_flow_files
from streams.flows.orders import document_flow
from streams.mapping import load_mappings
from streams.sinks.topics import command_topic
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit
HERE = Path(__file__).resolve().parent / "madeup"
T0 = 1_773_122_400_000  # 2026-03-10 06:00 UTC, in ms

COLUMNS: dict[str, dict[str, dict[str, str]]] = {
    "shop": {"buyers": {"buyer_id": "BIGINT", "code": "TEXT", "label": "TEXT", "balance_due": "BIGINT"},
             "baskets": {"basket_id": "BIGINT", "ref": "TEXT", "buyer": "BIGINT", "state": "TEXT", "cur": "TEXT",
                         "booking_ref": "BIGINT"},
             "basket_items": {"item_id": "BIGINT", "basket": "BIGINT", "pos": "INTEGER", "article": "TEXT",
                              "qty": "BIGINT", "price": "BIGINT"}},
    "books": {"clients": {"client_id": "BIGINT", "shop_code": "TEXT", "title": "TEXT", "frozen": "BOOLEAN"},
              "bookings": {"booking_id": "BIGINT", "shop_ref": "TEXT", "client": "BIGINT", "phase": "TEXT"},
              "bills": {"bill_id": "BIGINT", "client": "BIGINT", "total": "BIGINT"},
              "receipts": {"receipt_id": "BIGINT", "client": "BIGINT", "total": "BIGINT"}},
}
NULLABLE = ("booking_ref", "shop_code", "balance_due")
NAMESPACES = {"shop": "store", "books": "acct"}
_CONNECT = {"BIGINT": "int64", "INTEGER": "int32", "TEXT": "string", "BOOLEAN": "boolean"}


def _systems() -> Systems:
    return reference_with(system("shop", prefix="web", namespace="store", writable=True, engine=Engine.POSTGRESQL),
                          system("books", prefix="ledger", namespace="acct", writable=True))


def _catalogs() -> dict[str, Catalog]:
    return {name: Catalog(system=name, engine="postgresql" if name == "shop" else "mariadb",
                          namespace=NAMESPACES[name],
                          tables={t: Table(name=t, columns={c: Column(name=c, sql_type=k, nullable=c in NULLABLE)
                                                             for c, k in cols.items()},
                                           primary_key=(next(iter(cols)),)) for t, cols in tables.items()})
            for name, tables in COLUMNS.items()}


class Events:
    """Debezium JSON change events of the made-up tables (shop: PostgreSQL, joined by transaction)."""

    def __init__(self) -> None:
        self.shapes = {"shop": captured_change("crm_sales_orders_c_1"), "books": captured_change("erp_accounts_u_1")}
        self.tx_shape = captured_change("crm_transaction_end_4")
        self.lsn, self.tx, self.pos, self.ms = 1000, 10, 100, T0

    def _row_schema(self, system: str, table: str) -> list[dict[str, Any]]:
        return [{"field": c, "type": _CONNECT[k], "optional": True} for c, k in COLUMNS[system][table].items()]

    def _record(self, system: str, table: str, op: str, before: Mapping[str, Any] | None,
                after: Mapping[str, Any] | None, block: dict[str, Any] | None) -> tuple[str, bytes, bytes]:
        shape = self.shapes[system]["value"]["schema"]
        fields = {f["field"]: f for f in shape["fields"]}
        rows = self._row_schema(system, table)
        schema = {**shape, "fields": [{**fields["before"], "fields": rows}, {**fields["after"], "fields": rows},
                                      fields["source"], fields["transaction"], fields["op"], fields["ts_ms"]]}
        captured = self.shapes[system]["value"]["payload"]["source"]
        if system == "shop":
            source = {**captured, "connector": "postgresql", "db": "shopdb", "name": "web", "schema": "store",
                      "table": table, "lsn": self.lsn, "txId": self.tx, "ts_ms": self.ms, "snapshot": "false"}
        else:
            source = {**captured, "gtid": None, "connector": "mariadb", "db": "acct", "name": "ledger",
                      "table": table, "file": "binlog.1", "pos": self.pos, "row": 0, "ts_ms": self.ms,
                      "snapshot": "false"}
        payload = {"before": before, "after": after, "op": op, "source": source, "transaction": block,
                   "ts_ms": self.ms}
        first = next(iter(COLUMNS[system][table]))
        row = after if after is not None else before
        assert row is not None
        key = {"schema": {"type": "struct", "fields": [{"field": first, "type": "int64"}]},
               "payload": {first: row[first]}}
        topic = f"{'web' if system == 'shop' else 'ledger'}.{NAMESPACES[system]}.{table}"
        return topic, json.dumps(key).encode(), json.dumps({"schema": schema, "payload": payload}).encode()

    def shop(self, *changes: tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any] | None]
             ) -> list[tuple[str, bytes | None, bytes]]:
        """One shop transaction: BEGIN, the changes ``(table, op, before, after)``, END."""
        self.tx += 1
        self.ms += 1000
        tx_id = f"{self.tx}:{self.lsn}"
        counts: dict[str, int] = {}
        built = []
        for order, (table, op, before, after) in enumerate(changes, start=1):
            self.lsn += 8
            counts[f"store.{table}"] = counts.get(f"store.{table}", 0) + 1
            block = {"id": tx_id, "total_order": order, "data_collection_order": counts[f"store.{table}"]}
            built.append(self._record("shop", table, op, before, after, block))
        return [self._tx("BEGIN", tx_id, None), *built, self._tx("END", tx_id, counts)]

    def _tx(self, status: str, tx_id: str, counts: Mapping[str, int] | None) -> tuple[str, bytes | None, bytes]:
        collections = [{"data_collection": c, "event_count": n} for c, n in sorted((counts or {}).items())]
        payload = {"status": status, "id": tx_id, "ts_ms": self.ms,
                   "event_count": sum((counts or {}).values()) if counts is not None else None,
                   "data_collections": collections if counts is not None else None}
        key = {"schema": self.tx_shape["key"]["schema"], "payload": {"id": tx_id}}
        return ("web.transaction", json.dumps(key).encode(),
                json.dumps({"schema": self.tx_shape["value"]["schema"], "payload": payload}).encode())

    def books(self, table: str, op: str, *, before: Mapping[str, Any] | None = None,
              after: Mapping[str, Any] | None = None) -> list[tuple[str, bytes | None, bytes]]:
        self.pos += 300
        self.ms += 1000
        return [self._record("books", table, op, before, after, {"id": f"0-1-{self.pos}", "total_order": 1,
                                                                 "data_collection_order": 1})]


@pytest.fixture
def run() -> tuple[LocalRun, SchemaStore]:
    return deals_run()


def deals_run() -> tuple[LocalRun, SchemaStore]:
    """The made-up pair's document flow under LocalRun, with its schemas."""
    schemas = SchemaStore.from_directory()
    systems = _systems()
    mappings = load_mappings(HERE, schemas=schemas.schemas, systems=systems, tables=_catalogs())
    (flow_file,) = load_flow_files(HERE / "flows", env={})
    flow = document_flow(flow_file, schemas=schemas, mappings=mappings, systems=systems)
    return LocalRun(flow.spec()), schemas


def _feed(run: LocalRun, schemas: SchemaStore, records: Sequence[tuple[str, bytes | None, bytes]]
          ) -> list[dict[str, Any]]:
    """Feed records; the commands they emitted, decoded (payload parsed)."""
    seen = len(run.context.emitted)
    asyncio.run(run.feed([run.record(t, k, v) for t, k, v in records]))
    commands = []
    for emitted in run.context.emitted[seen:]:
        if emitted.topic in (command_topic("shop"), command_topic("books")):
            assert emitted.value is not None
            record = dict(schemas.decode(emitted.value, "isthmus.canonical.Command").value)
            commands.append({**record, "payload": json.loads(record["payload"])})
    return commands


BUYER = {"buyer_id": 7, "code": "B-7", "label": "Quay Stores", "balance_due": 0}
CLIENT = {"client_id": 70, "shop_code": "B-7", "title": "Quay Stores", "frozen": False}
BASKET = {"basket_id": 5, "ref": "BK-5", "buyer": 7, "state": "submitted", "cur": "EUR", "booking_ref": None}
ITEM = {"item_id": 9, "basket": 5, "pos": 1, "article": "A-1", "qty": 3, "price": 4}
BOOKING = {"booking_id": 500, "shop_ref": "BK-5", "client": 70, "phase": "booked"}


def test_a_made_up_pair_runs_through_the_document_block(run: tuple[LocalRun, SchemaStore]) -> None:
    local, schemas = run
    events = Events()
    assert _feed(local, schemas, [*events.shop(("buyers", "c", None, BUYER)), *events.books("clients", "c",
                                                                                          after=CLIENT)]) == []
    sent = _feed(local, schemas, events.shop(("baskets", "c", None, BASKET), ("basket_items", "c", None, ITEM)))
    (create,) = sent
    assert (create["target"], create["operation"], create["entity_key"]) == ("books", "create", "BK-5")
    assert create["source"]["system"] == "shop" and create["source"]["table"] == "baskets"
    assert create["payload"]["erp_account_id"] == 70 and create["payload"]["customer_number"] == "B-7"
    assert create["payload"]["lines"] == [
        {"line_no": 1, "sku": "A-1", "quantity": "3.000", "unit_price": "4.00"}]
    (back,) = _feed(local, schemas, events.books("bookings", "c", after=BOOKING))
    assert (back["target"], back["operation"], back["changed_fields"]) == ("shop", "update",
                                                                          ["status", "erp_order_id"])
    assert (back["payload"]["status"], back["payload"]["erp_order_id"]) == ("reserved", 500)
    echo = {**BASKET, "state": "reserved", "booking_ref": 500}
    assert _feed(local, schemas, events.shop(("baskets", "u", BASKET, echo))) == []
    (phase,) = _feed(local, schemas, events.books("bookings", "u", before=BOOKING, after={**BOOKING, "phase": "sent"}))
    assert phase["payload"]["status"] == "shipped" and phase["changed_fields"] == ["status"]
    (billed,) = _feed(local, schemas, events.books("bills", "c", after={"bill_id": 1, "client": 70, "total": 12}))
    assert (billed["target"], billed["entity_key"], billed["changed_fields"]) == ("shop", "B-7", ["open_balance"])
    assert billed["payload"]["open_balance"] == "12.00"
    assert _feed(local, schemas, events.shop(("buyers", "u", BUYER, {**BUYER, "balance_due": 12}))) == []
    assert local.context.dead_letters == []
