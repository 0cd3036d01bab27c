"""A refusal no flow reads from the results topic is a dead letter, never a write taken as made (a new user's
trial: an invoice flow of the entity block, with its lines as a child list, into a write-only API whose target
file takes 100 lines a call and declares no ``parts``; invoices of 150 and 2,000 lines were refused by the sink as
too big, written only to ``isthmus.results.<target>``, which no entity flow reads: no dead letter, no hold, and
the flow took them as created, for ever).

Run through LocalRun with the real handler, the real sink deliverer and HTTP adapter (httpx's in-memory
transport as the target), on made-up ``desk`` (captured) and ``fs`` (written only) systems, with schemas of the
test's own: a ticket with three comments, ``fs`` taking two a call."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from customer_events import Sent, decode_commands
from support.envelopes import change_record
from support.systems import system, write_only
from support.tx_events import one_transaction
from test_entity_child_lists import AUFTRAG, COLUMNS, KOMMENTAR, _catalogs, _comment, _ticket, ticket_schemas
from test_entity_child_lists import FLOW as CHILD_FLOW
from test_entity_child_lists import LINK as CHILD_LINK
from test_entity_child_lists import TICKET as CHILD_TICKET

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.files import load_flow_files
from streams.flows.topics import DLQ_TOPIC
from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
from streams.kafka.rederive import REDERIVE_TYPE, RederiveRequest
from streams.mapping import load_mappings
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Failed
from streams.sinks.records import decode_command
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

__all__ = ["ticket_schemas"]  # the fixture, shared with test_entity_child_lists

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
NUMBER = "T-2026-000001"



def _desk_only(mapping: str) -> str:
    """A mapping of test_entity_child_lists without what fs reports: fs is written only here."""
    return mapping.split("  fs_auftrag:\n")[0].replace("fields:\n  auftrag_id: {owner: fs, policy: owner_wins}\n", "")


TICKET, LINK = _desk_only(CHILD_TICKET), _desk_only(CHILD_LINK).replace(
    "  auftrag_id: {owner: fs, policy: owner_wins}\n", "")
#: The flow of test_entity_child_lists with fs written only: no id of its own there.
FLOW = CHILD_FLOW.replace("      id: auftrag_id\n", "")
TARGET = """\
system: fs
adapter: http
limits: {{lines_per_call: {limit}}}
routes:
  - payload_type: Auftrag
    operation: create
    method: POST
    path: /auftraege
    body:
      ref: ticket_ref
      titel: titel
      kommentare: {{from: kommentare, each: {{text: text}}}}
  - payload_type: Auftrag
    operation: update
    method: PATCH
    path: /auftraege/{{ticket_ref}}
    body:
      titel: titel
      kommentare: {{from: kommentare, each: {{text: text}}}}
"""


def _systems() -> Systems:
    return Systems({"desk": system("desk", engine=Engine.POSTGRESQL, writable=True), "fs": write_only("fs")},
                   directory=Path("systems"))


class Trial:
    def __init__(self, tmp_path: Path, schemas: SchemaStore) -> None:
        for folder, files in {"mappings": {"ticket": TICKET, "ticket_link": LINK, "ticket_kommentar": KOMMENTAR,
                                           "auftrag": AUFTRAG}, "flows": {"auftraege": FLOW}}.items():
            (tmp_path / folder).mkdir()
            for stem, text in files.items():
                (tmp_path / folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
        self.tmp_path = tmp_path
        self.schemas = schemas
        self.systems = _systems()
        mappings = load_mappings(tmp_path / "mappings", schemas=schemas.schemas, tables=_catalogs(),
                                 systems=self.systems)
        (flow,) = load_flow_files(tmp_path / "flows")
        config = entity_config(flow, mappings, schemas.schemas.named, self.systems)
        self.flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=self.systems, config=config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.now = T0
        self.position = 1000
        #: What the fs API was sent: (method, path, comments carried).
        self.calls: list[tuple[str, str, int]] = []

    def change(self, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> tuple[str, bytes, bytes]:
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        columns = {c: (t, n) for c, (_, t, n) in COLUMNS[("desk", table)].items()}
        key, value = change_record("desk", table, op, columns=columns, key="id", engine=Engine.POSTGRESQL,
                                   namespace="desk", at=self.now, position=self.position, before=before, after=after)
        return self.systems["desk"].topic(table), key, value

    def feed(self, *changes: tuple[str, bytes | None, bytes | None]) -> list[Sent]:
        """Process ``changes`` (made one source transaction) in one batch; the commands they caused."""
        start = len(self.run.context.emitted)
        records = one_transaction(changes)
        asyncio.run(self.run.feed([self.run.record(t, k, v) for t, k, v in records]))
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def sink(self, sent: Sent, *, limit: int) -> Delivered:
        """The fs sink (its target file taking ``limit`` comments a call) delivers ``sent`` as emitted; the fs API
        answers every call with 201."""
        path = self.tmp_path / f"fs-{limit}.yaml"
        path.write_text(TARGET.format(limit=limit), encoding="utf-8")
        config = load_target(path, self.schemas.schemas, writable=["fs"])

        def answer(request: httpx.Request) -> httpx.Response:
            self.calls.append((request.method, request.url.path, len(json.loads(request.content)["kommentare"])))
            return httpx.Response(201, json={"id": 500})

        async def run() -> Delivered:
            adapter = HttpAdapter(config, base_url="http://fs.test", timeout_s=5, max_connections=2, env={},
                                  secrets_file=self.tmp_path / "none", transport=httpx.MockTransport(answer))
            deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=2, reset_s=0.01)),
                                  config=config, policy=RetryPolicy(backoff=Backoff(base=0.001, jitter=0)))
            try:
                return await deliverer.deliver(decode_command(self.schemas, self._emitted(sent)[1]))
            finally:
                await adapter.close()

        return asyncio.run(run())

    def _emitted(self, sent: Sent) -> tuple[bytes | None, bytes]:
        (emitted,) = [e for e in self.run.context.emitted if e.topic == sent.topic and e.value is not None
                      and self.schemas.decode(e.value).value["command_id"] == sent.record["command_id"]]
        assert emitted.value is not None
        return emitted.key, emitted.value

    def dead_letter(self, sent: Sent, failed: Failed) -> tuple[int, bytes]:
        """The sink's dead letter of ``sent`` for ``failed``, as its worker writes it, read by the flow; its offset
        and value."""
        key, value = self._emitted(sent)
        original = Original(topic=sent.topic, partition=0, offset=7, timestamp_ms=0, key=key, value=value,
                            headers=(("isthmus.command_id", sent.record["command_id"].encode()),))
        letter = self.schemas.encode(DEAD_LETTER_TYPE, dead_letter_value(
            original, reason=failed.reason, error_type=failed.error_type, stage="sink.fs", attempts=1, worker="w1",
            failed_at=self.now))
        record = self.run.record(DLQ_TOPIC, key, letter)
        asyncio.run(self.run.feed([record]))
        return record.offset, letter

    def replay(self, offset: int, letter: bytes) -> list[Sent]:
        """What `isthmus topics dlq replay` writes by default; the commands the flow answers with."""
        request = RederiveRequest(flow=self.flow.name, dlq_topic=DLQ_TOPIC, dlq_partition=0, dlq_offset=offset,
                                  dead_letter=letter, requested_at=self.now)
        record = self.run.record(DLQ_TOPIC, NUMBER.encode(), self.schemas.encode(REDERIVE_TYPE, request.to_avro()),
                                 headers=tuple(request.headers()))
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([record]))
        return decode_commands(self.run.context.emitted[start:], self.schemas)


def _created(trial: Trial) -> Sent:
    """A ticket made with three comments in one transaction: one create carrying them."""
    (create,) = trial.feed(trial.change("ticket", "c", after=_ticket()),
                           *[trial.change("ticket_kommentar", "c", after=_comment(n, f"K{n}")) for n in (1, 2, 3)])
    assert create.route == ("Auftrag", "create") and len(create.payload["kommentare"]) == 3
    assert create.record["reads_refusals"] is False, "an entity flow reads no results"
    return create


def test_a_create_too_big_for_the_target_is_a_dead_letter_naming_the_limit_and_the_fix(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    trial = Trial(tmp_path, ticket_schemas)
    create = _created(trial)
    delivered = trial.sink(create, limit=2)
    refused = delivered.outcome
    assert isinstance(refused, Failed), "a result no flow reads: the create would be taken as made, silently"
    assert (refused.kind, refused.error_type, refused.status) == ("permanent", "TooBig", 413)
    assert trial.calls == [], "nothing was sent"
    for said in ("the Auftrag create of T-2026-000001 was not sent", "3 kommentare in one Auftrag create",
                 "fs-2.yaml takes at most 2 per call (limits.lines_per_call)", "reads no refusals",
                 "Fix: declare the route's parts (how the target adds kommentare) in fs-2.yaml, or raise its "
                 "limits.lines_per_call", "then replay it: isthmus topics dlq replay"):
        assert said in refused.reason
    # the flow reads the dead letter and forgets the create: the ticket's next change creates, with all of it
    trial.dead_letter(create, refused)
    (again,) = trial.feed(trial.change("ticket", "u", before=_ticket(), after=_ticket(titel="Pumpe getauscht")))
    assert again.route == ("Auftrag", "create") and len(again.payload["kommentare"]) == 3
    assert again.record["idempotency_key"] != create.record["idempotency_key"]


def test_its_replay_once_the_limit_is_raised_creates_it_once(tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    trial = Trial(tmp_path, ticket_schemas)
    create = _created(trial)
    refused = trial.sink(create, limit=2).outcome
    assert isinstance(refused, Failed)
    offset, letter = trial.dead_letter(create, refused)
    # the user raises limits.lines_per_call to 100, then replays the dead letter
    (again,) = trial.replay(offset, letter)
    assert again.route == ("Auftrag", "create") and len(again.payload["kommentare"]) == 3
    assert trial.replay(offset, letter) == [], "a second replay finds the create on its way"
    applied = trial.sink(again, limit=100).outcome
    assert not isinstance(applied, Failed) and not applied.refused
    assert trial.calls == [("POST", "/auftraege", 3)]
    # created now: the next change is an update of what changed
    (renamed,) = trial.feed(trial.change("ticket", "u", before=_ticket(), after=_ticket(titel="Pumpe getauscht")))
    assert (renamed.route, renamed.changed) == (("Auftrag", "update"), ("titel",))
