"""Several rows of a look-up-keyed source matching one entity (a new user's shop: billing addresses found through
their customer's id, the default one switched in one transaction). The field shows the matching row changed last;
when that row ends (deleted, or out of the source's ``when``) the remaining row changed last is shown; only when
none is left does ``on_delete`` clear it; a row ending that is not shown changes nothing. Before, the ERP got
``billing_address: null`` in both of the user's cases.

Here the reference CRM's addresses (``crm_billing_address``, ``when: "kind == 'billing'"``), rows made by hand so
that two billing rows can exist (the reference table keeps one per kind; the shop in the report does not), fed
through the flow's real handler."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest
from customer_events import Sent, crm_address_row, key_only
from customer_harness import Harness

from reference.topics import CRM_ADDRESSES
from streams.flows.customers.state import StateCodec
from streams.flows.engine.packed import unpack_tagged

pytestmark = pytest.mark.unit

NUMBER = "C-300042"
Record = tuple[str, bytes, bytes]


class Addresses:
    """The customer's address rows, by id, as the CRM would send their changes (default replica identity: an
    update carries no before-image, a delete only the key)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.rows: dict[int, dict[str, Any]] = {}

    def put(self, address_id: int, kind: str, **values: Any) -> Record:
        systems = self.harness.systems
        before = self.rows.get(address_id)
        if before is None:
            row = crm_address_row(address_id, systems.customers[NUMBER]["id"], kind=kind, **values)
        else:
            row = {**before, "kind": kind, **values, "version": before["version"] + 1}
        self.rows[address_id] = row
        return systems.cdc.record(CRM_ADDRESSES, "c" if before is None else "u", before=None, after=row,
                                  at=systems.cdc.tick(0.001))

    def delete(self, address_id: int) -> Record:
        systems = self.harness.systems
        return systems.cdc.record(CRM_ADDRESSES, "d", before=key_only(self.rows.pop(address_id)), after=None,
                                  at=systems.cdc.tick(0.001))


@pytest.fixture
def addresses(harness: Harness) -> Addresses:
    harness.feed(harness.systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    return Addresses(harness)


def _billing(sent: list[Sent]) -> list[Mapping[str, Any] | None]:
    """The billing addresses the ERP was sent, in order."""
    return [s.payload["billing_address"] for s in sent
            if s.route == ("Account", "update") and "billing_address" in s.changed]


def _line1(address: Mapping[str, Any] | None) -> str | None:
    return None if address is None else str(address["line1"])


def test_the_default_switched_in_one_transaction_shows_the_new_one_never_null(addresses: Addresses) -> None:
    harness = addresses.harness
    harness.feed(addresses.put(129, "billing", line1="129 Old Road"))
    harness.feed(addresses.put(131, "shipping", line1="131 New Road"))
    harness.settle()
    # one transaction: row 131 starts matching, then row 129 stops matching (the user's order)
    sent = harness.feed_transaction(addresses.put(131, "billing"), addresses.put(129, "shipping"))
    assert [_line1(a) for a in _billing(sent)] == ["131 New Road"], "one update, the new default, no null"
    assert all(s.payload.get("billing_address", {}) is not None for s in sent)
    canonical = harness.canonical(NUMBER)
    assert (_line1(canonical["billing_address"]), _line1(canonical["shipping_address"])) == (
        "131 New Road", "129 Old Road")
    harness.settle()
    assert harness.systems.accounts[NUMBER]["billing_line1"] == "131 New Road"
    assert harness.outbox == [] and harness.dead_letters == []


def test_the_other_order_in_one_transaction_ends_the_same(addresses: Addresses) -> None:
    harness = addresses.harness
    harness.feed(addresses.put(129, "billing", line1="129 Old Road"), addresses.put(131, "shipping"))
    harness.settle()
    sent = harness.feed_transaction(addresses.put(129, "shipping"), addresses.put(131, "billing",
                                                                                  line1="131 New Road"))
    assert [_line1(a) for a in _billing(sent)] == ["131 New Road"]


def test_a_second_matching_row_added_and_deleted_again_gives_the_first_back(addresses: Addresses) -> None:
    harness = addresses.harness
    first = harness.feed(addresses.put(129, "billing", line1="129 Old Road"))
    harness.settle()
    added = harness.feed(addresses.put(130, "billing", line1="130 Second Road", city="Suzhou"))
    assert [_line1(a) for a in _billing(added)] == ["130 Second Road"], "the row changed last is shown"
    harness.settle()
    back = harness.feed(addresses.delete(130))
    assert _billing(back) == _billing(first), "the first row's values, not null"
    assert harness.canonical(NUMBER)["billing_address"]["city"] == "Shanghai"
    assert harness.canonical(NUMBER)["provenance"]["billing_address"]["system"] == "crm"
    harness.settle()
    assert (harness.systems.accounts[NUMBER]["billing_line1"], harness.systems.accounts[NUMBER]["billing_city"]) == (
        "129 Old Road", "Shanghai")
    assert harness.outbox == [] and harness.dead_letters == [] and harness.conflicts() == []
    # the last matching row gone: on_delete clears the field
    (cleared,) = harness.feed(addresses.delete(129))
    assert _billing([cleared]) == [None]


def test_a_row_not_shown_that_stops_matching_or_is_deleted_changes_nothing(addresses: Addresses) -> None:
    harness = addresses.harness
    harness.feed(addresses.put(129, "billing", line1="129 Old Road"), addresses.put(130, "billing",
                                                                                    line1="130 Shown Road"))
    harness.settle()
    published = harness.canonical(NUMBER)
    assert _line1(published["billing_address"]) == "130 Shown Road"
    # row 129 leaves the billing source (it becomes the shipping address): billing stays row 130's
    assert harness.feed(addresses.put(129, "shipping")) == []
    assert harness.canonical(NUMBER)["billing_address"] == published["billing_address"]
    assert _line1(harness.canonical(NUMBER)["shipping_address"]) == "129 Old Road"
    # a row that never matched the billing source (a shipping address) deleted: billing as it was
    assert harness.feed(addresses.delete(129)) == []
    assert harness.canonical(NUMBER)["billing_address"] == published["billing_address"]
    assert harness.canonical(NUMBER)["shipping_address"] is None


def test_a_change_of_a_row_not_shown_shows_it_whole_and_one_changing_nothing_mapped_does_not(
        addresses: Addresses) -> None:
    harness = addresses.harness
    harness.feed(addresses.put(129, "billing", line1="129 Old Road"), addresses.put(130, "billing",
                                                                                    line1="130 Shown Road"))
    harness.settle()
    # row 129 is written again as it is (what the mapping reads of it unchanged): it is not changed
    assert harness.feed(addresses.put(129, "billing")) == []
    assert _line1(harness.canonical(NUMBER)["billing_address"]) == "130 Shown Road"
    # row 129's city changes: it is the row changed last, shown with every value it maps
    (sent,) = harness.feed(addresses.put(129, "billing", city="Hangzhou"))
    assert (_line1(sent.payload["billing_address"]), sent.payload["billing_address"]["city"]) == (
        "129 Old Road", "Hangzhou")


def test_a_state_written_before_matching_rows_were_kept_still_reads_and_works(addresses: Addresses) -> None:
    harness = addresses.harness
    harness.feed(addresses.put(129, "billing", line1="129 Old Road"), addresses.put(131, "shipping",
                                                                                    line1="131 New Road"))
    harness.settle()
    entities = harness.run.context.memory["entities"]
    codec = StateCodec(harness.flow.config)
    state = codec.decode(NUMBER, entities.get_raw(NUMBER))
    assert [row for row, _ in state.matching["crm_billing_address"]] == ["addresses:129"]
    old = codec.encode(NUMBER, dataclasses.replace(state, matching={}))  # the layout before: no such field
    assert len(unpack_tagged(old)) == len(unpack_tagged(codec.encode(NUMBER, state))) - 1
    entities.put_raw(NUMBER, old)
    # the switch of the user's report, on the old state: row 131 is recorded from its change, 129 never was
    sent = harness.feed_transaction(addresses.put(131, "billing"), addresses.put(129, "shipping"))
    assert [_line1(a) for a in _billing(sent)] == ["131 New Road"]
    state = codec.decode(NUMBER, entities.get_raw(NUMBER))
    assert [row for row, _ in state.matching["crm_billing_address"]] == ["addresses:131"]
    # a row never seen since, ending while nothing is recorded for its source, applies on_delete as before
    entities.put_raw(NUMBER, codec.encode(NUMBER, dataclasses.replace(state, matching={})))
    (cleared,) = harness.feed(addresses.delete(131))
    assert _billing([cleared]) == [None]
