"""Addresses and contacts: CRM-owned parts of the customer. A billing address reaches the ERP account;
rows whose customer is not known yet wait and are completed when it arrives; deletes whose before-image
holds only the key still find their customer."""

from __future__ import annotations

import pytest
from customer_harness import Harness

from reference.topics import CRM_ADDRESSES

NUMBER = "C-300001"


@pytest.fixture
def linked(harness: Harness) -> Harness:
    harness.feed(harness.systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    return harness


def test_billing_address_reaches_the_erp_account(linked: Harness) -> None:
    (sent,) = linked.feed(linked.systems.crm_address(NUMBER, "billing", line1="8 Bund Road", line2="Floor 3"))
    assert sent.route == ("Account", "update") and sent.changed == ("billing_address",)
    assert sent.payload["billing_address"] == {"kind": "billing", "line1": "8 Bund Road", "line2": "Floor 3",
                                               "city": "Shanghai", "postal_code": "200000", "country": "CN"}
    linked.settle()
    account = linked.systems.accounts[NUMBER]
    assert (account["billing_line1"], account["billing_city"]) == ("8 Bund Road", "Shanghai")
    assert linked.outbox == [] and linked.conflicts() == []
    assert linked.canonical(NUMBER)["billing_address"]["line2"] == "Floor 3"


def test_second_address_line_the_erp_does_not_keep_sends_nothing(linked: Harness) -> None:
    linked.feed(linked.systems.crm_address(NUMBER, "billing"))
    linked.settle()
    assert linked.feed(linked.systems.crm_address(NUMBER, "billing", line2="Suite 9")) == []
    assert linked.canonical(NUMBER)["billing_address"]["line2"] == "Suite 9"


def test_shipping_address_is_kept_but_not_sent_to_the_erp(linked: Harness) -> None:
    assert linked.feed(linked.systems.crm_address(NUMBER, "shipping", line1="9 Dock Street")) == []
    assert linked.canonical(NUMBER)["shipping_address"]["line1"] == "9 Dock Street"


def test_address_delete_with_a_key_only_before_image_clears_the_address(linked: Harness) -> None:
    linked.feed(linked.systems.crm_address(NUMBER, "shipping"))
    assert linked.feed(linked.systems.crm_address_delete(NUMBER, "shipping")) == []
    assert linked.canonical(NUMBER)["shipping_address"] is None
    assert linked.dead_letters == []


def test_address_before_its_customer_waits_and_then_goes_out_with_the_account(harness: Harness) -> None:
    systems = harness.systems
    customer = systems.crm_create(NUMBER, name="Acme")
    address = systems.crm_address(NUMBER, "billing", line1="1 Early Road")
    assert harness.feed(address) == [] and harness.dead_letters == []
    parked = harness.run.context.memory["parked"]
    assert len(parked) == 2  # the address and the index of what waits for its customer
    sent = harness.feed(customer)
    assert [s.route for s in sent] == [("Account", "create"), ("Account", "update")]
    assert sent[1].payload["billing_address"]["line1"] == "1 Early Road" and len(parked) == 0
    harness.settle()
    assert systems.accounts[NUMBER]["billing_line1"] == "1 Early Road" and harness.outbox == []


def test_contacts_are_kept_in_the_customer_and_send_nothing(linked: Harness) -> None:
    systems = linked.systems
    assert linked.feed(systems.crm_contact(NUMBER, first_name="Li", last_name="Wei", email="li@acme.cn")) == []
    (contact_id,) = systems.contacts
    linked.feed(systems.crm_contact(NUMBER, first_name="Zhang", last_name="Min"))
    linked.feed(systems.crm_contact(NUMBER, contact_id, role="owner"))
    contacts = linked.canonical(NUMBER)["contacts"]
    assert [(c["first_name"], c["role"]) for c in contacts] == [("Li", "owner"), ("Zhang", "buyer")]
    linked.feed(systems.crm_contact_delete(contact_id))
    assert [c["first_name"] for c in linked.canonical(NUMBER)["contacts"]] == ["Zhang"]
    assert linked.outbox == [] and linked.dead_letters == []


def test_contact_before_its_customer_waits(harness: Harness) -> None:
    systems = harness.systems
    customer = systems.crm_create(NUMBER, name="Acme")
    contact = systems.crm_contact(NUMBER, first_name="Early", last_name="Bird")
    harness.feed(contact)
    harness.feed(customer)
    assert [c["first_name"] for c in harness.canonical(NUMBER)["contacts"]] == ["Early"]


def test_delete_of_a_row_never_seen_is_a_no_op(harness: Harness) -> None:
    systems = harness.systems
    systems.crm_create(NUMBER, name="Acme")
    systems.crm_contact(NUMBER, first_name="Unseen", last_name="Row")
    (contact_id,) = systems.contacts
    assert harness.feed(systems.crm_contact_delete(contact_id)) == []
    assert harness.dead_letters == [] and len(harness.run.context.memory["parked"]) == 0


def test_address_moved_to_the_other_kind_leaves_the_first_one_empty(linked: Harness) -> None:
    systems = linked.systems
    linked.feed(systems.crm_address(NUMBER, "billing", line1="5 Moving Lane"))
    linked.settle()
    row = {**systems.addresses.pop((NUMBER, "billing")), "kind": "shipping"}
    systems.addresses[(NUMBER, "shipping")] = row
    # PostgreSQL's default replica identity: the update carries no before-image
    (sent,) = linked.feed(systems.cdc.record(CRM_ADDRESSES, "u", before=None, after=row))
    # the ERP keeps only a billing address: the one it had is cleared (a null is a value)
    assert sent.route == ("Account", "update") and sent.changed == ("billing_address",)
    assert sent.payload["billing_address"] is None
    customer = linked.canonical(NUMBER)
    assert customer["billing_address"] is None and customer["shipping_address"]["line1"] == "5 Moving Lane"
