"""One source transaction is one isolated scope of the entity flow (``Context.isolated``): a change that cannot
be used is rejected alone, a failure deciding an entity rejects every change folded into it (the transaction's
other entities are decided without them: test_entity_undecided_entity.py), and neither undoes what the other
changes of the transaction set aside (a change rejected alone, a change parked for its entity)."""

from __future__ import annotations

import dataclasses

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.mapping import RecordMapping
from streams.systems import Systems

pytestmark = pytest.mark.unit

NUMBER, WAITING = "C-430001", "C-430002"


@pytest.fixture
def undecidable(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> Harness:
    """A flow whose every ERP command is refused where it is encoded (the ERP declared read-only after the flow
    was configured): deciding any change of a customer fails."""
    systems = reference_systems()
    flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=systems, clock=lambda: SETTLED_AT)
    flow.systems = Systems({**{name: systems[name] for name in systems},
                            "erp": dataclasses.replace(systems["erp"], writable=False)},
                           directory=systems.directory)
    return Harness(flow=flow, schemas=schemas)


def test_a_failed_decision_rejects_the_transaction_but_keeps_what_it_set_aside(undecidable: Harness) -> None:
    harness = undecidable
    systems = harness.systems
    systems.crm_create(WAITING, name="Not Yet Seen")  # its address arrives first, so it waits
    created = systems.crm_create(NUMBER, name="Acme")
    edited = systems.crm_edit(NUMBER, name="Acme Ltd")
    unusable = systems.crm_create("", name="No Number")
    assert harness.feed_transaction(systems.crm_address(WAITING), unusable, created, edited) == []
    reasons = {d.record.position: d.reason for d in harness.dead_letters}
    first, second, third = (f"crm.crm.customers/0@{offset}" for offset in range(3))
    assert sorted(reasons) == [first, second, third]  # the address is parked, not dead-lettered
    assert reasons[first].startswith(f"{first}: cannot use this crm customers change")
    for position in (second, third):
        assert reasons[position].startswith(f"{position}: cannot decide on {NUMBER}: ")
        assert "read-only" in reasons[position]
        assert f"dead-lettered with it: 2 change(s) of entity {NUMBER} ({second}, {third}); the other 2 change(s) " \
               "of its source transaction went on without them" in reasons[position]
    memory = harness.run.context.memory
    assert len(memory["parked"]) == 2 and harness.stored(NUMBER) is None and len(memory["index"]) == 0
    assert harness.emitted == []


def test_a_failed_decision_on_one_change_names_it(undecidable: Harness) -> None:
    harness = undecidable
    assert harness.feed(harness.systems.crm_create(NUMBER, name="Acme")) == []
    (letter,) = harness.dead_letters
    assert letter.reason.startswith(f"{letter.record.position}: cannot decide on this change: ")
