"""A create the target refused counts as not created (the next source change sends ``create`` again, with the
current data), an end it refused as not ended (the system keeps the entity; nothing waits for that end's echo
any longer), and a key deleted then made again in the origin re-activates its counterpart."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from customer_events import Sent, decode_commands
from customer_harness import Harness

from streams.flows.topics import DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, REPLAY_NOTE, Original, dead_letter_value

pytestmark = pytest.mark.unit

NUMBER = "C-420001"


def _dead_letter(harness: Harness, sent: Sent, stage: str = "sink.erp",
                 reason: str = "422 billing_country: not a country") -> None:
    """The sink's dead letter of ``sent`` (a 422 from the target, unless ``reason`` says otherwise), fed to the
    flow."""
    (emitted,) = [e for e in harness.emitted if e.topic == sent.topic and e.value is not None
                  and harness.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
    original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=emitted.key,
                        value=emitted.value, headers=tuple(_headers(sent).items()))
    letter = dead_letter_value(original, reason=reason, error_type="TargetRefused",
                               stage=stage, attempts=1, worker="w1", failed_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    value = harness.schemas.encode(DEAD_LETTER_TYPE, letter)
    asyncio.run(harness.run.feed([harness.run.record(DLQ_TOPIC, emitted.key, value)]))


def _headers(sent: Sent) -> dict[str, bytes]:
    return {"isthmus.command_id": sent.record["command_id"].encode()}


def test_a_refused_create_is_sent_again_with_the_current_data_on_the_next_change(harness: Harness) -> None:
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Bad Row"))
    harness.outbox.clear()  # the ERP refuses it: no account
    _dead_letter(harness, create)
    assert harness.stored(NUMBER)["creating"] == {}
    (again,) = harness.feed(systems.crm_edit(NUMBER, name="Good Row"))
    assert again.route == ("Account", "create") and again.payload["name"] == "Good Row"
    assert again.record["idempotency_key"] != create.record["idempotency_key"]
    harness.settle()
    assert systems.accounts[NUMBER]["name"] == "Good Row" and harness.outbox == []


def test_updates_sent_on_top_of_a_refused_create_are_forgotten_with_it(harness: Harness) -> None:
    """The update on top changed the record since the create: it goes again at once, as a create with all of it."""
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Bad Row"))
    (update,) = harness.feed(systems.crm_edit(NUMBER, email="x@y.test"))
    assert update.route == ("Account", "update")
    harness.outbox.clear()
    start = len(harness.emitted)
    _dead_letter(harness, create)
    (again,) = decode_commands(harness.emitted[start:], harness.schemas)
    assert again.route == ("Account", "create") and again.payload["email"] == "x@y.test"
    assert harness.stored(NUMBER)["creating"] == {"erp": again.record["idempotency_key"]}


def test_a_dead_letter_of_another_stage_or_an_old_create_changes_nothing(harness: Harness) -> None:
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Acme"))
    _dead_letter(harness, create, stage="flow.isthmus-orders")
    assert harness.stored(NUMBER)["creating"] == {"erp": create.record["idempotency_key"]}
    harness.settle()
    _dead_letter(harness, create)  # linked by now: it exists, whatever an old letter says
    assert harness.feed(systems.crm_edit(NUMBER, phone="+86 21 5555")) != []
    assert all(s.route != ("Account", "create") for s in harness.sent[1:])


def test_delete_then_create_again_reactivates_the_account(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    harness.feed(systems.crm_delete(NUMBER))
    harness.settle()
    assert systems.accounts[NUMBER]["active"] == 0
    sent = harness.feed(systems.crm_create(NUMBER, name="Acme Again"))
    assert ("Account", "update") in [s.route for s in sent]
    (update,) = [s for s in sent if s.route == ("Account", "update")]
    assert "active" in update.changed and update.payload["active"] is True
    harness.settle()
    assert systems.accounts[NUMBER]["active"] == 1 and systems.accounts[NUMBER]["name"] == "Acme Again"
    assert harness.canonical(NUMBER)["active"] is True and harness.outbox == []


def test_a_snapshot_read_of_a_deleted_key_does_not_revive_it(harness: Harness) -> None:
    """Only a row the source makes asserts that the entity lives; a snapshot re-reads, it does not make."""
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    harness.feed(systems.crm_delete(NUMBER))
    harness.settle()
    systems.crm_create(NUMBER, name="Acme")
    read = systems.cdc.record("crm.crm.customers", "r", before=None, after=systems.customers[NUMBER])
    assert all(s.route != ("Account", "update") or "active" not in s.changed for s in harness.feed(read))


def test_a_refused_end_is_forgotten_and_the_entity_made_again_sends_only_what_changed(harness: Harness) -> None:
    """The ERP refuses to deactivate the account: it keeps it active, so nothing more waits for that end's echo."""
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    (deactivate,) = harness.feed(systems.crm_delete(NUMBER))
    harness.outbox.clear()
    start = len(harness.emitted)
    _dead_letter(harness, deactivate, reason="409 account has open orders")
    assert decode_commands(harness.emitted[start:], harness.schemas) == [], "an ended entity's end is not retried now"
    assert "active" not in harness.stored(NUMBER)["mirrors"]["erp"]["pending"]
    (update,) = [s for s in harness.feed(systems.crm_create(NUMBER, name="Acme Again")) if s.topic.endswith(".erp")]
    assert (update.route, update.changed) == (("Account", "update"), ("name",))
    harness.settle()
    assert systems.accounts[NUMBER]["active"] == 1 and systems.accounts[NUMBER]["name"] == "Acme Again"


def test_an_entity_made_again_while_its_end_was_on_its_way_is_decided_when_the_end_is_refused(
        harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    (deactivate,) = harness.feed(systems.crm_delete(NUMBER))
    assert [s for s in harness.feed(systems.crm_create(NUMBER, name="Acme Again")) if s.topic.endswith(".erp")] == []
    harness.outbox.clear()
    start = len(harness.emitted)
    _dead_letter(harness, deactivate, reason="409 account has open orders")
    (update,) = decode_commands(harness.emitted[start:], harness.schemas)
    assert (update.route, update.changed, update.payload["name"]) == (("Account", "update"), ("name",), "Acme Again")
    (note,) = [harness.schemas.decode(e.value, REPLAY_NOTE).value for e in harness.emitted[start:]
               if e.topic == DLQ_TOPIC and e.value is not None]
    assert note["way"] == "settled" and note["replayed_to"].endswith("the entity live again since")
