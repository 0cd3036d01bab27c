"""A trace decodes only records whose bytes can name the entity: nothing it would have found is skipped."""

from __future__ import annotations

import json

from streams.codecs.avro.single_object import SchemaStore
from streams.inspect.decoding import Decoded, RawRecord, decode_record
from streams.inspect.trace import EntityMatcher, TraceModel
from streams.mapping import load_mappings

STORE = SchemaStore.from_directory()


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


def test_rows_that_refer_to_found_ids_are_decoded_once_ids_are_known() -> None:
    matcher = EntityMatcher(names=("C-000123",), model=TraceModel.of(load_mappings()))
    assert not matcher.refers_to_known_ids
    customer = Decoded(raw=_raw(b"{}"), kind="debezium", key=None, system="crm", table="customers",
                       value={"before": None, "after": {"id": 7, "customer_number": "C-000123"}})
    assert matcher.matches(customer)
    assert matcher.refers_to_known_ids, "contacts of customer 7 carry only its id: they must be decoded"
