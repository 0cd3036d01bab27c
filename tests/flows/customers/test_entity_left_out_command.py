"""A sink dead letter too large to keep its command (streams/sinks/bounded.py) still tells the entity flow what was
refused, and its replay is re-derived from the flow's state: the stored value is not needed.

A new user's SaaS (write-only, reached over HTTP) answered 413 to an organisation create whose notes were 1.7 MB;
the sink's dead letter could not carry the command within the producer's bound. Run through LocalRun with the real
handler, on the made-up ``hub`` and write-only ``saas`` of test_entity_write_only.py, the dead letter made by the
sink's own bounding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from customer_events import Sent
from test_entity_block import Parties, _party
from test_entity_write_only import ASKED_AT, CODE, _emitted_by, _replay, _run

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.topics import DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value, value_left_out
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.kafka.sizes import MIN_MAX_REQUEST_SIZE, record_size
from streams.sinks.bounded import bounded_letter
from streams.sinks.records import output_headers

pytestmark = pytest.mark.unit

#: Longer than the sink's smallest bound: the dead letter cannot keep the command.
HUGE = "Acme " * 20_000


def _left_out_letter(run: Parties, sent: Sent) -> tuple[int, bytes]:
    """The saas sink dead-letters ``sent`` (413), within its bound, so without the command; the flow reads it."""
    (emitted,) = [e for e in run.run.context.emitted if e.topic == sent.topic and e.value is not None
                  and run.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
    original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=emitted.key,
                        value=emitted.value, headers=tuple(emitted.headers))
    letter = dead_letter_value(original, reason="SAAS answered 413 to POST /orgs: request body too large",
                               error_type="TargetRefused", stage="sink.saas", attempts=1, worker="w1")
    headers = output_headers(command_id=sent.record["command_id"], stage="sink.saas")
    value, whole = bounded_letter(run.schemas, letter, key=emitted.key, headers=headers, limit=MIN_MAX_REQUEST_SIZE,
                                  command=run.schemas.decode(emitted.value).value)
    assert whole is not None and record_size(emitted.key, value, headers) <= MIN_MAX_REQUEST_SIZE
    assert value_left_out(run.schemas.decode(value, DEAD_LETTER_TYPE).value) == len(emitted.value or b"")
    record = run.run.record(DLQ_TOPIC, sent.key.encode(), value)
    asyncio.run(run.run.feed([record]))
    return record.offset, value


def test_a_refused_create_left_out_of_its_dead_letter_is_forgotten_and_its_replay_creates(
        tmp_path: Path, schemas: SchemaStore) -> None:
    run = _run(tmp_path, schemas)
    (create,) = run.change("hub", "party", "c", after=_party(display_name=HUGE))
    assert create.route == ("Account", "create")
    dead: list[tuple[int, bytes]] = []
    # the same data would be refused again: nothing is sent by the dead letter itself (its payload's digest)
    assert _emitted_by(run, lambda: dead.append(_left_out_letter(run, create))) == []
    assert run.run.context.dead_letters == []
    (again,) = _replay(run, *dead[0])  # derived from the state: a create, for the saas holds nothing
    assert (again.route, again.payload["name"]) == (("Account", "create"), HUGE)
    assert again.record["causation"]["parent_command_id"] == create.record["command_id"]
    assert again.record["idempotency_key"] != create.record["idempotency_key"]


def test_a_refused_create_left_out_and_shortened_since_creates_again_at_once(
        tmp_path: Path, schemas: SchemaStore) -> None:
    """The source value was shortened while the create was in flight: once the create is refused, the flow creates
    again with the data it has now; before, it never learnt the create was refused and sent updates to nothing."""
    run = _run(tmp_path, schemas)
    (create,) = run.change("hub", "party", "c", after=_party(display_name=HUGE))
    (update,) = run.change("hub", "party", "u", before=_party(display_name=HUGE), after=_party())
    assert update.route == ("Account", "update")
    (again,) = _emitted_by(run, lambda: _left_out_letter(run, create))
    assert (again.route, again.payload["name"]) == (("Account", "create"), "Acme")


def test_a_left_out_command_the_flow_does_not_know_is_refused_not_sent_empty(
        tmp_path: Path, schemas: SchemaStore) -> None:
    """A replay the flow cannot derive again (an entity it does not know) would re-send the stored command: there is
    none, so the request is dead-lettered saying why, and no empty record goes to the commands topic."""
    run = _run(tmp_path, schemas)
    (create,) = run.change("hub", "party", "c", after=_party(display_name=HUGE))
    offset, letter = _left_out_letter(run, create)
    (tmp_path / "other").mkdir()
    other = _run(tmp_path / "other", schemas)  # a flow whose state does not know the entity
    start = len(other.run.context.emitted)
    request = RederiveRequest(flow=other.flow.name, dlq_topic=DLQ_TOPIC, dlq_partition=0, dlq_offset=offset,
                              dead_letter=letter, requested_at=ASKED_AT)
    record = other.run.record(DLQ_TOPIC, CODE.encode(), schemas.encode(REDERIVE_TYPE, request.to_avro()),
                              headers=tuple(request.headers()))
    asyncio.run(other.run.feed([record]))
    assert [e for e in other.run.context.emitted[start:] if e.topic.startswith("isthmus.commands")] == []
    (refused,) = other.run.context.dead_letters
    assert "its stored command cannot be re-sent: the dead letter left its value" in refused.reason
