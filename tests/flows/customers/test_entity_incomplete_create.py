"""An entity is made in another system only once its record is complete (every field its schema requires has a
value). A row that only the link takes (the Tryton example: a party outside the example's range, linked so that
its contact mechanisms find their party, while the customer mapping never reads its name) is no one's to
create; a record that becomes complete later is created then. On the made-up hub/ledger pair with both as
origins (test_entity_origins), its link taking every hub party while the record takes those of kind ``org``."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_entity_block import HERE, Parties, _catalogs, _party, _systems
from test_entity_origins import BOTH, _routes, hub_reports_live

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings

pytestmark = pytest.mark.unit

LINK_WHEN = "    when: \"kind == 'org'\"\n    fields:\n      customer_number: code\n      crm_customer_id: party_id\n"


@pytest.fixture
def run(tmp_path: Path, schemas: SchemaStore) -> Parties:
    mappings_dir = tmp_path / "mappings"
    mappings_dir.mkdir()
    for source in (HERE / "mappings").glob("*.yaml"):
        (mappings_dir / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    link = mappings_dir / "party_link.yaml"
    text = link.read_text(encoding="utf-8")
    assert LINK_WHEN in text
    link.write_text(text.replace(LINK_WHEN, LINK_WHEN.replace("\"kind == 'org'\"", "\"code is not None\"")),
                    encoding="utf-8")
    party = mappings_dir / "party.yaml"
    party.write_text(hub_reports_live(party.read_text(encoding="utf-8")), encoding="utf-8")
    systems = _systems()
    mappings = load_mappings(mappings_dir, schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "parties.yaml").write_text(BOTH, encoding="utf-8")
    (flow,) = load_flow_files(tmp_path / "flows")
    return Parties(entity_config(flow, mappings, schemas.schemas.named, systems), mappings, systems, schemas)


def test_a_row_only_the_link_takes_is_not_created_elsewhere_until_its_record_is_complete(run: Parties) -> None:
    # A hub party of kind person: linked (the hub has it), but the record has no name, so no create.
    person = _party(kind="person")
    assert run.change("hub", "party", "c", after=person) == []
    # Made an org: the record takes its name, the ledger gets the create.
    (create,) = run.change("hub", "party", "u", before=person, after=_party())
    assert _routes([create]) == [("ledger", "Account", "create")] and create.payload["name"] == "Acme"
