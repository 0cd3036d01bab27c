"""A record the flow created in a target, deleted there (the target's CDC shows the delete), while the origin's row
still holds its id (``observes``: set, never cleared). A new user's trial found the entity stuck for good: never
created again, a later change in the origin commanding nothing, and nothing saying so.

What decides is the record's ``active`` field, as flows/README.md says: a delete that does not win it leaves the
entity active, so the target, which lost its record, gets ``create`` again, even though the origin's row still
holds the deleted record's id (that id names a record that is gone: it is not the link); the new record's id is
linked back over it. A delete that wins it ends the entity (the reference ERP's: ``active`` is the latest commit's,
and the ERP's delete sets it false): it is not created again, and the flow says so, once, naming the entity."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.customers.lost import ENDED_COUNT
from streams.mapping import load_mappings
from streams.mapping.loader import mappings_dir

pytestmark = pytest.mark.unit

NUMBER = "C-495001"


@pytest.fixture
def kept(schemas: SchemaStore, tmp_path: Path) -> Harness:
    """The reference pair with the CRM alone deciding whether a customer lives (``active`` its own, owner wins):
    the ERP's delete does not end the customer."""
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    customer = folder / "customer.yaml"
    text = customer.read_text(encoding="utf-8")
    latest = "  active:           {owner: crm, policy: latest_commit_wins}"
    assert latest in text
    customer.write_text(text.replace(latest, "  active:           {owner: crm, policy: owner_wins}"), encoding="utf-8")
    mappings = load_mappings(folder, schemas=schemas.schemas)
    return Harness(flow=CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(),
                                     clock=lambda: SETTLED_AT), schemas=schemas)


def _linked(harness: Harness) -> int:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme", email="a@acme.test"))
    harness.settle()
    account: int = systems.customers[NUMBER]["erp_account_id"]
    assert account == systems.accounts[NUMBER]["account_id"]
    return account


def test_a_record_deleted_in_the_target_is_created_again_while_the_entity_lives(kept: Harness) -> None:
    systems = kept.systems
    deleted = _linked(kept)
    (create,) = kept.feed(systems.erp_delete(NUMBER))
    assert (create.key, create.route) == (NUMBER, ("Account", "create"))
    applied = kept.settle()
    account = systems.accounts[NUMBER]["account_id"]
    assert account != deleted and systems.accounts[NUMBER]["name"] == "Acme"
    assert systems.customers[NUMBER]["erp_account_id"] == account, "the new account's id linked back over the old"
    assert [s.route for s in applied[1:]] == [("CustomerAccountXref", "update")]
    # the customer's later edits reach the new account
    (update,) = kept.feed(systems.crm_edit(NUMBER, name="Acme Ltd"))
    assert (update.route, update.changed, update.payload["account_id"]) == (("Account", "update"), ("name",), account)
    assert kept.dead_letters == [] and kept.outbox == [update]


def test_a_delete_in_the_target_that_ends_the_entity_is_said_once(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """The reference ERP's delete wins ``active``: the customer ends, the CRM keeps its row (``on_inactive:
    ignore``) and its later edits send nothing; the flow warns, naming the customer, the system and what brings
    it back."""
    systems = harness.systems
    _linked(harness)
    with caplog.at_level(logging.WARNING, logger="streams.flows.customers"):
        assert harness.feed(systems.erp_delete(NUMBER)) == []
        assert harness.feed(systems.crm_edit(NUMBER, name="Acme Ltd")) == []
        assert harness.feed(systems.crm_edit(NUMBER, phone="+1 555")) == []
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert NUMBER in warning and "erp deleted" in warning and "not created in erp again" in warning
    assert harness.run.context.counts[ENDED_COUNT] == 1
    assert harness.canonical(NUMBER)["active"] is False and harness.dead_letters == []


def test_a_target_record_deleted_while_the_entity_ends_anyway_says_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """The CRM deleted the customer first (its end, the account deactivated); the ERP deleting the account after
    that ends nothing more: no warning."""
    systems = harness.systems
    _linked(harness)
    harness.feed(systems.crm_delete(NUMBER))
    harness.settle()
    with caplog.at_level(logging.WARNING, logger="streams.flows.customers"):
        assert harness.feed(systems.erp_delete(NUMBER)) == []
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []
    assert harness.run.context.counts[ENDED_COUNT] == 0
