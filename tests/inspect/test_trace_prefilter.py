"""A trace decodes only records whose bytes can name the entity (nothing it would have found is skipped), and
fetches the sources of what it found by their lineage when they are older than its window."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical.lineage import Lineage
from streams.inspect import trace as tracing
from streams.inspect.decoding import Decoded, RawRecord, decode_record
from streams.inspect.trace import EntityMatcher, TraceModel, lineage_sources
from streams.mapping import load_mappings

STORE = SchemaStore.from_directory()
FIXTURES = Path(__file__).resolve().parents[1] / "codecs" / "fixtures"
CUSTOMERS, CONTACTS = ("crm", "customers"), ("crm", "contacts")


def _raw(value: bytes, key: bytes | None = None, topic: str = "t") -> RawRecord:
    return RawRecord(topic=topic, partition=0, offset=0, timestamp_ms=0, key=key, value=value)


def _debezium(row: dict[str, object]) -> bytes:
    source = {"connector": "mysql", "db": "erp", "table": "accounts"}
    return json.dumps({"schema": {"type": "struct", "fields": []},
                       "payload": {"before": None, "after": row, "op": "c", "ts_ms": 0, "source": source}}).encode()


def test_only_records_whose_bytes_name_the_entity_are_decoded() -> None:
    matcher = EntityMatcher(names=TraceModel.of(load_mappings()).names_for("C-000123"))
    records = {
        "avro, named in the value": _raw(STORE.encode("Customer", {"customer_number": "C-000123", "name": "Ada"})),
        "avro, named in the key only": _raw(STORE.encode("Customer", {"customer_number": "C-9", "name": "Ada"}),
                                            key=b"C-000123"),
        "debezium, another spelling": _raw(_debezium({"id": 1, "account_code": "AC-000123"}),
                                           topic="erp.erp.accounts"),
        "avro, another customer": _raw(STORE.encode("Customer", {"customer_number": "C-000124", "name": "Bob"}),
                                       key=b"C-000124"),
        "debezium, another customer": _raw(_debezium({"id": 2, "account_code": "AC-000124"}),
                                           topic="erp.erp.accounts"),
    }
    admitted = {label for label, raw in records.items() if matcher.may_name(raw)}
    assert admitted == {"avro, named in the value", "avro, named in the key only", "debezium, another spelling"}
    found = {label for label, raw in records.items() if matcher.matches(decode_record(raw, STORE))}
    assert found <= admitted, "a record the trace finds is never skipped undecoded"


def _change(table: str, op: str, row: Mapping[str, Any], *, compact: bool = True, offset: int = 0) -> RawRecord:
    """A Debezium record of the reference CRM's ``table`` in the shape Connect writes (the captured fixture's
    schemas), its JSON compact as JsonConverter writes it, or spaced as Python's json.dumps does."""
    shape = json.loads((FIXTURES / f"crm_{table}_{'u' if table == 'customers' else 'c'}_1.json").read_text())
    separators = (",", ":") if compact else (", ", ": ")
    key = {"schema": shape["key"]["schema"], "payload": {"id": row["id"]}}
    before, after = (row, None) if op == "d" else (None, row)
    value = {"schema": shape["value"]["schema"],
             "payload": {**shape["value"]["payload"], "op": op, "before": before, "after": after}}
    return RawRecord(topic=f"crm.crm.{table}", partition=0, offset=offset, timestamp_ms=offset,
                     key=json.dumps(key, separators=separators).encode(),
                     value=json.dumps(value, separators=separators).encode())


def _customer(customer_id: int, number: str, name: str = "Ada") -> dict[str, Any]:
    return {"id": customer_id, "customer_number": number, "name": name, "email": None, "phone": None,
            "erp_account_id": None, "credit_limit": "+w==", "payment_terms": None, "blocked": False,
            "open_balance": "AA==", "version": 1, "created_at": "2026-11-25T17:05:35.540343Z",
            "updated_at": "2026-11-25T17:05:35.540343Z"}


def _contact(contact_id: int, customer_id: int) -> dict[str, Any]:
    return {"id": contact_id, "customer_id": customer_id, "first_name": "Li", "last_name": "Wei", "email": None,
            "phone": None, "role": "buyer", "version": 1, "updated_at": "2026-11-25T17:05:41.258721Z"}


def _key_only(row: Mapping[str, Any]) -> dict[str, Any]:
    """A delete's before-image under PostgreSQL's default replica identity: the key, every other column as
    Debezium fills it (an optional one null, a text empty, a number 0, a time the epoch)."""
    blank = {"customer_id": 0, "first_name": "", "last_name": "", "role": None, "customer_number": "", "name": "",
             "credit_limit": None, "blocked": False, "open_balance": None, "version": 0,
             "created_at": "1970-01-01T00:00:00Z", "updated_at": "1970-01-01T00:00:00Z"}
    return {k: row[k] if k == "id" else blank.get(k) for k in row}


#: Customer 7 is C-000123; 17, 70 and 77 are others whose ids hold or start with its id's digits.
STREAM = [
    _change("customers", "c", _customer(70, "C-000700"), compact=False),
    _change("contacts", "c", _contact(1, 7)),  # refers to customer 7 before the customer is read: not found
    _change("customers", "c", _customer(7, "C-000123")),
    _change("customers", "c", _customer(17, "C-000170")),
    _change("customers", "u", _customer(77, "C-000770", name="Bo")),
    _change("contacts", "c", _contact(5, 7), compact=False),
    _change("contacts", "c", _contact(6, 17)),
    _change("contacts", "c", _contact(7, 70)),
    _change("contacts", "c", _contact(70, 77)),
    _change("customers", "u", _customer(70, "C-000700", name="Bo")),
    _change("contacts", "d", _key_only(_contact(5, 7))),  # a contact found by its customer's id is no row of it
    _change("contacts", "d", _key_only(_contact(6, 17)), compact=False),
    _change("customers", "d", _key_only(_customer(7, "C-000123"))),  # the customer's own delete: its id only
    _change("customers", "d", _key_only(_customer(77, "C-000770"))),
]


def _prefiltered(matcher: EntityMatcher, raws: Sequence[RawRecord]) -> tuple[list[int], list[int]]:
    """As a trace reads: the positions in ``raws`` of the records decoded, and of those found."""
    decoded, found = [], []
    for n, raw in enumerate(raws):
        table = CONTACTS if raw.topic == "crm.crm.contacts" else CUSTOMERS
        if matcher.may_name(raw) or matcher.may_hold_known_ids(raw, table):
            decoded.append(n)
            if matcher.matches(decode_record(raw, STORE)):
                found.append(n)
    return decoded, found


def test_later_changes_of_found_rows_and_rows_that_refer_to_them_are_told_by_their_bytes() -> None:
    model = TraceModel.of(load_mappings())
    every = EntityMatcher(names=("C-000123",), model=model)
    wanted = [n for n, raw in enumerate(STREAM) if every.matches(decode_record(raw, STORE))]
    assert wanted == [2, 5, 12], "the customer, its contact, and the customer's delete (by its id only)"
    decoded, found = _prefiltered(EntityMatcher(names=("C-000123",), model=model), STREAM)
    assert found == wanted, "nothing a trace that decodes every record finds is skipped undecoded"
    assert decoded == wanted, "no other customer's or contact's record is decoded, whatever its ids' digits"


def test_a_record_whose_bytes_cannot_tell_is_decoded() -> None:
    model = TraceModel(roots={}, references={}, row_keys={("shop", "orders"): ("id",)})
    matcher = EntityMatcher(names=("SO-1",), model=model, rows={("shop", "orders"): {("K-7",)}})
    order = RawRecord(topic="shop.orders", partition=0, offset=0, timestamp_ms=0, key=b'{"payload":{"id":"K-7"}}',
                      value=None)
    other = RawRecord(topic="shop.orders", partition=0, offset=1, timestamp_ms=0, value=None,
                      key=b'{"payload":{"id":"K-7-b"}}')
    assert matcher.may_hold_known_ids(order, ("shop", "orders"))
    assert not matcher.may_hold_known_ids(other, ("shop", "orders"))
    assert not matcher.may_hold_known_ids(order, ("shop", "lines")), "nothing known of a table: nothing decoded"
    decimal = EntityMatcher(names=("SO-1",), model=replace(model, unspelled_ids=frozenset({("shop", "orders")})),
                            rows={("shop", "orders"): {("7",)}})
    assert decimal.may_hold_known_ids(other, ("shop", "orders")), "a DECIMAL key is base64 in the bytes"
    escaped = EntityMatcher(names=("SO-1",), model=model, rows={("shop", "orders"): {('K"7',)}})
    assert escaped.may_hold_known_ids(other, ("shop", "orders")), "JSON escapes a quote: the bytes cannot tell"


def test_a_trace_decodes_only_what_can_belong_and_finds_what_decoding_everything_finds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan a user found slow: once customer 7 was found, every later customer and contact was decoded."""
    records = [RawRecord(topic=r.topic, partition=0, offset=n, timestamp_ms=n, key=r.key, value=r.value)
               for n, r in enumerate(STREAM * 20)]  # the stream again and again: the same rows changing

    def read(bootstrap: object, topics: Sequence[str], start: object, **_: object) -> Iterator[RawRecord]:
        return (r for r in records if r.topic in topics)

    decoded: list[RawRecord] = []

    def decode(raw: RawRecord, store: SchemaStore, systems: object = None) -> Decoded:
        decoded.append(raw)
        return decode_record(raw, store, systems)  # type: ignore[arg-type]

    monkeypatch.setattr(tracing, "read", read)
    monkeypatch.setattr(tracing, "spans", lambda *_: ({}, {}), raising=False)
    monkeypatch.setattr(tracing, "decode_record", decode)
    found = tracing.trace("unused:9092", "C-000123", STORE, topics=["crm.crm.customers", "crm.crm.contacts"])
    every = EntityMatcher(names=("C-000123", "AC-000123"), model=TraceModel.of(load_mappings()))
    wanted = [r for r in records if r.topic == "crm.crm.customers"] + [
        r for r in records if r.topic == "crm.crm.contacts"]  # the roots' topic is read first
    wanted = [r for r in wanted if every.matches(decode_record(r, STORE))]
    assert sorted(r.raw.offset for r in found) == sorted(r.offset for r in wanted)
    assert len(decoded) == len(wanted), f"decoded {len(decoded)} records to find {len(wanted)}"


def _canonical(offset: int, source_offset: int, topic: str = "crm.crm.customers") -> Decoded:
    lineage = Lineage(system="crm", table="customers", key='{"id":7}', change="c:1:customers:7",
                      commit_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), topic=topic, partition=0,
                      offset=source_offset, mapping_version="customer@abc")
    raw = RawRecord(topic="isthmus.canonical.customers", partition=0, offset=offset, timestamp_ms=0, key=b"C-000123",
                    value=b"", headers=tuple(lineage.headers().items()))
    return Decoded(raw=raw, kind="avro", key="C-000123", value={})


def test_sources_older_than_the_window_are_fetched_by_their_lineage() -> None:
    in_window = Decoded(raw=RawRecord(topic="crm.crm.customers", partition=0, offset=41, timestamp_ms=0, key=None,
                                      value=b""), kind="debezium", key=None, value={})
    found = [in_window, _canonical(5, 41), _canonical(6, 3), _canonical(7, 3), _canonical(8, 9, topic="elsewhere")]
    assert lineage_sources(found, ["crm.crm.customers", "isthmus.canonical.customers"]) == [
        ("crm.crm.customers", 0, 3)], "once each, not what was read, only in the traced topics"
    assert lineage_sources([in_window], ["crm.crm.customers"]) == [], "no lineage header, nothing to fetch"
