"""A trace decodes only records whose bytes can name the entity (nothing it would have found is skipped), and
fetches the sources of what it found by their lineage when they are older than its window."""

from __future__ import annotations

import datetime as dt
import json

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical.lineage import Lineage
from streams.inspect.decoding import Decoded, RawRecord, decode_record
from streams.inspect.trace import EntityMatcher, TraceModel, lineage_sources
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
