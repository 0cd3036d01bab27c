"""Two live rows of one source table that map to the same record key are two records, never written as one: the
change that makes the second one is refused with both rows named (a composite key cut by ``right``, say), and a
row that ends before another takes its key, in one transaction too, is no such case (nor does that end end the
record, whose row the other one is now)."""

from __future__ import annotations

import pytest
from customer_events import Systems, crm_customer_row, decode_topic
from customer_harness import Harness

from reference.topics import CANONICAL_CUSTOMERS, CRM_CUSTOMERS

pytestmark = pytest.mark.unit

NUMBER = "C-700042"


def _second_row(systems: Systems, row_id: int, name: str) -> tuple[str, bytes, bytes]:
    """Another row of crm.customers whose customer number is NUMBER too."""
    return systems.cdc.record(CRM_CUSTOMERS, "c", before=None, after=crm_customer_row(NUMBER, row_id, name=name),
                              at=systems.cdc.tick(0.001))


def test_a_second_row_mapping_to_a_live_record_key_is_refused_naming_both(harness: Harness) -> None:
    systems = Systems()
    harness.feed(systems.crm_create(NUMBER, name="Acme", email="a@acme.test"))
    first = systems.customers[NUMBER]["id"]
    published = decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas)
    sent = harness.feed(_second_row(systems, 999, "Other Mandant"))
    assert sent == [], "nothing is written for the merged rows"
    (letter,) = harness.dead_letters
    assert (f"rows customers:{first} and customers:999 of crm.customers both map to customer_number "
            f"'{NUMBER}'") in letter.reason
    assert "`lpad` pads and never cuts" in letter.reason
    assert decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas) == published, "the record stands"
    # the first row goes on as before
    (update,) = harness.feed(systems.crm_edit(NUMBER, name="Acme Ltd"))
    assert update.payload["name"] == "Acme Ltd" and len(harness.dead_letters) == 1


def test_a_row_that_ends_frees_its_key_for_another_also_within_one_transaction(harness: Harness) -> None:
    systems = Systems()
    harness.feed(systems.crm_create(NUMBER, name="Acme", email="a@acme.test"))
    # the new row arrives before the old one ends, in one source transaction (a table keeping versions)
    replacement = _second_row(systems, 999, "Acme New")
    sent = harness.feed_transaction(replacement, systems.crm_delete(NUMBER))
    assert harness.dead_letters == []
    assert decode_topic(harness.emitted, CANONICAL_CUSTOMERS, harness.schemas)[-1]["name"] == "Acme New"
    # the old row's end is no end of the customer, whose row is the new one now: its account is not deactivated
    assert ("Account", "deactivate") not in [s.route for s in sent]
    assert harness.canonical(NUMBER)["active"] is True
