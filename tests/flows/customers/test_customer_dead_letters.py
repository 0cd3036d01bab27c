"""Poison input goes to the dead-letter topic with a clear reason and the flow's stage; the pipeline keeps
going, and a rejected record leaves no trace in the flow's state."""

from __future__ import annotations

import json

from customer_events import crm_customer_row, erp_account_row
from customer_harness import Harness

from reference.topics import CRM_CUSTOMERS, ERP_ACCOUNTS
from streams.flows.customers import STAGE


def test_malformed_json_is_dead_lettered_and_the_next_record_is_processed(harness: Harness) -> None:
    _, key, _ = harness.systems.crm_create("C-600000", name="Never Sent")
    assert harness.feed((CRM_CUSTOMERS, key, b"{not json")) == []
    (letter,) = harness.dead_letters
    assert letter.stage == STAGE == "flow.isthmus-customers"
    assert "not a Debezium change event" in letter.reason and "not JSON" in letter.reason
    assert letter.record.value == b"{not json" and letter.record.topic == CRM_CUSTOMERS
    (sent,) = harness.feed(harness.systems.crm_create("C-600001", name="After The Poison"))
    assert sent.route == ("Account", "create")


def test_json_without_the_connect_schema_names_the_converter_fix(harness: Harness) -> None:
    harness.feed((CRM_CUSTOMERS, None, json.dumps({"id": 1, "name": "x"}).encode()))
    (letter,) = harness.dead_letters
    assert "schemas.enable=true" in letter.reason


def test_unmappable_change_is_dead_lettered_without_touching_state(harness: Harness) -> None:
    topic, key, value = harness.systems.crm_create("C-600002", name="Fine")
    document = json.loads(value)
    document["payload"]["after"]["customer_number"] = "X-42"
    assert harness.feed((topic, key, json.dumps(document).encode())) == []
    (letter,) = harness.dead_letters
    assert "account.yaml" in letter.reason and "account_code" in letter.reason
    assert "'X-42' does not start with 'C-'" in letter.reason and letter.record.offset == 0
    assert len(harness.run.context.memory["entities"]) == 0
    assert len(harness.run.context.memory["index"]) == 0
    assert harness.emitted == []


def test_erp_account_with_an_unknown_boolean_is_dead_lettered(harness: Harness) -> None:
    topic, key, value = harness.systems.erp_create("C-600003", name="Odd")
    document = json.loads(value)
    document["payload"]["after"]["blocked"] = 7
    harness.feed((topic, key, json.dumps(document).encode()))
    (letter,) = harness.dead_letters
    assert "blocked" in letter.reason and "erp accounts change" in letter.reason


def test_a_record_from_a_topic_the_flow_does_not_read_is_dead_lettered(harness: Harness) -> None:
    harness.feed(("crm.crm.products", b"{}", b"{}"))
    (letter,) = harness.dead_letters
    assert "not an input of isthmus-customers" in letter.reason


def test_tombstones_and_accounts_without_a_crm_customer_are_skipped_quietly(harness: Harness) -> None:
    topic, key, _ = harness.systems.crm_create("C-600004", name="Gone")
    assert harness.feed((topic, key, None)) == []
    foreign = erp_account_row(9100, crm_customer_number=None, name="Made In The ERP")
    assert harness.feed(harness.systems.cdc.record(ERP_ACCOUNTS, "c", before=None, after=foreign)) == []
    assert harness.dead_letters == [] and harness.emitted == []


def test_snapshot_row_decodes_like_a_change(harness: Harness) -> None:
    row = crm_customer_row("C-600005", 65, name="Snap")
    (sent,) = harness.feed(harness.systems.cdc.record(CRM_CUSTOMERS, "r", before=None, after=row, snapshot="last"))
    assert sent.route == ("Account", "create") and harness.dead_letters == []


def test_a_value_that_cannot_be_read_is_not_called_no_change_event(harness: Harness) -> None:
    """A new user's PostgreSQL 'infinity' dates were dead-lettered as "not a Debezium change event", though each
    was one: only a value of it could not be read. The reason says so, and keeps the value's own message."""
    topic, key, value = harness.systems.crm_create("C-600003", name="Odd Balance")
    document = json.loads(value)
    document["payload"]["after"]["open_balance"] = "not base64!"
    assert harness.feed((topic, key, json.dumps(document).encode())) == []
    (letter,) = harness.dead_letters
    assert letter.reason.startswith("a value of this change cannot be read: "), letter.reason
    assert "invalid base64 'not base64!'" in letter.reason and "not a Debezium change event" not in letter.reason
