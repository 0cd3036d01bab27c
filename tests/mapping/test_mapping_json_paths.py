"""``parse_json: {path: ...}``: one value inside a JSON column into a flat field (a new user's trial: a ticket shop
keeps a customer's name as jsonb ``name_parts``, ``{"_scheme": "given_family", "given_name": ..., "family_name":
...}``, which two flat CRM columns hold; before, a mapping could only fill a field shaped like the whole document, and
``name_parts.given_name`` was refused as "not a column").

On a made-up system (``box``, PostgreSQL) and a record of the user's own schemas folder, mapped from change records
as Debezium writes them (a jsonb column as its text, ``io.debezium.data.Json``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs import ChangeEvent, decode
from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.mapping import Context, MappingLoadError, MappingValueError, RecordMapping, load_mapping, map_change
from streams.mapping.json_text import json_path, value_at
from streams.mapping.kinds import Kind
from streams.mapping.transforms import BUILTINS, ArgumentProblem, Environment, ParseJsonStep
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

MEMBER = {"type": "record", "name": "Member", "namespace": "test", "fields": [
    {"name": "member_key", "type": "string"},
    {"name": "first_name", "type": "string"},
    {"name": "last_name", "type": ["null", "string"], "default": None},
    {"name": "locale", "type": "string"},
    {"name": "first_sku", "type": ["null", "string"], "default": None},
    {"name": "seats", "type": ["null", "int"], "default": None},
    {"name": "paid", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}],
     "default": None},
    {"name": "since", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": None}]}
MAPPING = """\
description: A ticket shop's customer, its name parts and settings kept as jsonb.
target: test.Member
key: member_key
owner: box
policy: owner_wins
sources:
  box_customer:
    system: box
    table: customer
    fields:
      member_key: {from: email, transform: [trim, lower, required]}
      first_name: {from: name_parts, transform: [{parse_json: {path: given_name}}, required]}
      last_name: {from: name_parts, transform: [{parse_json: {path: family_name}}]}
      locale: {from: settings, transform: [{parse_json: {path: display.locale}}, {default: en}]}
      first_sku: {from: settings, transform: [{parse_json: {path: "orders[0].sku"}}]}
      seats: {from: settings, transform: [{parse_json: {path: orders.0.seats}}]}
      paid: {from: settings, transform: [{parse_json: {path: "orders[0].paid"}}]}
      since: {from: settings, transform: [{parse_json: {path: "since"}}]}
"""
#: Column -> (SQL type, Connect type, Connect name) of the shop's customer table.
COLUMNS = {"id": ("BIGINT", "int64", None), "email": ("TEXT", "string", None),
           "name_parts": ("JSONB", "string", "io.debezium.data.Json"),
           "settings": ("JSONB", "string", "io.debezium.data.Json")}
NAME_PARTS = {"_scheme": "given_family", "given_name": "Zoë", "family_name": "Berg-Ost"}
SETTINGS = {"display": {"locale": "de"}, "since": "2026-05-01T09:01:00+02:00",
            "orders": [{"sku": "TK-1", "seats": 2, "paid": 49.9}]}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> SchemaSet:
    """The repository's schemas and the user's own folder (ISTHMUS_SCHEMAS_DIR) with ``test.Member``."""
    own = tmp_path_factory.mktemp("own_schemas")
    (own / "member.avsc").write_text(json.dumps(MEMBER), encoding="utf-8")
    return load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(own)})


@pytest.fixture
def loaded(tmp_path: Path, schemas: SchemaSet) -> Callable[[str], RecordMapping]:
    systems = Systems({"box": system("box", engine=Engine.POSTGRESQL)}, directory=tmp_path)
    table = Table(name="customer", primary_key=("id",), replica_identity="full",
                  columns={c: Column(name=c, sql_type=t, nullable=c != "id") for c, (t, _, _) in COLUMNS.items()})
    tables = {"box": Catalog(system="box", engine="postgresql", namespace="box", tables={"customer": table})}

    def load(text: str) -> RecordMapping:
        path = tmp_path / "member.yaml"
        path.write_text(text, encoding="utf-8")
        return load_mapping(path, schemas=schemas, tables=tables, systems=systems)

    return load


def _event(op: str, *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> ChangeEvent:
    """The change as the PostgreSQL connector writes it: each jsonb column as its JSON text."""
    def row(values: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if values is None else {c: json.dumps(v) if c in ("name_parts", "settings") and v is not None
                                            else v for c, v in values.items()}

    key, value = change_record("box", "customer", op, columns={c: (t, n) for c, (_, t, n) in COLUMNS.items()},
                               key="id", engine=Engine.POSTGRESQL, namespace="box", position=7100,
                               at=dt.datetime(2026, 5, 1, 7, 1, tzinfo=dt.UTC), before=row(before), after=row(after))
    event = decode(value, key, topic="box.box.customer")
    assert isinstance(event, ChangeEvent)
    return event


def _values(mapping: RecordMapping, event: ChangeEvent, schemas: SchemaSet) -> dict[str, Any]:
    (change,) = map_change(mapping, event, "box", Context(time_zones={"box": "UTC"}), schemas.named)
    return dict(change.values)


def test_values_inside_jsonb_columns_fill_flat_fields_shaped_by_their_types(
        loaded: Callable[[str], RecordMapping], schemas: SchemaSet) -> None:
    mapping = loaded(MAPPING)
    row = {"id": 7, "email": " Zoe@Box.TEST ", "name_parts": NAME_PARTS, "settings": SETTINGS}
    assert _values(mapping, _event("c", after=row), schemas) == {
        "member_key": "zoe@box.test", "first_name": "Zoë", "last_name": "Berg-Ost", "locale": "de",
        "first_sku": "TK-1", "seats": 2, "paid": Decimal("49.90"),
        "since": dt.datetime(2026, 5, 1, 7, 1, tzinfo=dt.UTC)}


def test_a_path_the_document_leaves_out_is_null_then_default_and_required_apply(
        loaded: Callable[[str], RecordMapping], schemas: SchemaSet) -> None:
    mapping = loaded(MAPPING)
    full_name = {"_scheme": "full", "given_name": "Zoë Berg"}  # another scheme: no family_name
    row = {"id": 7, "email": "zoe@box.test", "name_parts": full_name, "settings": {"orders": []}}
    values = _values(mapping, _event("c", after=row), schemas)
    assert (values["first_name"], values["last_name"], values["locale"], values["first_sku"]) == (
        "Zoë Berg", None, "en", None)
    null_settings = _values(mapping, _event("c", after={**row, "settings": None}), schemas)
    assert (null_settings["locale"], null_settings["seats"]) == ("en", None)
    with pytest.raises(MappingValueError, match="required: the value is null"):
        _values(mapping, _event("c", after={**row, "name_parts": {"_scheme": "full"}}), schemas)


def test_a_value_on_the_way_that_is_no_object_is_refused_naming_the_path(
        loaded: Callable[[str], RecordMapping], schemas: SchemaSet) -> None:
    mapping = loaded(MAPPING)
    row = {"id": 7, "email": "zoe@box.test", "name_parts": NAME_PARTS, "settings": {"display": "de"}}
    with pytest.raises(MappingValueError) as raised:
        _values(mapping, _event("c", after=row), schemas)
    assert str(raised.value) == ('member.yaml:14 locale: parse_json path display.locale: display is text, not an '
                                 'object: "de"')
    with pytest.raises(MappingValueError, match=r"\d seats: parse_json path orders\.0\.seats: expected a whole num"):
        _values(mapping, _event("c", after={**row, "settings": {"orders": [{"seats": "two"}]}}), schemas)


@pytest.mark.parametrize(("step", "message", "fix"), [
    ('{parse_json: {path: "orders[x]"}}', "parse_json path: 'orders[x]' is no path at '[x]'",
     "parse_json: {path: given_name}"),
    ("{parse_json: {path: a..b}}", "parse_json path: 'a..b' is no path at '..b'", "items[0].sku"),
    ("{parse_json: {key: given_name}}", "parse_json has no option key", "use path"),
    ("{parse_json: {}}", "parse_json takes the `path` of the value to read", "parse_json: {path: given_name}"),
])
def test_a_bad_path_is_refused_at_load_with_file_line_field_and_fix(
        loaded: Callable[[str], RecordMapping], step: str, message: str, fix: str) -> None:
    text = MAPPING.replace("{parse_json: {path: family_name}}", step)
    with pytest.raises(MappingLoadError) as raised:
        loaded(text)
    (problem,) = raised.value.problems
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "last_name:" in row)
    assert (problem.line, problem.file.name) == (line, "member.yaml"), problem
    assert "last_name" in problem.field and message in problem.message and fix in problem.fix, problem


def test_a_path_into_a_non_null_field_needs_required_or_a_default(loaded: Callable[[str], RecordMapping]) -> None:
    text = MAPPING.replace("{parse_json: {path: given_name}}, required", "{parse_json: {path: given_name}}")
    with pytest.raises(MappingLoadError) as raised:
        loaded(text)
    (problem,) = raised.value.problems
    assert "first_name" in problem.field and "may be null" in problem.message and "default" in problem.fix


def test_paths_are_compiled_once_into_keys_and_indexes() -> None:
    assert json_path("given_name") == ("given_name",)
    assert json_path("items[0].sku") == ("items", 0, "sku")
    assert json_path("[2].a[0][1]") == (2, "a", 0, 1)
    for bad in ("", ".a", "a.", "a[0]b", "a.[0]", "a[-1]"):
        with pytest.raises(ValueError):
            json_path(bad)
    step = BUILTINS["parse_json"]({"path": "items[0].sku"}, Environment(schemas=None))  # type: ignore[arg-type]
    assert isinstance(step, ParseJsonStep) and step.path == ("items", 0, "sku")
    assert step.out(Kind("string", nullable=False)) == Kind("any", nullable=True), "a document may leave it out"
    with pytest.raises(ArgumentProblem, match="parse_json takes options as a mapping"):
        BUILTINS["parse_json"]("given_name", Environment(schemas=None))  # type: ignore[arg-type]


def test_a_list_read_as_an_object_and_an_object_as_a_list_are_refused() -> None:
    document = json.dumps({"items": [{"sku": "A"}], "name": {"given": "Zoë"}})
    assert value_at(document, ("items", 5, "sku"), "string", {}) is None
    with pytest.raises(MappingValueError, match=r"parse_json path items\.sku: items is a list, not an object"):
        value_at(document, ("items", "sku"), "string", {})
    with pytest.raises(MappingValueError, match=r"parse_json path name\[0\]: name is an object, not a list"):
        value_at(document, ("name", 0), "string", {})
    with pytest.raises(MappingValueError, match="parse_json path a: the document is a list, not an object"):
        value_at("[1]", ("a",), "string", {})
    with pytest.raises(MappingValueError, match="not JSON"):
        value_at("{", ("a",), "string", {})
