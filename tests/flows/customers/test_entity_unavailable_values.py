"""A value the source never sent (Debezium's placeholder for an unchanged TOASTed column, PostgreSQL's default
replica identity) of an entity the flow never saw whole is *unknown*: no create carries it as null, no canonical
record shows it, and the wait is held visibly until a read of the row (a snapshot) gives it.

The made-up ``hub`` party of test_entity_block, its table under the default replica identity, is created in the
made-up ``ledger`` with its ``mail``. Trial AH's path: the party's snapshot read is dead-lettered (its command too
large), then the party is renamed and its unchanged long ``mail`` comes as the placeholder; before, the ledger got a
``create`` with ``email: null`` and stored it. Also: the flow's first change of the row is such an update (the flow
started after the row was last written in full)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import test_entity_write_only as write_only_case
from customer_events import decode_topic
from test_entity_block import HERE, PUBLISHED, Parties, _catalogs, _debtor, _party, _systems

from streams.catalog.model import Catalog
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.debezium.unavailable import PLACEHOLDER
from streams.flows.customers import EntityConfig, entity_config
from streams.flows.customers.state import CustomerState
from streams.flows.engine.sizes import DEFAULT_MAX_REQUEST_SIZE
from streams.flows.files import load_flow_files
from streams.flows.topics import HOLDS
from streams.kafka.deadletters import without_value
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Systems

pytestmark = pytest.mark.unit

LONG_MAIL = "m" * 70_000 + "@acme.test"
LIMIT = 64 * 1024


def _default_identity(catalogs: dict[str, Catalog]) -> dict[str, Catalog]:
    hub = catalogs["hub"]
    tables = {name: dataclasses.replace(table, replica_identity="default") for name, table in hub.tables.items()}
    return {**catalogs, "hub": dataclasses.replace(hub, tables=MappingProxyType(tables))}


@pytest.fixture
def run(schemas: SchemaStore) -> Parties:
    systems: Systems = _systems()
    mappings: dict[str, RecordMapping] = load_mappings(HERE / "mappings", schemas=schemas.schemas,
                                                       tables=_default_identity(_catalogs()), systems=systems)
    config: EntityConfig = entity_config(load_flow_files(HERE / "flows")[0], mappings, schemas.schemas.named,
                                         systems)
    return Parties(config, mappings, systems, schemas)


def _holds(run: Parties) -> list[Mapping[str, Any]]:
    return decode_topic(run.run.context.emitted, HOLDS, run.schemas)


def _published(run: Parties) -> list[Mapping[str, Any]]:
    return decode_topic(run.run.context.emitted, PUBLISHED, run.schemas)


def _renamed_with_mail_left_out(run: Parties) -> list[Any]:
    # PostgreSQL sends no before-image and leaves the unchanged (TOASTed) mail out of the new row
    return run.change("hub", "party", "u", after=_party(display_name="Acme Ltd", mail=PLACEHOLDER))


def _held_then_a_snapshot_creates_it_whole(run: Parties) -> None:
    """The rename sends nothing, publishes nothing, and holds the entity naming the cause and the fix; a snapshot
    read of the row creates it with its mail and releases the hold."""
    assert _renamed_with_mail_left_out(run) == [], "no create with the mail as null"
    assert _published(run) == [], "no canonical record with the mail as null"
    (held,) = _holds(run)
    assert (held["entity_key"], held["state"], held["cause"], held["origin"], held["field"]) == (
        "test-parties:unavailable:P-000001", "held", "unavailable", "hub", "email")
    message = held["message"]
    assert "P-000001" in message and "mail" in message and "ledger" in message, message
    assert "isthmus connectors snapshot hub-source --tables party" in message, message
    assert "REPLICA IDENTITY FULL" in message, message

    (create,) = run.change("hub", "party", "r", after=_party(display_name="Acme Ltd", mail=LONG_MAIL))
    assert create.route == ("Account", "create")
    assert (create.payload["name"], create.payload["email"]) == ("Acme Ltd", LONG_MAIL)
    assert _published(run)[-1]["email"] == LONG_MAIL
    released = _holds(run)[-1]
    assert (released["entity_key"], released["state"]) == ("test-parties:unavailable:P-000001", "released")

    # linked, a later rename that leaves the mail out again keeps the mail the record holds
    run.change("ledger", "debtor", "c", after=_debtor(title="Acme Ltd", mail=LONG_MAIL))
    (update,) = run.change("hub", "party", "u", after=_party(display_name="Acme AG", mail=PLACEHOLDER))
    assert (update.route, update.changed) == (("Account", "update"), ("name",))
    assert update.payload["email"] == LONG_MAIL
    assert len(_holds(run)) == 2, "nothing unknown any more: no hold"


def test_an_entity_whose_read_was_dead_lettered_waits_for_a_value_the_update_left_out(run: Parties) -> None:
    run.run.context.max_record_bytes = LIMIT
    asyncio.run(run.run.feed([run.run.record(*run.record("hub", "party", "r", after=_party(mail=LONG_MAIL)))]))
    (letter,) = run.run.context.dead_letters
    assert letter.error_type == "OutputTooLarge"
    run.run.context.max_record_bytes = DEFAULT_MAX_REQUEST_SIZE
    run.run.context.dead_letters.clear()
    _held_then_a_snapshot_creates_it_whole(run)


def test_a_row_the_flow_first_sees_in_an_update_that_leaves_a_value_out_waits_for_it(run: Parties) -> None:
    _held_then_a_snapshot_creates_it_whole(run)


def test_a_value_another_change_of_the_row_gives_ends_the_wait(run: Parties) -> None:
    assert _renamed_with_mail_left_out(run) == []
    (create,) = run.change("hub", "party", "u", after=_party(display_name="Acme Ltd", mail="new@acme.test"))
    assert (create.route, create.payload["email"]) == (("Account", "create"), "new@acme.test")
    assert [h["state"] for h in _holds(run)] == ["held", "released"]


def test_a_dead_letter_without_its_value_names_the_snapshot_not_the_next_change() -> None:
    letter = {"reason": "too large", "topic": "hq.main.party", "partition": 0, "offset": 7, "value": b"x" * 10,
              "headers": []}
    reason = without_value(letter, 5)["reason"]
    assert "snapshot" in reason and "isthmus connectors snapshot" in reason, reason
    assert "TOAST" in reason, reason
    json.dumps(reason)


def test_what_is_unknown_survives_the_state_store(run: Parties) -> None:
    state = CustomerState(customer_number="P-000001", config=run.flow.config, record={"name": "Acme Ltd"})
    state.mirror("hub").withheld = {"email"}
    assert state.unknown() == {"email"} and state.canonical() is None
    for kept in (CustomerState.unpacked("P-000001", state.packed(), run.flow.config),
                 CustomerState.from_json("P-000001", state.to_json(), run.flow.config), state.copy()):
        assert kept.unknown() == {"email"} and kept.mirror("hub").withheld == {"email"}
    state.record["email"] = None  # null is a value: known
    assert state.unknown() == frozenset()


def test_trial_ah_a_write_only_target_gets_no_null_for_a_row_keyed_by_its_primary_key(
        tmp_path: Path, schemas: SchemaStore) -> None:
    """Trial AH's shape: the entity keyed by the table's primary key (its rows are not remembered), written into a
    write-only SaaS through a payload mapping; the row's snapshot read dead-lettered, then an update that leaves
    the long text out."""
    def keyed(text: str) -> str:  # by the primary key alone, every row (no `when` reading other columns)
        return text.replace("customer_number: code", 'customer_number: {compute: "str(party_id)"}').replace(
            "    when: \"kind == 'org'\"\n", "")

    files = {"mappings": {"party": keyed(write_only_case.RECORD), "party_link": keyed(write_only_case.LINK),
                          "client": write_only_case.PAYLOAD},
             "flows": {"saas": write_only_case.FLOW.replace("{origin}", "hub")}}
    for folder, texts in files.items():
        (tmp_path / folder).mkdir()
        for stem, text in texts.items():
            (tmp_path / folder / f"{stem}.yaml").write_text(text)
    systems = write_only_case._systems()
    mappings = load_mappings(tmp_path / "mappings", schemas=schemas.schemas, tables=_default_identity(_catalogs()),
                             systems=systems)
    config = entity_config(load_flow_files(tmp_path / "flows")[0], mappings, schemas.schemas.named, systems)
    assert not config.reads[("hub", "party")].remember, "keyed by its primary key: no row remembered"
    run = Parties(config, mappings, systems, schemas)
    run.run.context.max_record_bytes = LIMIT
    asyncio.run(run.run.feed([run.run.record(*run.record("hub", "party", "r", after=_party(mail=LONG_MAIL)))]))
    assert [letter.error_type for letter in run.run.context.dead_letters] == ["OutputTooLarge"]
    run.run.context.max_record_bytes = DEFAULT_MAX_REQUEST_SIZE
    run.run.context.dead_letters.clear()

    assert _renamed_with_mail_left_out(run) == [], "before: a create with email null, which the SaaS stored"
    (held,) = _holds(run)
    assert (held["entity_key"], held["state"], held["field"], held["target"]) == (
        "test-saas:unavailable:10", "held", "email", "saas")
    assert "`isthmus connectors snapshot hub-source --tables party`" in held["message"]
    (create,) = run.change("hub", "party", "r", after=_party(display_name="Acme Ltd", mail=LONG_MAIL))
    assert (create.route, create.payload["name"], create.payload["email"]) == (
        ("Account", "create"), "Acme Ltd", LONG_MAIL)


def test_a_child_item_whose_value_the_update_left_out_is_refused_not_made_with_null(run: Parties) -> None:
    run.change("hub", "party", "c", after=_party())
    before = len(_published(run))
    person = {"person_id": 7, "org_id": 10, "given": "Li"}
    # the flow's first change of the person: its unchanged long family name left out
    asyncio.run(run.run.feed([run.run.record(*run.record("hub", "person_of_party", "u",
                                                         after={**person, "family": PLACEHOLDER}))]))
    (letter,) = run.run.context.dead_letters
    assert letter.error_type == "Rejected", letter.reason
    assert "left out family (for last_name" in letter.reason and "never read the row whole" in letter.reason
    assert "`isthmus connectors snapshot <hub's connector> --tables person_of_party`" in letter.reason
    assert len(_published(run)) == before, "no contact with last_name null"
    run.run.context.dead_letters.clear()
    # the snapshot's read gives it whole
    run.change("hub", "person_of_party", "r", after={**person, "family": "W" * 3000})
    (contact,) = _published(run)[-1]["contacts"]
    assert (contact["first_name"], contact["last_name"]) == ("Li", "W" * 3000)
    # remembered since, an update leaving it out again takes the remembered value
    run.change("hub", "person_of_party", "u", after={**person, "given": "Lu", "family": PLACEHOLDER})
    (contact,) = _published(run)[-1]["contacts"]
    assert (contact["first_name"], contact["last_name"]) == ("Lu", "W" * 3000)

