"""One entity of a source transaction that cannot be decided does not hold back the others (a new user's trial: a
CRM transaction renamed one account and touched another whose credit limit, 1e20, fits no ERP payload; both changes
were dead-lettered, each with the positions of every change of the transaction, and in a transaction past the
``transaction_limit`` the earlier parts went out while the last one was dead-lettered whole).

Now the failing entity's changes are dead-lettered, each with a short reason naming it first, and the transaction's
other entities are decided as if those changes were not in it; replayed once the cause is fixed (here: the payload
field widened, the worker restarted), the dead-lettered changes apply once, in their order. Run through LocalRun
with the real handler, on the made-up ``vertrieb`` -> ``api`` pair of :mod:`test_entity_payload_schema`."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands
from support.envelopes import change_record
from support.tx_events import one_transaction
from test_entity_payload_schema import COLUMNS, FLOW, MAPPINGS, SCHEMAS, T0, _catalogs, _decimal, _systems

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.engine.staging import DeadLettered, RecordContext
from streams.flows.files import load_flow_files
from streams.kafka.deadletters import REPLAY_HEADER, replay_header
from streams.mapping import load_mappings
from streams.systems import Engine

pytestmark = pytest.mark.unit

Rec = tuple[str, bytes | None, bytes | None]
#: 14 digits once rounded to scale 2: RegisterAccount's kreditlimit, a decimal(12,2), cannot hold it.
TOO_WIDE = "123456789012.345678"


def _schemas(folder: Path, precision: int) -> SchemaStore:
    """The test's schemas in ``folder``, the payload's credit limit a decimal of ``precision`` digits."""
    folder.mkdir(exist_ok=True)
    payload = SCHEMAS["register_account"]
    fields = [{**f, "type": ["null", _decimal(precision, 2)]} if f["name"] == "kreditlimit" else f
              for f in payload["fields"]]
    for stem, schema in {**SCHEMAS, "register_account": {**payload, "fields": fields}}.items():
        (folder / f"{stem}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


class Accounts:
    """The flow under LocalRun, fed made-up Debezium changes of ``vertrieb``'s customers."""

    def __init__(self, project: Path, *, precision: int = 12, limit: int | None = None) -> None:
        self.project, self.limit = project, limit
        for sub, files in {"mappings": MAPPINGS, "flows": {"kunden": FLOW}}.items():
            (project / sub).mkdir(exist_ok=True)
            for stem, text in files.items():
                (project / sub / f"{stem}.yaml").write_text(text, encoding="utf-8")
        self.schemas = _schemas(project / f"schemas-{precision}", precision)
        self.systems = _systems()
        mappings = load_mappings(project / "mappings", schemas=self.schemas.schemas, tables=_catalogs(),
                                 systems=self.systems)
        (flow,) = load_flow_files(project / "flows")
        config = entity_config(flow, mappings, self.schemas.schemas.named, self.systems)
        if limit is not None:
            config = dataclasses.replace(config, transaction_limit=limit)
        self.flow = CustomerFlow(mappings=mappings, schemas=self.schemas, systems=self.systems, config=config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.now = T0
        self.position = 1000

    def restarted(self, *, precision: int) -> Accounts:
        """The worker restarted with the payload field ``precision`` digits wide: its stores as they were."""
        again = Accounts(self.project, precision=precision, limit=self.limit)
        again.run.context = RecordContext(memory=self.run.context.memory, stage=self.run.context.stage,
                                          stages=self.run.context.stages)
        again.now, again.position = self.now, self.position
        return again

    def customer(self, op: str, row_id: int, kreditlimit: str = "1000", *, name: str = "Muster GmbH") -> Rec:
        """A change of customer ``K-<row_id>`` (row ``row_id``) whose credit limit becomes ``kreditlimit``."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        unscaled = int(Decimal(kreditlimit).scaleb(6))
        row: dict[str, Any] = {"id": row_id, "nummer": f"K-{row_id}", "name": name, "kreditlimit": base64.b64encode(
            unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)).decode()}
        key, value = change_record(
            "vertrieb", "kunde", op, columns={c: (t, n) for c, (_, _, t, n) in COLUMNS[("vertrieb", "kunde")].items()},
            key="id", engine=Engine.POSTGRESQL, namespace="vertrieb", at=self.now, position=self.position,
            before={"id": row_id} if op == "u" else None, after=row,
            parameters={"kreditlimit": {"scale": "6", "connect.decimal.precision": "18"}})
        return self.systems["vertrieb"].topic("kunde"), key, value

    def feed(self, records: list[Rec], *, headers: tuple[tuple[str, bytes], ...] = ()) -> list[Sent]:
        """Process ``records`` in one batch, then tick as the engine does while the flow says it is busy (deciding
        what a transaction's parts left for its end); returns the commands they caused."""
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(t, k, v, headers=headers) for t, k, v in records]))
        while self.run.tick(read_to_end=()).busy:
            pass
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def replay(self, letters: list[DeadLettered]) -> list[Sent]:
        """``isthmus topics dlq replay`` of ``letters``, in their order: each change re-sent as stored, marked as
        the replay of its dead letter (the flow's own, addressed to its stage)."""
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(
            letter.record.topic, letter.record.key, letter.record.value,
            headers=((REPLAY_HEADER, replay_header("isthmus.dlq", 0, offset, T0, stage=letter.stage)),))
            for offset, letter in enumerate(letters)]))
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    @property
    def dead_letters(self) -> list[DeadLettered]:
        return self.run.context.dead_letters


def _created(sent: list[Sent]) -> list[str]:
    return sorted(s.key for s in sent if s.route == ("RegisterAccount", "create"))


def test_the_fine_entity_of_a_transaction_goes_out_and_the_one_that_cannot_be_decided_waits_alone(
        tmp_path: Path) -> None:
    run = Accounts(tmp_path)
    fine, bad, renamed = run.customer("c", 10), run.customer("c", 20, TOO_WIDE), run.customer(
        "u", 20, TOO_WIDE, name="Muster AG")
    *changes, end = one_transaction([fine, bad, renamed])
    sent = run.feed([*changes, end])
    assert _created(sent) == ["K-10"] and len(sent) == 1, "the fine row's create goes out"
    positions = [f"vertrieb.vertrieb.kunde/0@{offset}" for offset in range(3)]
    assert [letter.record.position for letter in run.dead_letters] == positions[1:]
    for position, letter in zip(positions[1:], run.dead_letters, strict=True):
        assert letter.reason.startswith(f"{position}: cannot decide on K-20: the payload of the api "
                                        "RegisterAccount.create command for entity K-20 does not fit "), letter.reason
        assert positions[0] not in letter.reason and len(letter.reason) < 2_000
        assert "dead-lettered with it: 2 change(s) of entity K-20" in letter.reason
        assert "the other 1 change(s) of its source transaction went on without them" in letter.reason
    memory = run.run.context.memory
    assert memory["entities"].get_raw("K-20") is None, "nothing of K-20's fold is kept"
    assert memory["entities"].get_raw("K-10") is not None

    # the cause fixed (the target's field widened, the worker restarted), the dead letters replayed in their order
    fixed = run.restarted(precision=24)
    replayed = fixed.replay(list(run.dead_letters))
    assert [(s.key, s.route) for s in replayed] == [("K-20", ("RegisterAccount", "create")),
                                                    ("K-20", ("RegisterAccount", "update"))]
    create, update = replayed  # each change alone, as its transaction ended long ago
    assert create.payload["name"] == "Muster GmbH" and create.payload["kreditlimit"] == "123456789012.35"
    assert update.changed == ("name",) and update.payload["name"] == "Muster AG"
    assert fixed.dead_letters == []


def test_a_transaction_past_the_limit_sends_every_part_but_the_entity_of_its_last_part_that_cannot_be_decided(
        tmp_path: Path) -> None:
    run = Accounts(tmp_path, limit=3)
    rows = [run.customer("c", n) for n in range(10, 16)] + [run.customer("c", 20, TOO_WIDE), run.customer("c", 16)]
    *changes, end = one_transaction(rows)
    assert run.feed(changes[:6]) == [], "two parts of three, folded, decided at the end"
    sent = run.feed([*changes[6:], end])
    assert _created(sent) == [f"K-{n}" for n in range(10, 17)], "the transaction's net effect, but K-20"
    (letter,) = run.dead_letters
    assert letter.record.position == "vertrieb.vertrieb.kunde/0@6"
    assert letter.reason.startswith("vertrieb.vertrieb.kunde/0@6: cannot decide on K-20: the payload of the api ")
    assert run.run.context.memory["entities"].get_raw("K-20") is None

    fixed = run.restarted(precision=24)
    assert _created(fixed.replay([letter])) == ["K-20"] and fixed.dead_letters == []


def test_the_reason_of_each_change_of_a_large_group_lists_a_bounded_number_of_positions(tmp_path: Path) -> None:
    """A reason is not the list of the group's positions: the first 20 of the entity's, and the count."""
    run = Accounts(tmp_path)
    changes = [run.customer("c", 20, TOO_WIDE)] + [run.customer("u", 20, TOO_WIDE, name=f"Muster {n}")
                                                   for n in range(40)] + [run.customer("c", n) for n in range(100, 130)]
    *records, end = one_transaction(changes)
    assert _created(run.feed([*records, end])) == sorted(f"K-{n}" for n in range(100, 130))
    letters = run.dead_letters
    assert len(letters) == 41
    assert {len(letter.reason) for letter in letters} <= set(range(2_000))
    assert all("dead-lettered with it: 41 change(s) of entity K-20" in letter.reason for letter in letters)
    assert all(letter.reason.count("vertrieb.vertrieb.kunde/0@") <= 21 for letter in letters)
