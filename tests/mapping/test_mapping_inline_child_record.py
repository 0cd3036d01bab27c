"""A parent whose list field defines its item record in place (valid Avro) takes a child mapping of that record.

A new user's schema declared `"items": {"type": "record", "name": "SiteStock", ...}` inside the parent's array and
was told the parent "has no list of trial.canonical.SiteStock named 'stock'", followed by a second, wrong, problem
telling them to add the `parent:` the file had."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from streams.codecs.avro.schemas import load_schemas
from streams.mapping import MappingLoadError, RecordMapping, load_mapping

BOX = {
    "type": "record", "name": "Box", "namespace": "inline.canonical", "doc": "a parent with an inline item record",
    "fields": [
        {"name": "customer_number", "type": "string", "doc": "the key"},
        {"name": "people", "doc": "the children", "default": [], "type": {"type": "array", "items": {
            "type": "record", "name": "Person", "doc": "a child defined in place",
            "fields": [
                {"name": "crm_contact_id", "type": "long", "doc": "the child key"},
                {"name": "first_name", "type": ["null", "string"], "default": None, "doc": "a name"},
            ]}}},
    ],
}

CHILD = """
    target: inline.canonical.Person
    key: crm_contact_id
    parent: {record: Box, field: PARENT_FIELD, key: customer_number}
    owner: crm
    policy: owner_wins
    sources:
      crm_contacts:
        system: crm
        table: contacts
        parent_key: {compute: "concat('C-', str(customer_id))"}
        fields:
          crm_contact_id: id
          first_name: first_name
"""


def _load(tmp_path: Path, field: str) -> RecordMapping:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "box.avsc").write_text(json.dumps(BOX), encoding="utf-8")
    schemas = load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(tmp_path / "schemas")})
    path = tmp_path / "person.yaml"
    path.write_text(textwrap.dedent(CHILD).replace("PARENT_FIELD", field).lstrip("\n"), encoding="utf-8")
    return load_mapping(path, schemas=schemas)


def test_a_list_of_an_item_record_defined_in_place_takes_its_child_mapping(tmp_path: Path) -> None:
    mapping = _load(tmp_path, "people")
    assert mapping.parent is not None and mapping.parent.field == "people"


def test_a_wrong_list_field_is_one_problem_not_two(tmp_path: Path) -> None:
    with pytest.raises(MappingLoadError) as caught:
        _load(tmp_path, "persons")
    problems = caught.value.problems
    assert [p.field for p in problems] == ["parent.field"], problems
    assert "has no list of inline.canonical.Person named 'persons'" in problems[0].message
