"""Realistic Debezium change records for the flow benchmark, generated from captured ones.

Each record is what Kafka Connect's JsonConverter (schemas enabled) writes for a Debezium change: the
Connect schema inline beside the payload. The schemas are the real ones, taken from the records captured
from the dev stack in ``tests/codecs/fixtures`` (their ``fixture_`` topic prefix replaced by the topic the
record goes to); the payloads are made here, varying keys and values per entity, in the formats those schemas
declare: NUMERIC as Connect's base64 Decimal, PostgreSQL ``timestamptz`` as ISO text with microseconds,
MariaDB ``DATETIME(6)`` as epoch microseconds, MariaDB booleans as 0/1.

This module imports nothing from ``streams``: a one-off comparison can load it by path and feed the same
records to another checkout of the flows (topic names are given by the caller, as the systems' files name
them).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "codecs" / "fixtures"
#: Commit time of the first generated change; every change is 1 ms after the one before.
START = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: (system, table) -> the captured record whose Connect schemas its records carry.
TEMPLATES = {
    ("crm", "customers"): "crm_customers_u_1",
    ("crm", "contacts"): "crm_contacts_c_1",
    ("crm", "addresses"): "crm_addresses_c_1",
    ("crm", "products"): "crm_products_c_1",
    ("crm", "sales_orders"): "crm_sales_orders_c_1",
    ("crm", "sales_order_lines"): "crm_sales_order_lines_c_1",
    ("erp", "sales_orders"): "erp_sales_orders_c_1",
    ("erp", "accounts"): "erp_accounts_u_1",
    ("erp", "stock"): "erp_stock_u_1",
}

TopicOf = Callable[[str, str], str]


def reference_topic(system: str, table: str) -> str:
    """The reference connectors' topic naming, ``<system>.<system>.<table>``."""
    return f"{system}.{system}.{table}"


@dataclass(frozen=True, slots=True)
class Change:
    """One generated record: ``kind`` names its place in the mix (the benchmark's per-type figures)."""

    kind: str
    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int
    #: A change of a transaction of several (:meth:`Debezium.transaction`): its END is ``end`` (on the last one),
    #: not one of its own.
    joined: bool = False
    #: The END that closes its transaction (:func:`end_of`), made with the change: of a change alone in its
    #: transaction, its own; of a joined one, on the last only.
    end: Change | None = None


def money(amount: Decimal, scale: int = 2) -> str:
    """A NUMERIC as Connect's Decimal writes it in JSON: base64 of the unscaled big-endian two's complement."""
    unscaled = int(amount.scaleb(scale).to_integral_value())
    size = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()


def _micros(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def _iso(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Template:
    """A captured record's key and value schemas as JSON text, renamed to ``topic``; a record is that text
    joined with its payload, so generating one costs a ``json.dumps`` of the payload alone."""

    def __init__(self, captured: Mapping[str, Any], topic: str) -> None:
        fixture_topic: str = captured["topic"]

        def renamed(schema: Any) -> str:
            return json.dumps(schema, separators=(",", ":")).replace(f'"{fixture_topic}.', f'"{topic}.')

        self.topic = topic
        self.key_fields = [f["field"] for f in captured["key"]["schema"]["fields"]]
        self._key_head = '{"schema":' + renamed(captured["key"]["schema"]) + ',"payload":'
        self._value_head = '{"schema":' + renamed(captured["value"]["schema"]) + ',"payload":'

    def key(self, row: Mapping[str, Any]) -> bytes:
        return (self._key_head + json.dumps({f: row[f] for f in self.key_fields}) + "}").encode()

    def value(self, payload: Mapping[str, Any]) -> bytes:
        return (self._value_head + json.dumps(payload) + "}").encode()


class Debezium:
    """Change records of the reference tables with increasing log positions and commit times: the CRM's as
    the PostgreSQL connector writes them (LSN, txId, microsecond times), the ERP's as the MariaDB one does
    (binlog file and position, GTID, whole-second commit times)."""

    def __init__(self, topic: TopicOf = reference_topic, fixtures: Path = FIXTURES) -> None:
        self._templates: dict[tuple[str, str], _Template] = {}
        for (system, table), name in TEMPLATES.items():
            captured = json.loads((fixtures / f"{name}.json").read_text(encoding="utf-8"))
            self._templates[(system, table)] = _Template(captured, topic(system, table))
        self.now = START
        self.lsn = 50_000_000
        self.tx = 1_000
        self.binlog_pos = 4_000

    def change(self, kind: str, system: str, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None, within: dict[str, Any] | None = None) -> Change:
        """One change of ``system.table``; ``before``/``after`` are payload rows in the schema's formats.
        ``within``: the transaction block to give it, one of a transaction begun by an earlier change."""
        template = self._templates[(system, table)]
        self.now += dt.timedelta(milliseconds=1)
        source, block = (self._postgresql if system == "crm" else self._mariadb)(system, table, op == "r")
        if within is not None and block is not None:
            block = dict(within)
            if "txId" in source:
                source["txId"] = int(block["id"].split(":", 1)[0])
        row = after if after is not None else before
        if row is None:
            raise ValueError(f"a change of {system}.{table} needs a before or an after image")
        payload = {"before": before, "after": after, "op": op, "source": source, "transaction": block,
                   "ts_ms": source["ts_ms"] + 5}
        made = Change(kind=kind, topic=template.topic, key=template.key(row), value=template.value(payload),
                      timestamp_ms=source["ts_ms"] + 5)
        if within is not None or block is None:
            return made
        # alone in its transaction (until transaction() joins it to others): its END made now, from what is at hand
        namespace = source.get("schema") or source["db"]
        return replace(made, end=_end(made, source, block["id"], {f"{namespace}.{table}": 1}))

    def transaction(self, system: str, changes: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[Change]:
        """Rows created in one source transaction of ``system``, each ``(kind, table, after)``: one transaction
        id, ``total_order`` 1, 2, …, and the END (counting each table's changes) carried by the last one."""
        made: list[Change] = []
        tx_id: str | None = None
        counts: Counter[str] = Counter()
        for total, (kind, table, after) in enumerate(changes, 1):
            counts[table] += 1
            within = None if tx_id is None else {"id": tx_id, "total_order": total,
                                                  "data_collection_order": counts[table]}
            made.append(self.change(kind, system, table, "c", after=after, within=within))
            tx_id = json.loads(made[-1].value)["payload"]["transaction"]["id"]
        assert tx_id is not None, "a transaction of no change"
        last = json.loads(made[-1].value)["payload"]
        namespace = last["source"].get("schema") or last["source"]["db"]
        end = _end(made[-1], last["source"], tx_id, {f"{namespace}.{table}": n for table, n in counts.items()})
        made = [replace(c, joined=True, end=None) for c in made]
        made[-1] = replace(made[-1], end=end)
        return made

    def _postgresql(self, system: str, table: str, snapshot: bool) -> tuple[dict[str, Any], Any]:
        self.lsn += 80
        self.tx += 1
        micros = _micros(self.now)
        source = {"connector": "postgresql", "db": system, "lsn": self.lsn, "name": system, "origin": None,
                  "origin_lsn": None, "schema": system, "sequence": f'[null,"{self.lsn}"]',
                  "snapshot": "true" if snapshot else "false", "table": table, "ts_ms": micros // 1000,
                  "ts_ns": micros * 1000, "ts_us": micros, "txId": self.tx, "version": "3.6.1.Final", "xmin": None}
        block = None if snapshot else {"id": f"{self.tx}:{self.lsn}", "total_order": 1, "data_collection_order": 1}
        return source, block

    def _mariadb(self, system: str, table: str, snapshot: bool) -> tuple[dict[str, Any], Any]:
        self.binlog_pos += 300
        seconds = int(self.now.timestamp())
        gtid = f"0-1-{self.binlog_pos}"
        source = {"connector": "mariadb", "db": system, "file": "binlog.000001", "gtid": None if snapshot else gtid,
                  "name": system, "pos": self.binlog_pos, "query": None, "row": 0, "sequence": None, "server_id": 1,
                  "snapshot": "true" if snapshot else "false", "table": table, "thread": None,
                  "ts_ms": seconds * 1000, "ts_ns": seconds * 10**9, "ts_us": seconds * 10**6,
                  "version": "3.5.0.Final"}
        return source, (None if snapshot else {"id": gtid, "total_order": 1, "data_collection_order": 1})


#: The record kinds of one customer's sync, in the order they arrive, with how many of each.
CUSTOMER_SYNC = (("crm customer create", 1), ("crm contact create", 2), ("crm address create", 2),
                 ("erp account echo", 1), ("crm customer link-back", 1))
CITIES = (("Shanghai", "200000", "CN"), ("Hamburg", "20095", "DE"), ("Lyon", "69001", "FR"),
          ("Austin", "78701", "US"), ("Osaka", "530-0001", "JP"))
TERMS = ("NET30", "NET60")


_END = {system: json.loads((FIXTURES / f"{system}_transaction_end_1.json").read_text(encoding="utf-8"))
        for system in ("crm", "erp")}


def end_of(change: Change) -> Change | None:
    """The END Connect writes on ``<prefix>.transaction`` after ``change``, alone in its transaction (None for a
    snapshot read, which has no transaction); of a change in a transaction of several, the END it closes (None
    before the last). The END was made with the change (:meth:`Debezium.change`): reading it back from the change's
    JSON here cost ~600,000 instructions a change, which the handler's instruction counts (feed minus generate-only)
    took for the handler's (BENCHMARKS.md, "Session of 2026-12-07, seventh"); a change made otherwise is read."""
    if change.joined or change.end is not None:
        return change.end
    payload = json.loads(change.value)["payload"]
    block = payload.get("transaction")
    if block is None:
        return None
    source = payload["source"]
    return _end(change, source, block["id"], {f"{source.get('schema') or source['db']}.{source['table']}": 1})


def _end(change: Change, source: Mapping[str, Any], tx_id: str, counts: Mapping[str, int]) -> Change:
    prefix = change.topic.split(".", 1)[0]
    shape = _END["crm" if source["connector"] == "postgresql" else "erp"]
    key = {"schema": shape["key"]["schema"], "payload": {"id": tx_id}}
    value = {"schema": shape["value"]["schema"], "payload": {
        "status": "END", "id": tx_id, "ts_ms": source["ts_ms"], "event_count": sum(counts.values()),
        "data_collections": [{"data_collection": name, "event_count": n} for name, n in counts.items()]}}
    compact = (",", ":")  # as Connect's JsonConverter writes it
    return Change(kind=change.kind, topic=f"{prefix}.transaction", key=json.dumps(key, separators=compact).encode(),
                  value=json.dumps(value, separators=compact).encode(), timestamp_ms=change.timestamp_ms)


def customer_sync(cdc: Debezium, customers: int, *, first: int = 1, one_transaction: bool = False) -> Iterator[Change]:
    """The sync of ``customers`` new CRM customers, each as the customer flow sees it: the customer's insert,
    its two contacts and its two addresses (billing, shipping), the ERP account the flow's create made
    (carrying ``crm_customer_number``), and the CRM update that links the customer to that account.

    ``one_transaction``: the insert, contacts and addresses in one CRM transaction (one END counting the three
    tables), as the reference CRM's API writes a customer created with them; else each in a transaction of its
    own (the flow decides after each, the ERP gets a create and then an update)."""
    for n in range(first, first + customers):
        number = f"C-{n:07d}"
        city, postal_code, country = CITIES[n % len(CITIES)]
        name, email, phone = f"Customer {n} GmbH", f"billing{n}@example.com", f"+49-40-{n:07d}"
        credit_limit, terms = Decimal(1000 + n % 50 * 500), TERMS[n % len(TERMS)]
        created = _iso(cdc.now)
        customer = {"id": n, "customer_number": number, "name": name, "email": email, "phone": phone,
                    "erp_account_id": None, "credit_limit": money(credit_limit), "payment_terms": terms,
                    "blocked": False, "open_balance": "AA==", "version": 1, "created_at": created,
                    "updated_at": created}
        rows: list[tuple[str, str, Mapping[str, Any]]] = [("crm customer create", "customers", customer)]
        for c in range(2):
            contact = {"id": 2 * n + c, "customer_id": n, "first_name": ("Anna", "Wei")[c],
                       "last_name": f"Contact{n}", "email": f"contact{c}.{n}@example.com",
                       "phone": None if c else phone, "role": ("buyer", "accounting")[c], "version": 1,
                       "updated_at": _iso(cdc.now)}
            rows.append(("crm contact create", "contacts", contact))
        for a, kind in enumerate(("billing", "shipping")):
            address = {"id": 2 * n + a, "customer_id": n, "kind": kind, "line1": f"{n % 900 + 1} Harbour Road",
                       "line2": None if a == 0 else f"Dock {a}", "city": city, "postal_code": postal_code,
                       "country": country, "version": 1, "updated_at": _iso(cdc.now)}
            rows.append(("crm address create", "addresses", address))
        if one_transaction:
            yield from cdc.transaction("crm", rows)
        else:
            for kind, table, after in rows:
                yield cdc.change(kind, "crm", table, "c", after=after)
        at = _micros(cdc.now)
        account = {"account_id": n, "account_code": f"AC-{n:07d}", "name": name, "email": email, "phone": phone,
                   "billing_line1": f"{n % 900 + 1} Harbour Road", "billing_city": city,
                   "billing_postal_code": postal_code, "billing_country": country, "crm_customer_number": number,
                   "credit_limit": money(credit_limit), "payment_terms": terms, "blocked": 0, "active": 1,
                   "version": 1, "created_at": at, "updated_at": at}
        yield cdc.change("erp account echo", "erp", "accounts", "c", after=account)
        linked = {**customer, "erp_account_id": n, "version": 2, "updated_at": _iso(cdc.now)}
        yield cdc.change("crm customer link-back", "crm", "customers", "u", before=customer, after=linked)


def customer_sync_in_transactions(cdc: Debezium, customers: int, *, first: int = 1) -> Iterator[Change]:
    """:func:`customer_sync` with each customer's insert, contacts and addresses in one CRM transaction."""
    return customer_sync(cdc, customers, first=first, one_transaction=True)


#: The record kinds of one SKU's stock changes, in the order they arrive, with how many of each.
STOCK_CHANGES = (("crm product create", 1), ("erp stock create", 2), ("erp stock reservation", 1),
                 ("crm product availability echo", 1))


def stock_changes(cdc: Debezium, skus: int, *, first: int = 1) -> Iterator[Change]:
    """The stock of ``skus`` products: the CRM product's insert (nothing available yet), its stock arriving in
    two ERP warehouses, a reservation in the first, and the CRM product update the flow's availability
    command made (the sum over both warehouses of on hand minus reserved)."""
    for n in range(first, first + skus):
        sku = f"SKU-{n:07d}"
        on_hand = [Decimal(10 + n % 90), Decimal(5 + n % 40)]
        reserved = Decimal(n % 7)
        product = {"sku": sku, "name": f"Product {n}", "list_price": money(Decimal(n % 500) + Decimal("9.99")),
                   "available_qty": money(Decimal(0), 3), "version": 1, "updated_at": _iso(cdc.now)}
        yield cdc.change("crm product create", "crm", "products", "c", after=product)
        rows = []
        for w, qty in enumerate(on_hand):
            row = {"sku": sku, "warehouse_code": f"WH{w + 1}", "on_hand": money(qty, 3),
                   "reserved": money(Decimal(0), 3), "version": 1}
            rows.append(row)
            yield cdc.change("erp stock create", "erp", "stock", "c", after=row)
        reserving = {**rows[0], "reserved": money(reserved, 3), "version": 2}
        yield cdc.change("erp stock reservation", "erp", "stock", "u", before=rows[0], after=reserving)
        echoed = {**product, "available_qty": money(sum(on_hand) - reserved, 3), "version": 2,
                  "updated_at": _iso(cdc.now)}
        yield cdc.change("crm product availability echo", "crm", "products", "u", before=product, after=echoed)


#: The record kinds of one order's changes, in the order they arrive, with how many of each.
ORDER_CHANGES = (("crm customer create", 1), ("erp account echo", 1), ("crm order create", 1),
                 ("crm order line create", 2), ("erp order echo", 1))


def order_changes(cdc: Debezium, orders: int, *, first: int = 1) -> Iterator[Change]:
    """``orders`` CRM orders, each as the orders flow sees it: its customer's insert and the ERP account echo (the
    party, known in both systems), the order submitted with its two lines in one CRM transaction, and the ERP
    order the flow's create made (carrying ``crm_order_number``, status reserved)."""
    for n in range(first, first + orders):
        customer, number = f"C-{n:07d}", f"SO-{n:07d}"
        created = _iso(cdc.now)
        yield cdc.change("crm customer create", "crm", "customers", "c", after={
            "id": n, "customer_number": customer, "name": f"Customer {n} GmbH", "email": f"billing{n}@example.com",
            "phone": None, "erp_account_id": None, "credit_limit": money(Decimal(5000)), "payment_terms": "NET30",
            "blocked": False, "open_balance": "AA==", "version": 1, "created_at": created, "updated_at": created})
        at = _micros(cdc.now)
        yield cdc.change("erp account echo", "erp", "accounts", "c", after={
            "account_id": n, "account_code": f"AC-{n:07d}", "name": f"Customer {n} GmbH",
            "email": f"billing{n}@example.com", "phone": None, "billing_line1": None, "billing_city": None,
            "billing_postal_code": None, "billing_country": None, "crm_customer_number": customer,
            "credit_limit": money(Decimal(5000)), "payment_terms": "NET30", "blocked": 0, "active": 1, "version": 1,
            "created_at": at, "updated_at": at})
        quantities, price = (Decimal(1 + n % 5), Decimal(2)), Decimal(n % 200) + Decimal("4.50")
        total = sum(quantities) * price
        ordered = _iso(cdc.now)
        header = {"id": n, "order_number": number, "customer_id": n, "status": "submitted", "currency": "EUR",
                  "total_amount": money(total), "erp_order_id": None, "ordered_at": ordered, "version": 1,
                  "updated_at": ordered}
        lines = [("crm order line create", "sales_order_lines", {
            "id": 2 * n + i, "order_id": n, "line_no": i + 1, "sku": f"SKU-{(n + i) % 1000:07d}",
            "quantity": money(q, 3), "unit_price": money(price)}) for i, q in enumerate(quantities)]
        yield from cdc.transaction("crm", [("crm order create", "sales_orders", header), *lines])
        yield cdc.change("erp order echo", "erp", "sales_orders", "c", after={
            "order_id": n, "order_no": f"EO-{n:07d}", "account_id": n, "crm_order_number": number,
            "status": "reserved", "order_date": _micros(cdc.now) // 1000, "currency": "EUR",
            "total_amount": money(total), "version": 1, "updated_at": _micros(cdc.now)})
