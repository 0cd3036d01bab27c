"""A field mapped after its entities were made (a column added, discovered and mapped, the worker restarted: README,
"Changing a source schema while running") is taken from the snapshot the docs then ask for, even where the row
changed in between. That change claimed only what it changed, yet showed the new column's value; the snapshot
read that followed was taken for "no edit" (the system had reported that value already), so the field stayed
empty in the record and never reached the target (a new user's helpdesk: 30 of 279 companies)."""

from __future__ import annotations

import pytest
from customer_harness import Harness

from reference.topics import CRM_CUSTOMERS
from streams.flows.customers.state import StateCodec

pytestmark = pytest.mark.unit

NUMBER = "C-470001"


def _forget(harness: Harness, field: str) -> None:
    """The entity as an older mapping made it: ``field`` never claimed (its value and provenance not there)."""
    store = harness.run.context.memory["entities"]
    codec = StateCodec(harness.flow.config)
    state = codec.decode(NUMBER, store.get_raw(NUMBER))
    state.record.pop(field, None)
    state.provenance.pop(field, None)
    store.put_raw(NUMBER, codec.encode(NUMBER, state))


def test_a_snapshot_read_claims_a_field_the_record_never_had(harness: Harness) -> None:
    crm = harness.systems
    harness.feed(crm.crm_create(NUMBER, name="Acme", email="a@acme.test", phone="+86 21 5555 0101"))
    harness.settle()
    _forget(harness, "phone")
    harness.feed(crm.crm_edit(NUMBER, name="Acme Ltd"))  # shows the phone, claims only the name
    assert harness.canonical(NUMBER)["phone"] is None
    row = crm.customers[NUMBER]
    harness.feed(crm.cdc.record(CRM_CUSTOMERS, "r", before=None, after=row, at=crm.cdc.tick(0.001), snapshot="last"))
    assert harness.canonical(NUMBER)["phone"] == "+86 21 5555 0101"
    assert harness.dead_letters == []


def test_a_snapshot_read_of_values_the_record_has_claims_nothing(harness: Harness) -> None:
    crm = harness.systems
    harness.feed(crm.crm_create(NUMBER, name="Acme", email="a@acme.test"))
    harness.settle()
    row = crm.customers[NUMBER]
    assert harness.feed(crm.cdc.record(CRM_CUSTOMERS, "r", before=None, after=row, at=crm.cdc.tick(0.001))) == []
