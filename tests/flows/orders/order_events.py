"""Debezium records of the tables the order-to-cash and stock flows read, in the exact shape the dev Connect
writes (Connect schemas taken from the captured fixtures in tests/codecs/fixtures), with real topic names,
increasing log positions and, on the CRM, whole source transactions: BEGIN, the changes, END with counts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from reference import topics as reference_topics

FIXTURES = Path(__file__).resolve().parents[2] / "codecs" / "fixtures"
T0 = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


SHAPES = {
    reference_topics.CRM_SALES_ORDERS: _captured("crm_sales_orders_c_1"),
    reference_topics.CRM_SALES_ORDER_LINES: _captured("crm_sales_order_lines_c_1"),
    reference_topics.CRM_CUSTOMERS: _captured("crm_customers_u_1"),
    reference_topics.CRM_PRODUCTS: _captured("crm_products_c_1"),
    reference_topics.ERP_ACCOUNTS: _captured("erp_accounts_u_1"),
    reference_topics.ERP_SALES_ORDERS: _captured("erp_sales_orders_u_1"),
    reference_topics.ERP_INVOICES: _captured("erp_invoices_c_1"),
    reference_topics.ERP_PAYMENTS: _captured("erp_payments_c_1"),
    reference_topics.ERP_STOCK: _captured("erp_stock_u_1"),
    reference_topics.CRM_TRANSACTION: _captured("crm_transaction_end_4"),
}


def decimal(value: Decimal | int | str | None, scale: int) -> str | None:
    """A Connect Decimal: base64 of the unscaled two's complement integer."""
    if value is None:
        return None
    unscaled = int(Decimal(value).scaleb(scale).to_integral_value())
    size = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()


def _micros(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def _local_millis(local: dt.datetime) -> int:
    """A zone-less MariaDB DATETIME(3) as Connect writes it: epoch millis "as if UTC"."""
    return int((local.replace(tzinfo=dt.UTC) - EPOCH).total_seconds() * 1000)


@dataclass(frozen=True)
class Rec:
    topic: str
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Change:
    """One row change of a CRM transaction: table topic, op, before and after payload rows."""

    topic: str
    op: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Transaction:
    begin: Rec
    changes: tuple[Rec, ...]
    end: Rec

    @property
    def in_order(self) -> list[Rec]:
        return [self.begin, *self.changes, self.end]


def _key(topic: str, row: Mapping[str, Any]) -> bytes:
    schema = SHAPES[topic]["key"]["schema"]
    fields = [f["field"] for f in schema["fields"]]
    return json.dumps({"schema": {**schema, "name": f"{topic}.Key"}, "payload": {f: row[f] for f in fields}}).encode()


def _value(topic: str, op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
           source: dict[str, Any], block: dict[str, Any] | None) -> bytes:
    payload = {"before": dict(before) if before is not None else None,
               "after": dict(after) if after is not None else None, "op": op, "source": source,
               "transaction": block, "ts_ms": source["ts_ms"] + 5}
    return json.dumps({"schema": SHAPES[topic]["value"]["schema"], "payload": payload}).encode()


@dataclass
class Cdc:
    """Change records with increasing positions: the CRM's commit times in microseconds, the ERP's in whole
    seconds (MariaDB's binlog resolution)."""

    now: dt.datetime = T0
    lsn: int = 60_000_000
    tx: int = 5_000
    binlog_pos: int = 9_000
    gtid: int = 700

    def tick(self, seconds: float = 1.0) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def _crm_source(self, table: str, snapshot: bool) -> dict[str, Any]:
        micros = _micros(self.now)
        return {"connector": "postgresql", "db": "crm", "lsn": self.lsn, "name": "crm", "origin": None,
                "origin_lsn": None, "schema": "crm", "sequence": f'[null,"{self.lsn}"]',
                "snapshot": "true" if snapshot else "false", "table": table, "ts_ms": micros // 1000,
                "ts_ns": micros * 1000, "ts_us": micros, "txId": self.tx, "version": "3.6.1.Final", "xmin": None}

    def _tx_event(self, status: str, counts: Mapping[str, int] | None) -> Rec:
        tx_id = f"{self.tx}:{self.lsn}"
        collections = [{"data_collection": c, "event_count": n} for c, n in sorted((counts or {}).items())]
        payload = {"status": status, "id": tx_id, "ts_ms": _micros(self.now) // 1000,
                   "event_count": sum((counts or {}).values()) if counts is not None else None,
                   "data_collections": collections if counts is not None else None}
        shape = SHAPES[reference_topics.CRM_TRANSACTION]
        key = {"schema": shape["key"]["schema"], "payload": {"id": tx_id}}
        return Rec(reference_topics.CRM_TRANSACTION, json.dumps(key).encode(),
                   json.dumps({"schema": shape["value"]["schema"], "payload": payload}).encode())

    def crm_transaction(self, changes: Sequence[Change], *, extra: Mapping[str, int] | None = None) -> Transaction:
        """One committed CRM transaction; ``extra`` counts changes of other tables END reports (not built)."""
        self.tick()
        self.tx += 1
        self.lsn += 40
        begin = self._tx_event("BEGIN", None)
        built = []
        counts: dict[str, int] = dict(extra or {})
        for order, change in enumerate(changes, start=1):
            self.lsn += 40
            table = change.topic.rpartition(".")[2]
            counts[f"crm.{table}"] = counts.get(f"crm.{table}", 0) + 1
            row = change.after if change.after is not None else change.before
            assert row is not None
            block = {"id": f"{self.tx}:{self.lsn}", "total_order": order,
                     "data_collection_order": counts[f"crm.{table}"]}
            built.append(Rec(change.topic, _key(change.topic, row),
                             _value(change.topic, change.op, change.before, change.after,
                                    self._crm_source(table, False), block)))
        self.lsn += 40
        return Transaction(begin=begin, changes=tuple(built), end=self._tx_event("END", counts))

    def crm_read(self, topic: str, row: Mapping[str, Any]) -> Rec:
        """A snapshot read: no transaction block."""
        self.lsn += 40
        table = topic.rpartition(".")[2]
        return Rec(topic, _key(topic, row), _value(topic, "r", None, row, self._crm_source(table, True), None))

    def erp(self, topic: str, op: str, *, before: Mapping[str, Any] | None = None,
            after: Mapping[str, Any] | None = None, snapshot: bool = False) -> Rec:
        """One ERP row change, alone in its transaction (the ERP side is not joined)."""
        self.tick()
        self.binlog_pos += 300
        self.gtid += 1
        seconds = int(self.now.timestamp())
        gtid = f"0-1-{self.gtid}"
        table = topic.rpartition(".")[2]
        source = {"connector": "mariadb", "db": "erp", "file": "binlog.000001", "gtid": None if snapshot else gtid,
                  "name": "erp", "pos": self.binlog_pos, "query": None, "row": 0, "sequence": None, "server_id": 1,
                  "snapshot": "true" if snapshot else "false", "table": table, "thread": None,
                  "ts_ms": seconds * 1000, "ts_ns": seconds * 10**9, "ts_us": seconds * 10**6,
                  "version": "3.5.0.Final"}
        block = None if snapshot else {"id": gtid, "total_order": 1, "data_collection_order": 1}
        row = after if after is not None else before
        assert row is not None
        return Rec(topic, _key(topic, row), _value(topic, "r" if snapshot else op, before, after, source, block))


# rows (payload form)

def crm_customer(customer_id: int, number: str, *, name: str = "Harbour Trading",
                 open_balance: Decimal | str = "0") -> dict[str, Any]:
    return {"id": customer_id, "customer_number": number, "name": name, "email": None, "phone": None,
            "erp_account_id": None, "credit_limit": None, "payment_terms": None, "blocked": False,
            "open_balance": decimal(open_balance, 2), "version": 1, "created_at": "2026-03-10T06:00:00.000000Z",
            "updated_at": "2026-03-10T06:00:00.000000Z"}


def crm_order(order_id: int, number: str, customer_id: int, *, status: str = "submitted",
              total: Decimal | str = "120.00", erp_order_id: int | None = None,
              ordered_at: str = "2026-03-10T06:30:00.000000Z") -> dict[str, Any]:
    return {"id": order_id, "order_number": number, "customer_id": customer_id, "status": status, "currency": "CNY",
            "total_amount": decimal(total, 2), "erp_order_id": erp_order_id, "ordered_at": ordered_at,
            "version": 1, "updated_at": ordered_at}


def crm_line(line_id: int, order_id: int, line_no: int, sku: str, *, quantity: Decimal | str = "2",
             unit_price: Decimal | str = "30.00") -> dict[str, Any]:
    return {"id": line_id, "order_id": order_id, "line_no": line_no, "sku": sku,
            "quantity": decimal(quantity, 3), "unit_price": decimal(unit_price, 2)}


def crm_product(sku: str, *, available: Decimal | str = "0", name: str = "Widget") -> dict[str, Any]:
    return {"sku": sku, "name": name, "list_price": decimal("30.00", 2), "available_qty": decimal(available, 3),
            "version": 1, "updated_at": "2026-03-10T06:00:00.000000Z"}


def erp_account(account_id: int, customer_number: str | None, *, name: str = "Harbour Trading",
                credit_limit: Decimal | str = "5000.00", blocked: bool = False) -> dict[str, Any]:
    return {"account_id": account_id, "account_code": f"AC-{account_id:06d}", "name": name, "email": None,
            "phone": None, "billing_line1": None, "billing_city": None, "billing_postal_code": None,
            "billing_country": None, "crm_customer_number": customer_number, "credit_limit": decimal(credit_limit, 2),
            "payment_terms": "NET30", "blocked": int(blocked), "active": 1, "version": 1,
            "created_at": _micros(T0), "updated_at": _micros(T0)}


def erp_order(order_id: int, crm_order_number: str | None, account_id: int, *, status: str = "reserved",
              total: Decimal | str = "120.00", order_no: str | None = None) -> dict[str, Any]:
    return {"order_id": order_id, "order_no": order_no or f"ORD{order_id:08d}", "account_id": account_id,
            "crm_order_number": crm_order_number, "status": status,
            "order_date": _local_millis(dt.datetime(2026, 3, 10, 14, 30)), "currency": "CNY",
            "total_amount": decimal(total, 2), "version": 1, "updated_at": _micros(T0)}


def erp_invoice(invoice_id: int, order_id: int, account_id: int, amount: Decimal | str, *,
                status: str = "open") -> dict[str, Any]:
    return {"invoice_id": invoice_id, "invoice_no": f"INV{invoice_id:06d}", "order_id": order_id,
            "account_id": account_id, "amount": decimal(amount, 2),
            "issued_at": _local_millis(dt.datetime(2026, 3, 11, 10, 0)), "due_date": 20_555, "status": status}


def erp_payment(payment_id: int, invoice_id: int, account_id: int, amount: Decimal | str) -> dict[str, Any]:
    return {"payment_id": payment_id, "invoice_id": invoice_id, "account_id": account_id,
            "amount": decimal(amount, 2), "paid_at": _local_millis(dt.datetime(2026, 3, 12, 9, 0))}


def erp_stock(sku: str, warehouse: str, on_hand: Decimal | str, reserved: Decimal | str = "0") -> dict[str, Any]:
    return {"sku": sku, "warehouse_code": warehouse, "on_hand": decimal(on_hand, 3),
            "reserved": decimal(reserved, 3), "version": 1}

