"""Debezium records of the CRM and ERP tables the customer flow reads, and a model of both systems.

Records are built in the exact shape the dev Connect writes (the Connect schemas are taken from the captured
fixtures in tests/codecs/fixtures), with real topic names and increasing log positions. :class:`Systems`
keeps the rows of both databases, applies commands the way the sinks' routes (targets/*.yaml) and the
reference APIs do, and returns the change events those writes cause: the echoes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from reference.topics import CRM_ADDRESSES, CRM_CONTACTS, CRM_CUSTOMERS, ERP_ACCOUNTS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.engine.local import Emitted

FIXTURES = Path(__file__).resolve().parents[2] / "codecs" / "fixtures"
T0 = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


SHAPES = {
    CRM_CUSTOMERS: _captured("crm_customers_u_1"),
    CRM_ADDRESSES: _captured("crm_addresses_c_1"),
    CRM_CONTACTS: _captured("crm_contacts_c_1"),
    ERP_ACCOUNTS: _captured("erp_accounts_u_1"),
}


def money(value: Decimal | None) -> str | None:
    """A NUMERIC(14,2) as Connect's Decimal writes it: base64 of the unscaled two's complement."""
    if value is None:
        return None
    unscaled = int(value.scaleb(2).to_integral_value())
    size = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()


def unmoney(text: str | None) -> Decimal | None:
    """The amount :func:`money` encoded."""
    if text is None:
        return None
    return Decimal(int.from_bytes(base64.b64decode(text), "big", signed=True)).scaleb(-2)


def _micros(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


@dataclass
class Cdc:
    """Change records with increasing positions; the CRM's commit times in microseconds, the ERP's in whole
    seconds (MariaDB's binlog resolution)."""

    now: dt.datetime = T0
    lsn: int = 50_000_000
    tx: int = 900
    binlog_pos: int = 4_000

    def tick(self, seconds: float = 1.0) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def _source(self, topic: str, table: str, at: dt.datetime, snapshot: str | None) -> tuple[dict[str, Any], Any]:
        """``snapshot``: a read's ``source.snapshot`` mark (``true``, ``last``, ...); None for a streamed change."""
        if topic.startswith("crm."):
            self.lsn += 80
            self.tx += 1
            micros = _micros(at)
            source = {"connector": "postgresql", "db": "crm", "lsn": self.lsn, "name": "crm", "origin": None,
                      "origin_lsn": None, "schema": "crm", "sequence": f'[null,"{self.lsn}"]',
                      "snapshot": snapshot or "false", "table": table, "ts_ms": micros // 1000,
                      "ts_ns": micros * 1000, "ts_us": micros, "txId": self.tx, "version": "3.6.1.Final",
                      "xmin": None}
            block = None if snapshot else {"id": f"{self.tx}:{self.lsn}", "total_order": 1,
                                           "data_collection_order": 1}
            return source, block
        self.binlog_pos += 300
        seconds = int(at.timestamp())
        gtid = f"0-1-{self.binlog_pos}"
        source = {"connector": "mariadb", "db": "erp", "file": "binlog.000001", "gtid": None if snapshot else gtid,
                  "name": "erp", "pos": self.binlog_pos, "query": None, "row": 0, "sequence": None,
                  "server_id": 1, "snapshot": snapshot or "false", "table": table,
                  "thread": None, "ts_ms": seconds * 1000, "ts_ns": seconds * 10**9, "ts_us": seconds * 10**6,
                  "version": "3.5.0.Final"}
        return source, (None if snapshot else {"id": gtid, "total_order": 1, "data_collection_order": 1})

    def record(self, topic: str, op: str, *, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
               at: dt.datetime | None = None, snapshot: str = "true") -> tuple[str, bytes, bytes]:
        """(topic, key, value) of one change; ``before``/``after`` are payload rows (see the *_row helpers);
        ``snapshot``: a read's mark (``last``: the snapshot's last read, which ends it)."""
        shape = SHAPES[topic]
        table = topic.rpartition(".")[2]
        source, block = self._source(topic, table, at or self.now, snapshot=snapshot if op == "r" else None)
        row = after if after is not None else before
        assert row is not None
        key_field = shape["key"]["schema"]["fields"][0]["field"]
        key = {"schema": {**shape["key"]["schema"], "name": f"{topic}.Key"}, "payload": {key_field: row[key_field]}}
        payload = {"before": dict(before) if before is not None else None,
                   "after": dict(after) if after is not None else None, "op": op, "source": source,
                   "transaction": block, "ts_ms": source["ts_ms"] + 5}
        value = {"schema": shape["value"]["schema"], "payload": payload}
        return topic, json.dumps(key).encode(), json.dumps(value).encode()


def crm_customer_row(number: str, customer_id: int, *, name: str, email: str | None = None,
                     phone: str | None = None, erp_account_id: int | None = None,
                     credit_limit: Decimal | None = None, payment_terms: str | None = None,
                     blocked: bool = False) -> dict[str, Any]:
    return {"id": customer_id, "customer_number": number, "name": name, "email": email, "phone": phone,
            "erp_account_id": erp_account_id, "credit_limit": money(credit_limit), "payment_terms": payment_terms,
            "blocked": blocked, "open_balance": "AA==", "version": 1, "created_at": "2026-03-10T06:00:00.000000Z",
            "updated_at": "2026-03-10T06:00:00.000000Z"}


def crm_address_row(address_id: int, customer_id: int, *, kind: str = "billing", line1: str = "1 Harbour Road",
                    line2: str | None = None, city: str = "Shanghai", postal_code: str | None = "200000",
                    country: str = "CN") -> dict[str, Any]:
    return {"id": address_id, "customer_id": customer_id, "kind": kind, "line1": line1, "line2": line2,
            "city": city, "postal_code": postal_code, "country": country, "version": 1,
            "updated_at": "2026-03-10T06:00:00.000000Z"}


def crm_contact_row(contact_id: int, customer_id: int, *, first_name: str = "Li", last_name: str = "Wei",
                    email: str | None = None, phone: str | None = None, role: str | None = "buyer") -> dict[str, Any]:
    return {"id": contact_id, "customer_id": customer_id, "first_name": first_name, "last_name": last_name,
            "email": email, "phone": phone, "role": role, "version": 1, "updated_at": "2026-03-10T06:00:00.000000Z"}


def key_only(row: Mapping[str, Any]) -> dict[str, Any]:
    """The before-image PostgreSQL's default replica identity gives a delete: the key, the rest defaults."""
    blank = {k: ("" if isinstance(v, str) else 0 if isinstance(v, int) and not isinstance(v, bool) else None)
             for k, v in row.items()}
    return {**blank, "id": row["id"], "version": 1, "updated_at": "1970-01-01T00:00:00.000000Z"}


def erp_account_row(account_id: int, *, crm_customer_number: str | None, name: str, account_code: str | None = None,
                    email: str | None = None, phone: str | None = None, billing_line1: str | None = None,
                    billing_city: str | None = None, billing_postal_code: str | None = None,
                    billing_country: str | None = None, credit_limit: Decimal = Decimal("0.00"),
                    payment_terms: str = "NET30", blocked: bool = False, active: bool = True) -> dict[str, Any]:
    return {"account_id": account_id, "account_code": account_code or f"AC{account_id:06d}", "name": name,
            "email": email, "phone": phone, "billing_line1": billing_line1, "billing_city": billing_city,
            "billing_postal_code": billing_postal_code, "billing_country": billing_country,
            "crm_customer_number": crm_customer_number, "credit_limit": money(credit_limit),
            "payment_terms": payment_terms, "blocked": int(blocked), "active": int(active), "version": 1,
            "created_at": 1_773_122_400_000_000, "updated_at": 1_773_122_400_000_000}


@dataclass(frozen=True, kw_only=True)
class Sent:
    """A command the flow emitted, decoded."""

    topic: str
    key: str
    record: Mapping[str, Any]
    payload: Mapping[str, Any]

    @property
    def route(self) -> tuple[str, str]:
        return self.record["payload_type"].rpartition(".")[2], self.record["operation"]

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(self.record["changed_fields"])


def decode_commands(emitted: list[Emitted], schemas: SchemaStore) -> list[Sent]:
    sent = []
    for out in emitted:
        if out.topic.startswith("isthmus.commands."):
            assert out.value is not None and out.key is not None
            record = schemas.decode(out.value, "isthmus.canonical.Command").value
            sent.append(Sent(topic=out.topic, key=out.key.decode(), record=record,
                             payload=json.loads(record["payload"])))
    return sent


def decode_topic(emitted: list[Emitted], topic: str, schemas: SchemaStore) -> list[Mapping[str, Any]]:
    return [schemas.decode(out.value).value for out in emitted if out.topic == topic and out.value is not None]


ACCOUNT_BODY = {"name": "name", "email": "email", "phone": "phone", "billing_line1": "billing_address.line1",
                "billing_city": "billing_address.city", "billing_postal_code": "billing_address.postal_code",
                "billing_country": "billing_address.country", "credit_limit": "credit_limit",
                "payment_terms": "payment_terms", "blocked": "blocked", "active": "active"}
CUSTOMER_BODY = {"name": "name", "email": "email", "phone": "phone", "erp_account_id": "erp_account_id",
                 "credit_limit": "credit_limit",
                 "payment_terms": "payment_terms", "blocked": "blocked", "open_balance": "open_balance"}


def _get(payload: Mapping[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


#: The columns the update routes send a null for (``keep_null`` in targets/erp.yaml and targets/crm.yaml).
ACCOUNT_CLEARS = frozenset({"email", "phone", "billing_line1", "billing_city", "billing_postal_code",
                            "billing_country"})
CUSTOMER_CLEARS = frozenset({"email", "phone", "credit_limit", "payment_terms"})


def _body(spec: Mapping[str, str], payload: Mapping[str, Any], changed: tuple[str, ...],
          clears: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What a route sends: non-null values (and nulls of the ``clears`` columns), only of the changed fields
    when the command lists any."""
    body = {}
    for column, path in spec.items():
        if changed and path.split(".")[0] not in changed:
            continue
        value = _get(payload, path)
        if value is not None or column in clears:
            body[column] = value
    return body


def _erp_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column == "credit_limit":
        return money(Decimal(str(value)))
    if column in ("blocked", "active"):
        return int(bool(value))
    return value


def _crm_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    return money(Decimal(str(value))) if column in ("credit_limit", "open_balance") else value


@dataclass
class Systems:
    """Both databases as rows, changed by users (the *_edit methods) or by commands (:meth:`apply`); every
    change returns the (topic, key, value) of the change event it causes."""

    cdc: Cdc = field(default_factory=Cdc)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    addresses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_customer_id: int = 100
    next_account_id: int = 700
    next_row_id: int = 3000

    def crm_create(self, number: str, **values: Any) -> tuple[str, bytes, bytes]:
        self.next_customer_id += 1
        row = crm_customer_row(number, self.next_customer_id, **values)
        self.customers[number] = row
        return self.cdc.record(CRM_CUSTOMERS, "c", before=None, after=row, at=self.cdc.tick(0.001))

    def crm_edit(self, number: str, **values: Any) -> tuple[str, bytes, bytes]:
        before = self.customers[number]
        after = {**before, **{k: _crm_value(k, v) for k, v in values.items()}, "version": before["version"] + 1}
        self.customers[number] = after
        return self.cdc.record(CRM_CUSTOMERS, "u", before=before, after=after, at=self.cdc.tick(0.001))

    def crm_delete(self, number: str) -> tuple[str, bytes, bytes]:
        before = self.customers.pop(number)
        return self.cdc.record(CRM_CUSTOMERS, "d", before=before, after=None, at=self.cdc.tick(0.001))

    def crm_address(self, number: str, kind: str = "billing", **values: Any) -> tuple[str, bytes, bytes]:
        """Create or change the customer's address of ``kind``."""
        before = self.addresses.get((number, kind))
        if before is None:
            self.next_row_id += 1
            after = crm_address_row(self.next_row_id, self.customers[number]["id"], kind=kind, **values)
        else:
            after = {**before, **values, "version": before["version"] + 1}
        self.addresses[(number, kind)] = after
        # addresses keep the default replica identity: an update carries no before-image
        return self.cdc.record(CRM_ADDRESSES, "c" if before is None else "u", before=None, after=after,
                               at=self.cdc.tick(0.001))

    def crm_address_delete(self, number: str, kind: str = "billing") -> tuple[str, bytes, bytes]:
        before = self.addresses.pop((number, kind))
        return self.cdc.record(CRM_ADDRESSES, "d", before=key_only(before), after=None, at=self.cdc.tick(0.001))

    def crm_contact(self, number: str, contact_id: int | None = None, **values: Any) -> tuple[str, bytes, bytes]:
        """Create a contact (``contact_id`` None) or change one."""
        if contact_id is None:
            self.next_row_id += 1
            after = crm_contact_row(self.next_row_id, self.customers[number]["id"], **values)
            op = "c"
        else:
            after = {**self.contacts[contact_id], **values}
            op = "u"
        self.contacts[after["id"]] = after
        return self.cdc.record(CRM_CONTACTS, op, before=None, after=after, at=self.cdc.tick(0.001))

    def crm_contact_delete(self, contact_id: int) -> tuple[str, bytes, bytes]:
        before = self.contacts.pop(contact_id)
        return self.cdc.record(CRM_CONTACTS, "d", before=key_only(before), after=None, at=self.cdc.tick(0.001))

    def erp_edit(self, number: str, **values: Any) -> tuple[str, bytes, bytes]:
        before = self.accounts[number]
        after = {**before, **{k: _erp_value(k, v) for k, v in values.items()}, "version": before["version"] + 1}
        self.accounts[number] = after
        return self.cdc.record(ERP_ACCOUNTS, "u", before=before, after=after, at=self.cdc.tick(1))

    def erp_create(self, number: str, **values: Any) -> tuple[str, bytes, bytes]:
        self.next_account_id += 1
        row = erp_account_row(self.next_account_id, crm_customer_number=number, **values)
        self.accounts[number] = row
        return self.cdc.record(ERP_ACCOUNTS, "c", before=None, after=row, at=self.cdc.tick(1))

    def erp_delete(self, number: str) -> tuple[str, bytes, bytes]:
        before = self.accounts.pop(number)
        return self.cdc.record(ERP_ACCOUNTS, "d", before=before, after=None, at=self.cdc.tick(1))

    def apply(self, sent: Sent) -> list[tuple[str, bytes, bytes]]:
        """Apply a command as its route does; returns the change event it causes (none for a no-op)."""
        number = sent.key
        payload = sent.payload
        match sent.route:
            case ("Account", "create"):
                body = _body(ACCOUNT_BODY, payload, ())
                body.pop("active", None)
                return [self.erp_create(number, account_code=payload["account_code"],
                                        **{k: (Decimal(str(v)) if k == "credit_limit" else v)
                                           for k, v in body.items()})]
            case ("Account", "update"):
                return [self.erp_edit(number, **_body(ACCOUNT_BODY, payload, sent.changed, ACCOUNT_CLEARS))]
            case ("Account", "deactivate"):
                if not self.accounts[number]["active"]:
                    return []
                return [self.erp_edit(number, active=False)]
            case ("CustomerAccountXref", "update"):
                return [self.crm_edit(number, erp_account_id=payload["erp_account_id"])]
            case ("Customer", "update"):
                return [self.crm_edit(number, **_body(CUSTOMER_BODY, payload, sent.changed, CUSTOMER_CLEARS))]
        raise AssertionError(f"no route for {sent.route}")

    def crm_view(self, number: str) -> dict[str, Any]:
        row = self.customers[number]
        return {"erp_account_id": row["erp_account_id"], "credit_limit": row["credit_limit"],
                "payment_terms": row["payment_terms"], "blocked": row["blocked"]}


