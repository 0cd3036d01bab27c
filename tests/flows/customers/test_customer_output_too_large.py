"""A record the customer flow would send or publish that is larger than the worker produces
(``ISTHMUS_WORKER_MAX_REQUEST_SIZE``) dead-letters the changes it came from: every change of the decision that sent
it, or the change that last touched the entity whose canonical record it is (published when the batch ends, with no
record in hand); never none, never the state's claim that it was published."""

from __future__ import annotations

import pytest
from customer_harness import Harness

from reference.topics import CANONICAL_CUSTOMERS
from streams.flows.customers import STAGE
from streams.flows.engine.sizes import DEFAULT_MAX_REQUEST_SIZE

pytestmark = pytest.mark.unit

NUMBER = "C-300002"
LIMIT = 64 * 1024


@pytest.fixture
def linked(harness: Harness) -> Harness:
    harness.feed(harness.systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    return harness


def _published(harness: Harness) -> int:
    return sum(1 for e in harness.emitted if e.topic == CANONICAL_CUSTOMERS)


def test_a_canonical_record_too_large_dead_letters_the_change_that_made_it_and_is_published_later(
        linked: Harness) -> None:
    """A contact sends no command, only the canonical record, at the batch's end."""
    linked.run.context.max_record_bytes = LIMIT
    before = _published(linked)
    contact = linked.systems.crm_contact(NUMBER, first_name="A" * 70_000, last_name="Long")
    assert linked.feed(contact) == []
    (letter,) = linked.dead_letters
    assert (letter.record.value, letter.error_type, letter.stage) == (contact[2], "OutputTooLarge", STAGE)
    assert f"a record it produced for {CANONICAL_CUSTOMERS} is " in letter.reason
    assert (f"{NUMBER}: its canonical record is not published; the entity's state is kept, the record is published "
            "with the entity's next change") in letter.reason
    assert _published(linked) == before

    linked.run.context.max_record_bytes = DEFAULT_MAX_REQUEST_SIZE  # the limit raised: the next change publishes
    linked.feed(linked.systems.crm_contact(NUMBER, first_name="Zhang", last_name="Min"))
    assert sorted(c["first_name"][:5] for c in linked.canonical(NUMBER)["contacts"]) == ["AAAAA", "Zhang"]


def test_a_command_too_large_dead_letters_every_change_of_the_decision(harness: Harness) -> None:
    harness.run.context.max_record_bytes = LIMIT
    systems = harness.systems
    customer = systems.crm_create(NUMBER, name="N" * 70_000)
    address = systems.crm_address(NUMBER, "billing", line1="1 Long Road")
    assert harness.feed_transaction(customer, address) == []
    letters = harness.dead_letters
    assert [(letter.record.topic, letter.record.key) for letter in letters] == [customer[:2], address[:2]]
    assert {letter.error_type for letter in letters} == {"OutputTooLarge"}
    assert all("a record it produced for isthmus.commands.erp is " in letter.reason for letter in letters)
    assert harness.stored(NUMBER) is None and harness.emitted == []
