"""Replaying a dead-lettered command re-derives it: the entity flow answers a RederiveRequest with what its
current state needs in the dead letter's target system, so a fix made in the source since is what gets applied;
an entity it does not know gets the stored command re-sent as it was."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from customer_events import Sent, decode_commands
from customer_harness import Harness

from streams.flows.topics import DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, REPLAY_HEADER, Original, dead_letter_value
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.sinks.dlq import _replay_mark

pytestmark = pytest.mark.unit

NUMBER = "C-430001"
ASKED_AT = dt.datetime(2026, 3, 11, 9, 30, tzinfo=dt.UTC)


def _letter(harness: Harness, sent: Sent, stage: str = "sink.erp") -> bytes:
    """The sink's DeadLetter of ``sent`` (the target refused it)."""
    (emitted,) = [e for e in harness.emitted if e.topic == sent.topic and e.value is not None
                  and harness.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
    original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=emitted.key,
                        value=emitted.value, headers=emitted.headers)
    letter = dead_letter_value(original, reason="422 email: not an e-mail", error_type="TargetRefused", stage=stage,
                               attempts=1, worker="w1", failed_at=dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    return harness.schemas.encode(DEAD_LETTER_TYPE, letter)


def _dead_letter(harness: Harness, sent: Sent, stage: str = "sink.erp") -> tuple[int, bytes]:
    """Feed the dead letter of ``sent`` to the flow, as the sink writes it; returns its offset and value."""
    value = _letter(harness, sent, stage)
    record = harness.run.record(DLQ_TOPIC, sent.key.encode(), value)
    asyncio.run(harness.run.feed([record]))
    return record.offset, value


def _replay(harness: Harness, key: str, offset: int, letter: bytes, flow: str | None = None) -> list[Sent]:
    """What `isthmus topics dlq replay` writes by default for the dead letter at ``offset``; returns the commands
    the flow answered with."""
    request = RederiveRequest(flow=flow or harness.flow.name, dlq_topic=DLQ_TOPIC, dlq_partition=0,
                              dlq_offset=offset, dead_letter=letter, requested_at=ASKED_AT)
    record = harness.run.record(DLQ_TOPIC, key.encode(), harness.schemas.encode(REDERIVE_TYPE, request.to_avro()),
                                headers=tuple(request.headers()))
    start = len(harness.emitted)
    asyncio.run(harness.run.feed([record]))
    sent = decode_commands(harness.emitted[start:], harness.schemas)
    harness.outbox += sent
    harness.sent += sent
    return sent


def test_a_refused_create_corrected_since_is_created_again_at_once(harness: Harness) -> None:
    """The correction arrived while the create was in flight (an update on top of it, refused too): once the
    create is refused, the flow creates again at once with the corrected data (no change of the source is left
    to send it); a replay of the dead letter then finds that create on its way and sends nothing."""
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Acme", email="not an email"))
    (on_top,) = harness.feed(systems.crm_edit(NUMBER, email="billing@acme.test"))
    assert on_top.route == ("Account", "update")
    harness.outbox.clear()  # the ERP refuses the create (422) and has no account for the update (404)
    start = len(harness.emitted)
    offset, letter = _dead_letter(harness, create)
    (again,) = decode_commands(harness.emitted[start:], harness.schemas)
    assert again.route == ("Account", "create")
    assert again.payload["email"] == "billing@acme.test" and again.payload["name"] == "Acme"
    assert again.record["idempotency_key"] != create.record["idempotency_key"]
    assert again.record["source"]["connector"] == "isthmus.refused"
    # a note beside the dead letter: `dlq list` shows it settled, not pending
    (note,) = [e for e in harness.emitted[start:] if e.topic == DLQ_TOPIC]
    mark = _replay_mark(harness.schemas, DLQ_TOPIC, note.value)
    assert mark is not None and mark[0] == (0, offset) and mark[1].way == "settled" and mark[1].settled
    assert str(mark[1]).startswith(f"settled by {harness.flow.name}: create {again.record['command_id']} to erp")
    assert _replay(harness, NUMBER, offset, letter) == [], "its create is on its way"
    harness.outbox.append(again)
    harness.settle()
    assert systems.accounts[NUMBER]["email"] == "billing@acme.test" and harness.outbox == []


def test_a_refused_create_unchanged_since_waits_and_its_replay_creates(harness: Harness) -> None:
    """The target refused the create for a reason of its own (fixed there since): the record is as the create
    carried it, so the flow sends nothing again by itself (the same data); the replay creates it."""
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Acme", email="billing@acme.test"))
    harness.outbox.clear()
    start = len(harness.emitted)
    offset, letter = _dead_letter(harness, create)
    assert decode_commands(harness.emitted[start:], harness.schemas) == []
    (again,) = _replay(harness, NUMBER, offset, letter)
    assert again.route == ("Account", "create") and again.payload["email"] == "billing@acme.test"
    assert again.record["idempotency_key"] != create.record["idempotency_key"]
    assert again.record["causation"]["parent_command_id"] == create.record["command_id"]
    assert again.record["causation"]["correlation_id"] == f"replay of {DLQ_TOPIC}[0]@{offset}"
    (emitted,) = [e for e in harness.emitted if e.topic == again.topic and e.value is not None
                  and harness.schemas.decode(e.value).value["command_id"] == again.record["command_id"]]
    note = json.loads(dict(emitted.headers)[REPLAY_HEADER])
    assert (note["dlq_topic"], note["dlq_partition"], note["dlq_offset"]) == (DLQ_TOPIC, 0, offset)
    harness.settle()
    assert systems.accounts[NUMBER]["email"] == "billing@acme.test" and harness.outbox == []


def test_an_existing_entity_gets_an_update_with_the_current_values(harness: Harness) -> None:
    """An update refused with a bad e-mail and a new name; the e-mail fixed while it was on its way (only the
    e-mail goes out then, the ERP route sends the changed fields), the name not yet sent again. The replay sends
    what the ERP may not hold, with today's values: the name, and the e-mail still on its way, as fixed."""
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme", email="a@acme.test"))
    harness.settle()
    (refused,) = harness.feed(systems.crm_edit(NUMBER, name="Acme Ltd", email="not an email"))
    harness.outbox.clear()  # 422
    (fixed,) = harness.feed(systems.crm_edit(NUMBER, email="b@acme.test"))
    assert fixed.changed == ("email",)
    offset, letter = _dead_letter(harness, refused)
    (update,) = _replay(harness, NUMBER, offset, letter)
    assert update.route == ("Account", "update") and update.changed == ("name", "email")
    assert update.payload["name"] == "Acme Ltd" and update.payload["email"] == "b@acme.test"
    assert update.record["idempotency_key"] != refused.record["idempotency_key"]
    harness.settle()
    assert systems.accounts[NUMBER]["name"] == "Acme Ltd" and systems.accounts[NUMBER]["email"] == "b@acme.test"
    assert harness.outbox == [] and harness.feed(systems.crm_edit(NUMBER, phone="+49 30 1234")) != []


def test_nothing_is_sent_when_the_system_holds_the_current_values(harness: Harness) -> None:
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    (refused,) = harness.feed(systems.crm_edit(NUMBER, email="not an email"))
    harness.outbox.clear()
    offset, letter = _dead_letter(harness, refused)
    harness.feed(systems.crm_edit(NUMBER, email="a@acme.test"))
    harness.settle()
    assert _replay(harness, NUMBER, offset, letter) == []
    assert harness.run.context.counts["rederived"] == 1


def test_an_entity_the_flow_does_not_know_gets_the_stored_command_again(harness: Harness) -> None:
    """No derived command (the flow has no state of it): the stored bytes are re-sent to their topic, marked as a
    replay, and counted."""
    other = Harness(flow=harness.flow, schemas=harness.schemas)  # the same flow, its state lost since
    (create,) = other.feed(other.systems.crm_create(NUMBER, name="Acme"))
    letter = _letter(other, create)
    before = len(harness.emitted)
    assert _replay(harness, NUMBER, 3, letter) == [create]
    out = harness.emitted[before:]
    assert [(e.topic, e.key, e.value) for e in out] == [
        (create.topic, NUMBER.encode(), next(e.value for e in other.emitted if e.topic == create.topic))]
    assert json.loads(dict(out[0].headers)[REPLAY_HEADER])["dlq_offset"] == 3
    assert harness.run.context.counts["rederive_as_stored"] == 1
    assert harness.stored(NUMBER) is None


def test_a_request_for_another_flow_or_a_letter_of_another_stage(harness: Harness) -> None:
    systems = harness.systems
    (create,) = harness.feed(systems.crm_create(NUMBER, name="Acme"))
    harness.settle()
    before = len(harness.emitted)
    _replay(harness, NUMBER, 1, _letter(harness, create), flow="isthmus-customers-elsewhere")
    assert harness.emitted[before:] == []
    _replay(harness, NUMBER, 2, _letter(harness, create, stage="flow.isthmus-orders"))
    assert [e.topic for e in harness.emitted[before:]] == [create.topic]
    assert harness.run.context.counts["rederive_as_stored"] == 1


def test_a_refused_link_with_the_erp_defaults_is_sent_again_as_one_update(harness: Harness) -> None:
    """The CRM refused the one update that carried the link and the defaults the ERP filled in: the replay sends
    them again together, as the flow decided them (flows/customers.yaml lists erp_account_id in the CRM's writes)."""
    systems = harness.systems
    harness.feed(systems.crm_create(NUMBER, name="Acme"))
    (create,) = harness.outbox
    harness.outbox.clear()
    merged: list[Sent] = []
    for echo in systems.apply(create):
        merged += harness.feed(echo)
    assert [s.route for s in merged] == [("Customer", "update")]
    harness.outbox.clear()  # the CRM refuses it
    offset, letter = _dead_letter(harness, merged[0], stage="sink.crm")
    (again,) = _replay(harness, NUMBER, offset, letter)
    assert again.route == ("Customer", "update")
    assert again.changed == ("erp_account_id", "credit_limit", "payment_terms")
    harness.settle()
    assert systems.customers[NUMBER]["erp_account_id"] == systems.accounts[NUMBER]["account_id"]
    assert harness.outbox == [] and harness.conflicts() == []
