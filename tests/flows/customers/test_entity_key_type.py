"""An entity flow keeps its entities by text: a record keyed by a field its schema declares as a number (a new
user's CRM keyed by a BIGINT, its schema field "long") loaded, validated and started, then dead-lettered every change
of a 200,000-row snapshot with `the change maps to person_id 1; it must be non-empty text`, naming neither the
mapping nor the fix. Now the flow file is refused at load, with the line, the field, its type and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_entity_block import _catalogs
from test_entity_write_only import LINK, PAYLOAD, RECORD, _systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings

pytestmark = pytest.mark.unit

FLOW = """\
name: test-saas
block: entity
description: hub parties -> the SaaS API
entity:
  record: party
  publish: test.canonical.parties
  link: party_link
  origin: hub
  active: active
  systems:
    saas:
      payload: client
      writes: [name, email, active]
"""


def _build(tmp_path: Path, schemas: SchemaStore, record: str) -> None:
    for folder, files in {"mappings": {"party": record, "party_link": LINK, "client": PAYLOAD},
                          "flows": {"saas": FLOW}}.items():
        (tmp_path / folder).mkdir()
        for stem, text in files.items():
            (tmp_path / folder / f"{stem}.yaml").write_text(text)
    systems = _systems()
    mappings = load_mappings(tmp_path / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(tmp_path / "flows")
    entity_config(flow, mappings, schemas.schemas.named, systems)


def test_a_record_keyed_by_a_number_is_refused_with_its_type_and_the_fix(tmp_path: Path,
                                                                        schemas: SchemaStore) -> None:
    # Customer.crm_customer_id is ["null", "long"]: a number, the way a BIGINT primary key arrives
    numbered = (RECORD.replace("key: customer_number", "key: crm_customer_id")
                .replace("  crm_customer_id: {owner: hub", "  customer_number: {owner: hub, policy: owner_wins}\n"
                         "  crm_customer_id: {owner: hub"))
    with pytest.raises(FlowFileError) as refused:
        _build(tmp_path, schemas, numbered)
    said = str(refused.value)
    assert "saas.yaml:5: entity.record: party.yaml keys its entities by crm_customer_id" in said
    assert 'declares as ["null", "long"]' in said
    assert "it must be non-empty text" in said
    assert 'fix: declare crm_customer_id as "string" in the schema' in said
    assert '{compute: "str(<column>)"}' in said


def test_a_record_keyed_by_text_loads(tmp_path: Path, schemas: SchemaStore) -> None:
    _build(tmp_path, schemas, RECORD)
