"""An entity flow over a PostgreSQL table whose before-images hold only its primary key (its replica identity is
not FULL, as the columns file records), keyed by a column beyond that key: the made-up ``hub`` party of
test_entity_block, its ``party_id`` the primary key, the entity's key its ``code``. The flow remembers the rows,
so a key-only delete still ends its entity and an update that leaves out an unchanged TOASTed value (Debezium's
placeholder) sends the value the row had, never the placeholder."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from test_entity_block import HERE, Parties, _catalogs, _debtor, _party, _systems

from streams.catalog.model import Catalog
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.unavailable import PLACEHOLDER
from streams.flows.customers import EntityConfig, entity_config
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Systems

pytestmark = pytest.mark.unit


def _recorded(catalogs: dict[str, Catalog], identity: str | None) -> dict[str, Catalog]:
    """The catalogs with every hub table's replica identity recorded as ``identity`` (None: not recorded)."""
    hub = catalogs["hub"]
    tables = {name: dataclasses.replace(table, replica_identity=identity) for name, table in hub.tables.items()}
    return {**catalogs, "hub": dataclasses.replace(hub, tables=MappingProxyType(tables))}


@pytest.fixture(scope="module")
def key_only(schemas: SchemaStore) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    systems = _systems()
    mappings = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=_recorded(_catalogs(), "default"),
                             systems=systems)
    (flow,) = load_flow_files(HERE / "flows")
    return mappings, systems, entity_config(flow, mappings, schemas.schemas.named, systems)


def test_the_rows_of_a_table_keyed_beyond_its_primary_key_are_remembered(
        key_only: tuple[dict[str, RecordMapping], Systems, EntityConfig], schemas: SchemaStore) -> None:
    *_, config = key_only
    assert config.reads[("hub", "party")].remember, "party is keyed by code, its before-images hold party_id only"
    def remembers(catalogs: dict[str, Catalog]) -> bool:
        config = entity_config(load_flow_files(HERE / "flows")[0],
                               load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=catalogs,
                                             systems=_systems()), schemas.schemas.named, _systems())
        return config.reads[("hub", "party")].remember

    assert not remembers(_recorded(_catalogs(), "full")), "full images: nothing to remember"
    assert remembers(_recorded(_catalogs(), None)), "no identity recorded: PostgreSQL's default is taken"


def test_a_key_only_delete_ends_the_entity_and_an_unsent_value_is_the_remembered_one(
        key_only: tuple[dict[str, RecordMapping], Systems, EntityConfig], schemas: SchemaStore) -> None:
    mappings, systems, config = key_only
    run = Parties(config, mappings, systems, schemas)
    (create,) = run.change("hub", "party", "c", after=_party())
    assert create.route == ("Account", "create") and create.payload["email"] == "a@acme.test"
    run.change("ledger", "debtor", "c", after=_debtor())
    # PostgreSQL sends no before-image and leaves the unchanged (TOASTed) mail out of the new row
    (update,) = run.change("hub", "party", "u", after=_party(display_name="Acme Ltd", mail=PLACEHOLDER))
    assert (update.route, update.changed) == (("Account", "update"), ("name",))
    assert update.payload["email"] == "a@acme.test" and update.payload["name"] == "Acme Ltd"
    assert run.published()["email"] == "a@acme.test"
    # a delete whose before-image holds the primary key alone
    (delete,) = run.change("hub", "party", "d", before={"party_id": 10})
    assert (delete.route, delete.changed) == (("Account", "deactivate"), ("active",))
    assert delete.payload["account_code"] == "D-000001"


def test_a_key_only_delete_the_flow_cannot_place_says_what_to_do(schemas: SchemaStore) -> None:
    systems = _systems()  # the file says FULL, the table is not (drift): the rows are not remembered
    mappings = load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=_recorded(_catalogs(), "full"),
                             systems=systems)
    run = Parties(entity_config(load_flow_files(HERE / "flows")[0], mappings, schemas.schemas.named, systems),
                  mappings, systems, schemas)
    run.change("hub", "party", "c", after=_party())
    # as Debezium sends it: the key, and the NOT NULL columns' zero values (a condition passed, for the test)
    with pytest.raises(AssertionError, match=r"customer_number ''.*replica identity is not FULL.*only the row's key "
                                             r"\(party_id\).*isthmus mappings discover hub"):
        run.change("hub", "party", "d", before={"party_id": 10, "code": "", "kind": "org", "display_name": ""})
