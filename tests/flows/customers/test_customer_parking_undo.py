"""A change parked for its customer leaves nothing behind but the parked record: what it did before the look-up
missed (the remembered row) is undone, so when it is released it is applied as if it came then."""

from __future__ import annotations

from customer_harness import Harness

NUMBER = "C-310001"


def test_an_address_parked_for_its_customer_leaves_no_remembered_row(harness: Harness) -> None:
    systems = harness.systems
    customer = systems.crm_create(NUMBER, name="Acme")
    assert harness.feed(systems.crm_address(NUMBER, "billing", line1="1 Early Road")) == []
    memory = harness.run.context.memory
    assert len(memory["parked"]) == 2 and len(memory["rows"]) == 0 and harness.dead_letters == []
    harness.feed(customer)
    assert len(memory["parked"]) == 0 and len(memory["rows"]) == 1
