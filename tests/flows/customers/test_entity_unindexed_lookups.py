"""Look-ups the flow's index cannot answer for entities it has (a new user's trial: the mapping of the vendor's
contact rows changed to look their vendor up by its code after the vendors had been read, so the index, filled only
by the link's changes, had no entry for them; their changes were parked for ever, held as waiting for a vendor
"which suppliers does not know ... check that its source row exists and is captured"). A look-up by the entity's
own key is answered by the entity, changes parked for it before go on at the flow's tick, in their order (and a
fleet's keying stage routes such a change to that key); a hold for any other look-up names the snapshot that
re-reads the rows filling the index. On the made-up hub/ledger pair
of test_entity_block, the shop's buyers found through a look-up of the party by its code."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from customer_events import decode_topic
from test_entity_block import HERE, Parties, _catalogs, _debtor, _party, _systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned
from streams.flows.files import load_flow_files
from streams.flows.parked import HOLD_SCHEMA
from streams.flows.parking import ParkingLot
from streams.mapping import load_mappings

pytestmark = pytest.mark.unit

NUMBER = "P-000001"
SHOP_KEY = "      customer_number: party_code\n      phone: tel\n"
#: The buyer's party found through the link by its own key, as the trial's contact rows found their vendor.
LOOKED_UP = ("      customer_number:\n        from: party_code\n        transform:\n          - lookup: {record: "
             "CustomerAccountXref, by: customer_number, field: customer_number, required: true}\n      phone: tel\n")


@pytest.fixture
def run(tmp_path: Path, schemas: SchemaStore) -> Parties:
    folder = tmp_path / "mappings"
    folder.mkdir()
    for source in (HERE / "mappings").glob("*.yaml"):
        text = source.read_text(encoding="utf-8")
        if source.name == "party.yaml":
            assert SHOP_KEY in text
            text = text.replace(SHOP_KEY, LOOKED_UP)
        (folder / source.name).write_text(text, encoding="utf-8")
    systems = _systems()
    mappings = load_mappings(folder, schemas=schemas.schemas, tables=_catalogs(), systems=systems)
    (flow,) = load_flow_files(HERE / "flows")
    config = entity_config(flow, mappings, schemas.schemas.named, systems)
    assert config.indexed == ("crm_customer_id", "customer_number")
    return Parties(config, mappings, systems, schemas)


def _linked_before_the_mapping_looked_it_up(run: Parties) -> None:
    """Party NUMBER in both systems, its link read while no source looked it up by its code: not indexed so."""
    run.change("hub", "party", "c", after=_party())
    run.change("ledger", "debtor", "c", after=_debtor())
    index = run.run.context.memory["index"]
    assert index.get(f"customer_number={NUMBER}") is not None
    index.put(f"customer_number={NUMBER}", None)


def _buyer(run: Parties, op: str, tel: str, before: str | None = None) -> tuple[str, bytes, bytes]:
    return run.record("shop", "buyer", op, before=None if before is None else {
        "buyer_id": 3, "party_code": NUMBER, "tel": before}, after={"buyer_id": 3, "party_code": NUMBER, "tel": tel})


def _holds(run: Parties) -> list[dict[str, object]]:
    return [dict(run.schemas.decode(e.value, HOLD_SCHEMA).value) for e in run.run.context.emitted
            if e.topic == run.flow.holds.topic and e.value]


def test_a_look_up_by_the_entitys_own_key_is_answered_by_the_entity_the_index_misses(run: Parties) -> None:
    _linked_before_the_mapping_looked_it_up(run)
    assert run.feed(_buyer(run, "c", "+1 555")) == []  # the shop is read-only
    assert run.published()["phone"] == "+1 555"
    assert run.run.context.memory["parked"].get(f"customer_number={NUMBER}") is None
    # an entity the flow has no link of is still waited for
    assert run.feed(run.record("shop", "buyer", "c", after={"buyer_id": 4, "party_code": "P-000404",
                                                           "tel": "+1 404"})) == []
    assert run.run.context.memory["parked"].get("customer_number=P-000404") is not None


def test_changes_parked_before_go_on_at_the_tick_in_their_order(run: Parties) -> None:
    _linked_before_the_mapping_looked_it_up(run)
    # parked while the flow could not answer (an older version): a later change of the row must not overtake it
    first = _buyer(run, "c", "+1 555")
    ParkingLot(run.run.context.memory["parked"]).park(f"customer_number={NUMBER}", run.run.record(*first))
    run.feed(_buyer(run, "u", "+1 777", before="+1 555"))
    assert run.published()["phone"] is None, "the later change waits behind the parked one"
    run.run.tick(now_s=time.time())
    assert run.published()["phone"] == "+1 777"
    assert run.run.context.memory["parked"].get(f"customer_number={NUMBER}") is None


def test_a_hold_for_a_look_up_the_flow_cannot_answer_names_the_snapshot_that_fills_the_index(run: Parties) -> None:
    assert run.change("hub", "person_of_party", "c", after={"person_id": 7, "org_id": 99, "given": "Li",
                                                            "family": "Wei"}) == []
    run.run.tick(now_s=time.time() + 600, hold_after_s=300)
    (hold,) = _holds(run)
    message = str(hold["message"])
    assert hold["waiting_for"] == "crm_customer_id=99"
    assert "1 record(s) wait for crm_customer_id=99" in message
    assert "check that hub's party row of crm_customer_id 99 exists and is captured" in message
    assert ("re-read the rows that fill it: `isthmus connectors snapshot hub-source --tables party`"
            in message), message
    assert decode_topic(run.run.context.emitted, run.flow.canonical_topic, run.schemas) == []


def test_the_keying_stage_routes_a_look_up_by_the_entitys_own_key_to_that_key(run: Parties) -> None:
    """A fleet: the stage's ``numbers`` lack the key (the link's rows routed before), the change goes to the entity's
    flow all the same, after the changes the stage held for it before, in their order."""
    stage = LocalRun(partitioned(run.flow.spec(), 3).stage)
    held = _buyer(run, "c", "+1 555")
    ParkingLot(stage.context.memory["held"]).park(f"customer_number={NUMBER}", stage.record(*held))
    later = _buyer(run, "u", "+1 777", before="+1 555")
    asyncio.run(stage.feed([stage.record(*later)]))
    emitted = stage.context.emitted
    assert [e.key for e in emitted] == [NUMBER.encode()] * 2
    assert [json.loads(e.value or b"")["payload"]["after"]["tel"] for e in emitted] == ["+1 555", "+1 777"]
    assert len(stage.context.memory["held"]) == 0
