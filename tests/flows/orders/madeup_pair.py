"""A made-up pair for the document block that shares no table, column or system name with the reference: a
shop (PostgreSQL, joined by transaction) and a books system, their tables' columns, Debezium JSON change events
of them, and a ``document`` flow built from a directory of mapping files (and its ``flows/``) under LocalRun."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def systems() -> Systems:
    return reference_with(system("shop", prefix="web", namespace="store", writable=True, engine=Engine.POSTGRESQL),
                          system("books", prefix="ledger", namespace="acct", writable=True))


def catalogs() -> dict[str, Catalog]:
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


def built(directory: Path) -> tuple[LocalRun, SchemaStore]:
    """The flow of ``directory/flows`` (one file) over the mapping files of ``directory``, on the made-up pair."""
    schemas = SchemaStore.from_directory()
    pair = systems()
    mappings = load_mappings(directory, schemas=schemas.schemas, systems=pair, tables=catalogs())
    (flow_file,) = load_flow_files(directory / "flows", env={})
    flow = document_flow(flow_file, schemas=schemas, mappings=mappings, systems=pair)
    return LocalRun(flow.spec()), schemas


def feed(run: LocalRun, schemas: SchemaStore, records: Sequence[tuple[str, bytes | None, bytes]]
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
