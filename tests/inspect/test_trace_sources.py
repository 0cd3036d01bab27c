"""A trace reads the CDC topic of every table a mapping reads, and a row belongs to the traced entity when the
mapping's key binding makes the entity's key of it: also in a setup where no ``lookup:`` targets any column (the
``vertrieb`` CRM beside the ERP, kept in ``vertrieb/`` as a new user wrote it), and when the key is not a column
as it is (a transform, an expression, a number)."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from streams.catalog.columns_file import read_all
from streams.codecs.avro.single_object import SchemaStore
from streams.inspect import trace as trace_module
from streams.inspect.decoding import Decoded, RawRecord
from streams.inspect.reader import StartAt
from streams.inspect.trace import EntityMatcher, TraceModel, trace
from streams.mapping import MAPPINGS_DIR, RecordMapping, load_mappings
from streams.mapping.expressions import compile_expression
from streams.mapping.spec import FieldBinding
from streams.systems import Systems, load_systems

pytestmark = pytest.mark.unit

STORE = SchemaStore.from_directory()
VERTRIEB = Path(__file__).parent / "vertrieb"
KUNDEN, ACCOUNTS = "vertrieb.vertrieb.kunden", "erp.erp.accounts"


def _setup(mappings: Path = VERTRIEB / "mappings",
           tables: Path = VERTRIEB / "systems") -> tuple[Systems, dict[str, RecordMapping]]:
    systems = load_systems(tables, env={})
    return systems, load_mappings(mappings, schemas=STORE.schemas, systems=systems, tables=read_all(tables))


#: A Decimal of scale 0 as the JsonConverter describes it (a ``BIGINT UNSIGNED`` sent precise); its value: base64.
DECIMAL = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
           "parameters": {"scale": "0", "connect.decimal.precision": "20"}}


def _struct(values: Mapping[str, Any], field: str | None = None, decimals: frozenset[str] = frozenset()) -> dict[
        str, Any]:
    """The Kafka Connect schema of a flat row of texts and integers (what the JsonConverter writes beside it), the
    columns ``decimals`` Decimals of scale 0."""
    fields = [{**DECIMAL, "field": name} if name in decimals else
              {"type": "int64" if isinstance(v, int) else "string", "optional": True, "field": name}
              for name, v in values.items()]
    return {"type": "struct", "fields": fields, "optional": True, **({"field": field} if field else {})}


def _change(topic: str, offset: int, key: dict[str, Any], row: dict[str, Any], op: str = "c",
            before: dict[str, Any] | None = None, decimals: frozenset[str] = frozenset()) -> RawRecord:
    """A Debezium change event as the JsonConverter writes it, schema included (a delete's ``row`` gives the
    schema only: its after-image is null); the columns ``decimals`` are Decimals (their values base64)."""
    system, db, table = topic.split(".")
    source = {"connector": "mariadb", "name": system, "db": db, "table": table, "ts_ms": offset}
    schema = {"type": "struct", "fields": [_struct(row, "before", decimals), _struct(row, "after", decimals),
                                           _struct(source, "source"),
                                           {"type": "string", "optional": False, "field": "op"},
                                           {"type": "int64", "optional": True, "field": "ts_ms"}]}
    value = {"schema": schema,
             "payload": {"before": before, "after": None if op == "d" else row, "op": op, "ts_ms": offset,
                         "source": source}}
    return RawRecord(topic=topic, partition=0, offset=offset, timestamp_ms=offset,
                     key=json.dumps({"schema": _struct(key, decimals=decimals), "payload": key}).encode(),
                     value=json.dumps(value).encode())


def _kunde(offset: int, number: str, firma: str, **more: Any) -> RawRecord:
    return _change(KUNDEN, offset, {"kd_nr": number},
                   {"kd_nr": number, "firma": firma, "kreditrahmen": "500.00", "aktiv": 1, **more})


def _traced(monkeypatch: pytest.MonkeyPatch, records: Sequence[RawRecord], entity: str,
            systems: Systems, mappings: dict[str, RecordMapping]) -> list[Decoded]:
    """``trace`` over ``records`` as if they were the topics' contents (no broker)."""
    groups: list[list[str]] = []

    def read(bootstrap: object, topics: Sequence[str], start: StartAt, **_: object) -> Iterator[RawRecord]:
        groups.append(list(topics))
        return iter([r for r in records if r.topic in topics])

    monkeypatch.setattr(trace_module, "read", read)
    monkeypatch.setattr(trace_module, "spans", lambda *_: ({}, {}))
    present = {KUNDEN, ACCOUNTS, "isthmus.dlq", "isthmus.commands.erp"}
    found = trace("unused:9092", entity, STORE, existing=present, systems=systems, mappings=mappings)
    assert groups and set(groups[0]) >= {KUNDEN, ACCOUNTS}, "the source tables are read first, as roots"
    return found


def test_every_table_a_mapping_reads_is_traced_also_with_no_lookup() -> None:
    systems, mappings = _setup()
    model = TraceModel.of(mappings)
    assert set(model.root_topics(systems)) == {KUNDEN, ACCOUNTS}
    assert model.default_topics(systems)[:2] == model.root_topics(systems)
    reference = TraceModel.of(load_mappings())
    systems = load_systems()
    read = reference.default_topics(systems)
    tables = {systems[m.system].topic(m.table) for mapping in load_mappings().values() for m in mapping.sources
              if m.system and m.table}
    assert tables <= set(read), "every table a mapping reads, not only those a look-up names"
    roots = reference.root_topics(systems)
    assert "crm.crm.addresses" not in roots, "a table keyed only through a look-up is read after the roots"
    assert read.index("crm.crm.addresses") > max(read.index(t) for t in roots)


def test_a_trace_finds_the_source_rows_of_a_flow_without_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    systems, mappings = _setup()
    records = [
        _kunde(1, "K-0003", "Acme GmbH"),
        _kunde(2, "K-0004", "Beta AG", notizen="not K-00031"),
        _change(KUNDEN, 3, {"kd_nr": "K-0003"}, {"kd_nr": "K-0003", "firma": "Acme AG"}, op="u",
                before={"kd_nr": "K-0003", "firma": "Acme GmbH"}),
        _change(ACCOUNTS, 4, {"account_id": 7}, {"account_id": 7, "account_code": "K-0003", "name": "Acme AG"}),
        _change(ACCOUNTS, 5, {"account_id": 8}, {"account_id": 8, "account_code": "K-0004", "name": "Beta AG"}),
    ]
    found = _traced(monkeypatch, records, "K-0003", systems, mappings)
    assert [(r.raw.topic, r.raw.offset) for r in found] == [(KUNDEN, 1), (KUNDEN, 3), (ACCOUNTS, 4)]
    assert {(r.kind, r.system, r.table) for r in found} == {("debezium", "vertrieb", "kunden"),
                                                            ("debezium", "erp", "accounts")}


def test_a_key_a_transform_makes_is_found_though_the_row_does_not_spell_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for path in (VERTRIEB / "mappings").glob("*.yaml"):  # kd_nr holds "0003", the customer number is "K-0003"
        text = path.read_text(encoding="utf-8").replace(
            "customer_number: kd_nr", 'customer_number: {from: kd_nr, transform: [{add_prefix: "K-"}]}')
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    systems, mappings = _setup(tmp_path)
    assert TraceModel.of(mappings).unspelled_topics(systems) == (KUNDEN,), "its rows are all decoded"
    records = [_kunde(1, "0003", "Acme GmbH"), _kunde(2, "0004", "Beta AG")]
    found = _traced(monkeypatch, records, "K-0003", systems, mappings)
    assert [(r.raw.topic, r.raw.offset) for r in found] == [(KUNDEN, 1)]


def test_a_key_column_its_records_hold_as_base64_is_found_though_their_bytes_do_not_spell_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """kd_nr a BIGINT UNSIGNED, which Debezium sends as a Decimal under bigint.unsigned.handling.mode: precise
    (mappings/README tells to set it): ``100150`` is ``AYc2`` in the record, in its key and its row."""
    copy = shutil.copytree(VERTRIEB, tmp_path / "vertrieb")
    for path in [copy / "systems" / "vertrieb.columns.yaml", *(copy / "mappings").glob("*.yaml")]:
        path.write_text(path.read_text(encoding="utf-8").replace(
            "kd_nr: {type: VARCHAR, args: [20], nullable: false}", "kd_nr: {type: BIGINT, unsigned: true, "
            "nullable: false}").replace("customer_number: kd_nr", "customer_number: {from: kd_nr, transform: "
                                        "[string]}"), encoding="utf-8")
    systems, mappings = _setup(copy / "mappings", copy / "systems")
    assert TraceModel.of(mappings).unspelled_topics(systems) == (KUNDEN,), "its rows are all decoded"

    def kunde(offset: int, number: int) -> RawRecord:
        written = base64.b64encode(number.to_bytes(3, "big")).decode()
        return _change(KUNDEN, offset, {"kd_nr": written}, {"kd_nr": written, "firma": "Acme GmbH"},
                       decimals=frozenset({"kd_nr"}))

    records = [kunde(1, 100150), kunde(2, 100151)]
    assert b"100150" not in (records[0].key or b"") + (records[0].value or b"")
    found = _traced(monkeypatch, records, "100150", systems, mappings)
    assert [(r.raw.topic, r.raw.offset, r.key) for r in found] == [(KUNDEN, 1, {"kd_nr": "100150"})]


def _row(system: str, table: str, row: dict[str, Any]) -> Decoded:
    raw = RawRecord(topic=f"{system}.{system}.{table}", partition=0, offset=0, timestamp_ms=0, key=None, value=b"")
    return Decoded(raw=raw, kind="debezium", key=None, system=system, table=table,
                   value={"op": "c", "before": None, "after": row})


def test_keys_that_are_numbers_or_expressions_match_and_refusals_do_not_raise() -> None:
    numbered = FieldBinding(field="customer_number", line=1, column="nr")
    spelled = FieldBinding(field="customer_number", line=1, expression=compile_expression("concat('N-', nr)"))
    model = TraceModel(roots={}, references={}, keys={("s", "numbers"): (numbered,), ("s", "spelled"): (spelled,)})
    assert EntityMatcher(names=("42",), model=model).matches(_row("s", "numbers", {"nr": 42}))
    assert not EntityMatcher(names=("42",), model=model).matches(_row("s", "numbers", {"nr": 43}))
    assert EntityMatcher(names=("N-42",), model=model).matches(_row("s", "spelled", {"nr": 42}))
    assert not EntityMatcher(names=("N-42",), model=model).matches(_row("s", "spelled", {"other": 1}))
    assert not EntityMatcher(names=("42",), model=model).matches(_row("s", "elsewhere", {"nr": 42})), \
        "only the columns a mapping keys a record by"


def test_only_a_whole_key_found_without_a_lookup_says_which_rows_belong() -> None:
    model = TraceModel.of(load_mappings())
    columns = {table: {b.column for b in bindings} for table, bindings in model.keys.items()}
    assert columns[("crm", "customers")] == {"customer_number"}
    assert columns[("erp", "accounts")] == {"crm_customer_number", "account_id"}, "through `required`"
    assert columns[("crm", "addresses")] == set(), "its key is found by a look-up: a reference"
    assert columns[("erp", "sales_order_lines")] == set(), "a line number is no whole key"


def test_a_later_change_of_a_row_that_named_the_entity_belongs_by_its_primary_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    systems, mappings = _setup()
    assert TraceModel.of(mappings).row_keys[("erp", "accounts")] == ("account_id",)
    # a key-only delete (PostgreSQL's default identity: the key, the NOT NULL columns' zero values) and a
    # renumbering hold nothing of the entity's key: the row's primary key says they are the same row
    key_only = {"account_id": 7, "account_code": "", "name": ""}
    records = [
        _change(ACCOUNTS, 4, {"account_id": 7}, {"account_id": 7, "account_code": "K-0003", "name": "Acme AG"}),
        _change(ACCOUNTS, 5, {"account_id": 8}, {"account_id": 8, "account_code": "K-0004", "name": "Beta AG"}),
        _change(ACCOUNTS, 6, {"account_id": 7}, {"account_id": 7, "account_code": "K-0009", "name": "Acme AG"},
                op="u", before=key_only),
        _change(ACCOUNTS, 7, {"account_id": 8}, key_only, op="d", before={**key_only, "account_id": 8}),
        _change(ACCOUNTS, 8, {"account_id": 7}, key_only, op="d", before=key_only),
    ]
    found = _traced(monkeypatch, records, "K-0003", systems, mappings)
    assert [(r.raw.topic, r.raw.offset) for r in found] == [(ACCOUNTS, 4), (ACCOUNTS, 6), (ACCOUNTS, 8)]
    assert _traced(monkeypatch, records[2:], "K-0003", systems, mappings) == [], "no row named it in the window"


def test_a_trace_reads_the_topic_a_flow_file_publishes_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # an entity flow's `publish: wawi.canonical.customers` was left out: only isthmus.canonical.* topics were read
    (tmp_path / "debitoren.yaml").write_text("name: debitoren\nblock: entity\nentity:\n  publish: wawi.kunden.out\n",
                                             encoding="utf-8")
    monkeypatch.setenv("ISTHMUS_FLOWS_DIR", str(tmp_path))
    assert trace_module.published_topics() == ("wawi.kunden.out",)
    systems, mappings = _setup()
    published = _change("wawi.kunden.out", 9, {"customer_number": "K-0003"}, {"customer_number": "K-0003"})
    groups: list[list[str]] = []

    def read(bootstrap: object, topics: Sequence[str], start: StartAt, **_: object) -> Iterator[RawRecord]:
        groups.append(list(topics))
        return iter([published] if published.topic in topics else [])

    monkeypatch.setattr(trace_module, "read", read)
    monkeypatch.setattr(trace_module, "spans", lambda *_: ({}, {}))
    trace("unused:9092", "K-0003", STORE, existing={KUNDEN, ACCOUNTS, "wawi.kunden.out"}, systems=systems,
          mappings=mappings)
    assert any("wawi.kunden.out" in group for group in groups)


def test_flow_files_that_do_not_load_publish_nothing_a_trace_needs(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    monkeypatch.setenv("ISTHMUS_FLOWS_DIR", str(tmp_path))
    assert trace_module.published_topics() == ()


def test_an_id_bound_through_a_cast_is_still_a_root(tmp_path: Path) -> None:
    """`transform: [int]` on an id (a BIGINT UNSIGNED column into a long): its rows still name the entity, so the
    rows that refer to that id are followed."""
    for path in MAPPINGS_DIR.glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace(
            "      crm_customer_id: id\n", "      crm_customer_id: {from: id, transform: [int]}\n")
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    assert "transform: [int]" in (tmp_path / "customer_account_xref.yaml").read_text(encoding="utf-8")
    model = TraceModel.of(load_mappings(tmp_path))
    assert model.roots[("crm", "customers")] == (("id", ("CustomerAccountXref", "crm_customer_id")),)
