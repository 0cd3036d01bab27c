"""A link-back id that the system's ``writes`` also lists goes with the record's update decided with it (one
command, one echo); decided alone, or not listed, it goes as the link's own update."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from reference.topics import COMMANDS_CRM, CRM_CUSTOMERS
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.mapping import RecordMapping

pytestmark = pytest.mark.unit


def _without_link_in_writes(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> Harness:
    config = CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems()).config
    crm = config.written["crm"]
    assert "erp_account_id" in crm.writes and crm.link_back == ("erp_account_id",)
    writes = {name: parts for name, parts in crm.writes.items() if name != "erp_account_id"}
    written = {**config.written, "crm": dataclasses.replace(crm, writes=writes)}
    flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(), clock=lambda: SETTLED_AT,
                        config=dataclasses.replace(config, written=written))
    return Harness(flow=flow, schemas=schemas)


def _crm_echoes(harness: Harness) -> int:
    return sum(1 for topic, _, _ in harness.fed if topic == CRM_CUSTOMERS)


def test_link_and_the_erp_defaults_go_to_the_crm_in_one_update(harness: Harness) -> None:
    harness.feed(harness.systems.crm_create("C-300001", name="Acme"))
    applied = harness.settle()
    assert [s.route for s in applied] == [("Account", "create"), ("Customer", "update")]
    (update,) = [s for s in applied if s.topic == COMMANDS_CRM]
    account_id = harness.systems.accounts["C-300001"]["account_id"]
    assert update.changed == ("erp_account_id", "credit_limit", "payment_terms")
    assert update.payload["erp_account_id"] == account_id
    customer = harness.systems.customers["C-300001"]
    assert (customer["erp_account_id"], customer["payment_terms"]) == (account_id, "NET30")
    assert _crm_echoes(harness) == 2  # the create and the one update's echo
    assert harness.outbox == [] and harness.conflicts() == []
    assert harness.canonical("C-300001")["erp_account_id"] == account_id


def test_a_link_decided_alone_goes_as_the_links_update(harness: Harness) -> None:
    """The CRM already holds what the ERP fills in: nothing of the record to update, the link goes alone."""
    harness.feed(harness.systems.crm_create("C-300002", name="Acme", credit_limit=Decimal("0.00"),
                                            payment_terms="NET30"))
    applied = harness.settle()
    assert [s.route for s in applied] == [("Account", "create"), ("CustomerAccountXref", "update")]
    link = applied[1]
    account_id = harness.systems.accounts["C-300002"]["account_id"]
    assert link.changed == ("erp_account_id",) and link.payload["erp_account_id"] == account_id
    assert harness.systems.customers["C-300002"]["erp_account_id"] == account_id
    assert harness.outbox == [] and harness.conflicts() == []


def test_a_link_id_not_in_writes_keeps_its_own_command(mappings: dict[str, RecordMapping],
                                                       schemas: SchemaStore) -> None:
    harness = _without_link_in_writes(mappings, schemas)
    harness.feed(harness.systems.crm_create("C-300003", name="Acme"))
    applied = harness.settle()
    assert [s.route for s in applied] == [("Account", "create"), ("CustomerAccountXref", "update"),
                                          ("Customer", "update")]
    assert applied[1].changed == ("erp_account_id",)
    assert applied[2].changed == ("credit_limit", "payment_terms")
    assert _crm_echoes(harness) == 3
    assert harness.systems.customers["C-300003"]["erp_account_id"] == harness.systems.accounts["C-300003"][
        "account_id"]
    assert harness.outbox == [] and harness.conflicts() == []
