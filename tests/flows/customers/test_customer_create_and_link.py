"""A CRM customer becomes an ERP account once; the account that comes back links the two, and the CRM gets
the link and the ERP-owned fields."""

from __future__ import annotations

import json
from decimal import Decimal

from customer_events import Systems, crm_customer_row
from customer_harness import Harness

from reference.topics import COMMANDS_CRM, COMMANDS_ERP, CRM_CUSTOMERS


def test_crm_customer_created_becomes_one_account_create(harness: Harness) -> None:
    systems = harness.systems
    (sent,) = harness.feed(systems.crm_create("C-100001", name="Acme Trading", email="buyer@acme.cn",
                                              phone="+86 21 5555 0101"))
    assert sent.topic == COMMANDS_ERP and sent.key == "C-100001" and sent.route == ("Account", "create")
    assert sent.record["target"] == "erp" and sent.record["entity_type"] == "isthmus.canonical.Customer"
    assert sent.record["payload_type"] == "isthmus.canonical.Account" and sent.changed == ()
    assert {k: sent.payload[k] for k in ("account_code", "crm_customer_number", "name", "email", "phone")} == {
        "account_code": "AC-100001", "crm_customer_number": "C-100001", "name": "Acme Trading",
        "email": "buyer@acme.cn", "phone": "+86 21 5555 0101"}
    assert sent.record["source"]["table"] == "customers" and sent.record["source"]["system"] == "crm"
    assert sent.record["causation"]["event_id"].startswith("crm:lsn=")


def test_create_is_sent_once_while_pending_and_later_edits_follow_it(harness: Harness) -> None:
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create("C-100002", name="Acme"))
    (update,) = harness.feed(systems.crm_edit("C-100002", name="Acme Ltd"))
    assert update.route == ("Account", "update") and update.changed == ("name",)
    assert update.payload["name"] == "Acme Ltd" and update.payload["crm_customer_number"] == "C-100002"
    assert harness.feed(systems.crm_edit("C-100002", email="ap@acme.cn"))[0].changed == ("email",)
    stored = harness.stored("C-100002")
    assert stored is not None and stored["creating"] == {"erp": create.record["idempotency_key"]}


def test_account_coming_back_links_both_systems(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create("C-100003", name="Acme", email="a@acme.cn"))
    applied = harness.settle()
    # the link rides with the update of the defaults the ERP filled in (flows/customers.yaml lists
    # erp_account_id in the CRM's writes): one CRM command, one echo
    assert [s.route for s in applied] == [("Account", "create"), ("Customer", "update")]
    mirrored = applied[1]
    account_id = systems.accounts["C-100003"]["account_id"]
    assert mirrored.topic == COMMANDS_CRM
    assert mirrored.changed == ("erp_account_id", "credit_limit", "payment_terms")
    assert mirrored.payload["erp_account_id"] == account_id
    assert mirrored.payload["credit_limit"] == "0.00" and mirrored.payload["payment_terms"] == "NET30"
    assert systems.customers["C-100003"]["erp_account_id"] == account_id
    customer = harness.canonical("C-100003")
    assert customer["erp_account_id"] == account_id and customer["account_code"] == "AC-100003"
    assert customer["credit_limit"] == Decimal("0.00") and customer["name"] == "Acme"
    assert customer["provenance"]["credit_limit"]["system"] == "erp"
    assert customer["provenance"]["name"]["system"] == "crm"
    stored = harness.stored("C-100003")
    assert stored is not None and stored["creating"] == {} and stored["xref"]["linked_at"] is not None
    assert harness.conflicts() == []


def test_snapshot_read_of_an_unlinked_customer_creates_the_account(harness: Harness) -> None:
    row = crm_customer_row("C-100004", 44, name="Snapshot Co")
    # the snapshot's one read, its last: decided at once (reads before the last wait for it: .snapshots)
    (sent,) = harness.feed(harness.systems.cdc.record(CRM_CUSTOMERS, "r", before=None, after=row, snapshot="last"))
    assert sent.route == ("Account", "create") and sent.record["source"]["snapshot"] is True


def test_snapshot_read_of_a_customer_the_crm_already_links_creates_nothing(harness: Harness) -> None:
    row = crm_customer_row("C-100005", 45, name="Linked Co", erp_account_id=9005, credit_limit=Decimal("10.00"),
                           payment_terms="NET30")
    assert harness.feed(harness.systems.cdc.record(CRM_CUSTOMERS, "r", before=None, after=row, snapshot="last")) == []
    assert harness.canonical("C-100005")["name"] == "Linked Co"


def test_account_already_in_the_erp_is_linked_not_created(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.erp_create("C-100006", name="Old Name", credit_limit=Decimal("5000.00"),
                                    payment_terms="NET60"))
    sent = harness.feed(systems.crm_create("C-100006", name="New Name", credit_limit=Decimal("5000.00"),
                                           payment_terms="NET60"))
    assert [s.route for s in sent] == [("Account", "update"), ("CustomerAccountXref", "update")]
    assert sent[0].changed == ("name",) and sent[0].payload["name"] == "New Name"
    harness.settle()
    assert harness.outbox == [] and systems.accounts["C-100006"]["name"] == "New Name"


def test_idempotency_keys_do_not_depend_on_when_the_change_is_processed(harness: Harness) -> None:
    record = harness.systems.crm_create("C-100007", name="Acme")
    (first,) = harness.feed(record)
    again = Harness(flow=harness.flow, schemas=harness.schemas, systems=Systems())
    (second,) = again.feed(record)
    assert first.record["idempotency_key"] == second.record["idempotency_key"]
    assert first.record["command_id"] == second.record["command_id"]
    (other,) = again.feed(harness.systems.crm_create("C-100008", name="Acme"))
    assert other.record["idempotency_key"] != first.record["idempotency_key"]


def test_crm_customer_with_empty_mirrors_of_an_existing_account_is_no_conflict(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.erp_create("C-100009", name="Acme", credit_limit=Decimal("300.00")))
    sent = harness.feed(systems.crm_create("C-100009", name="Acme"))
    assert [s.route for s in sent] == [("Customer", "update")]
    assert sent[0].changed == ("erp_account_id", "credit_limit", "payment_terms")
    assert sent[0].payload["credit_limit"] == "300.00"
    assert harness.conflicts() == []
    harness.settle()
    assert harness.outbox == [] and harness.conflicts() == []


def test_the_topic_says_which_table_a_change_is_of_not_the_table_inside_the_event(harness: Harness) -> None:
    """A connector may route a table's changes under another name (a partitioned or sharded table, a routing
    SMT): the flow reads what the system file says the topic carries."""
    topic, key, value = harness.systems.crm_create("C-100009", name="Routed Ltd")
    assert topic == CRM_CUSTOMERS and value is not None
    envelope = json.loads(value)
    envelope["payload"]["source"]["table"] = "customers_2026_12"
    (sent,) = harness.feed((topic, key, json.dumps(envelope).encode()))
    assert sent.route == ("Account", "create") and sent.payload["name"] == "Routed Ltd"
    assert not harness.dead_letters
