"""A child list sent to a target and read back from its JSON column (a new user's trial: a service-desk ticket and
its comments, ``children: [ticket_kommentar]``, become a field-service Auftrag that keeps the comments as a JSONB
list). The Auftrag payload mapping read ``kommentare`` from the record without its child lists and got null, so
every ticket's transaction was dead-lettered; and a comment added later was no change of any written field, so
it never reached the target.

Now the payload is projected from the record with its child lists; a role that writes the list gets an update
when the list differs from what the target holds; the target maps its JSON column back (``parse_json``), its
echo settles whatever order it keeps the items in, and a real edit there is seen and written back. Run through
LocalRun with the real handler, on made-up ``desk`` and ``fs`` systems and schemas of the test's own."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands, decode_topic
from support.envelopes import change_record
from support.systems import system

from streams.catalog.model import Catalog, Column, Table
from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config
from streams.flows.customers.mirror import HeldList
from streams.flows.engine.local import LocalRun
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
NUMBER = "T-2026-000001"
PUBLISHED = "test.canonical.tickets"

SCHEMAS = {
    "ticket_kommentar": {
        "type": "record", "name": "TicketKommentar", "namespace": "isthmus.canonical", "doc": "A comment.",
        "fields": [
            {"name": "id", "type": "long", "doc": "Its id."},
            {"name": "nummer", "type": ["null", "string"], "default": None, "doc": "The ticket's number."},
            {"name": "text", "type": "string", "default": "", "doc": "Text."},
            {"name": "created", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
             "default": None, "doc": "Written, UTC."}]},
    "ticket": {
        "type": "record", "name": "Ticket", "namespace": "isthmus.canonical", "doc": "A ticket.",
        "fields": [
            {"name": "nummer", "type": "string", "doc": "Key."},
            {"name": "ticket_id", "type": ["null", "long"], "default": None, "doc": "desk id."},
            {"name": "auftrag_id", "type": ["null", "long"], "default": None, "doc": "fs id."},
            {"name": "titel", "type": "string", "default": "", "doc": "Title."},
            {"name": "kommentare", "type": {"type": "array", "items": "TicketKommentar"}, "default": [],
             "doc": "Comments."},
            {"name": "active", "type": "boolean", "default": True, "doc": "Live."},
            {"name": "provenance", "type": {"type": "map", "values": "FieldStamp"}, "default": {},
             "doc": "Per field: system and commit time."}]},
    "ticket_link": {
        "type": "record", "name": "TicketLink", "namespace": "isthmus.canonical", "doc": "Ids of a ticket.",
        "fields": [
            {"name": "nummer", "type": "string", "doc": "Key."},
            {"name": "ticket_id", "type": ["null", "long"], "default": None, "doc": "desk id."},
            {"name": "auftrag_id", "type": ["null", "long"], "default": None, "doc": "fs id."}]},
    "auftrag": {
        "type": "record", "name": "Auftrag", "namespace": "isthmus.canonical", "doc": "What fs takes.",
        "fields": [
            {"name": "ticket_ref", "type": "string", "doc": "Key."},
            {"name": "auftrag_id", "type": ["null", "long"], "default": None, "doc": "fs id."},
            {"name": "titel", "type": "string", "default": "", "doc": "Title."},
            {"name": "kommentare", "type": {"type": "array", "items": "TicketKommentar"}, "default": [],
             "doc": "Comments."}]},
}

TICKET = """\
description: A ticket and its Auftrag.
target: isthmus.canonical.Ticket
key: nummer
owner: desk
policy: owner_wins
fields:
  auftrag_id: {owner: fs, policy: owner_wins}
sources:
  desk_ticket:
    system: desk
    table: ticket
    fields: {nummer: nummer, ticket_id: id, titel: titel}
    on_delete: {set: {active: false}}
  fs_auftrag:
    system: fs
    table: auftrag
    fields:
      nummer: ticket_ref
      auftrag_id: id
      titel: titel
      kommentare: {from: kommentare, transform: [parse_json]}
"""
LINK = """\
description: The ids of a ticket.
target: isthmus.canonical.TicketLink
key: nummer
fields:
  ticket_id: {owner: desk, policy: owner_wins}
  auftrag_id: {owner: fs, policy: owner_wins}
sources:
  desk_ticket:
    system: desk
    table: ticket
    fields: {nummer: nummer, ticket_id: id}
    on_delete: {set: {ticket_id: null}}
  fs_auftrag:
    system: fs
    table: auftrag
    fields: {nummer: ticket_ref, auftrag_id: id}
    on_delete: {set: {auftrag_id: null}}
"""
KOMMENTAR = """\
description: A comment of a ticket.
target: isthmus.canonical.TicketKommentar
key: id
parent: {record: Ticket, field: kommentare, key: nummer}
owner: desk
policy: owner_wins
sources:
  desk_kommentar:
    system: desk
    table: ticket_kommentar
    parent_key:
      from: ticket
      transform: [{lookup: {record: TicketLink, by: ticket_id, field: nummer, required: true}}]
    fields: {id: id, text: text, created: created}
"""
AUFTRAG = """\
description: The Auftrag fs takes.
target: isthmus.canonical.Auftrag
key: ticket_ref
sources:
  ticket:
    record: isthmus.canonical.Ticket
    fields: {ticket_ref: nummer, auftrag_id: auftrag_id, titel: titel, kommentare: kommentare}
"""
FLOW = """\
name: test-tickets
block: entity
description: desk tickets -> fs Auftraege, with their comments
entity:
  record: ticket
  publish: test.canonical.tickets
  link: ticket_link
  children: [ticket_kommentar]
  origin: desk
  active: active
  systems:
    fs:
      id: auftrag_id
      payload: auftrag
      writes: [titel, kommentare]
"""

ZONED = "io.debezium.time.ZonedTimestamp"
#: Column -> (SQL type, Connect type, Connect name) of each made-up table; the first column is the key.
COLUMNS: dict[tuple[str, str], dict[str, tuple[str, str, str | None]]] = {
    ("desk", "ticket"): {"id": ("BIGINT", "int64", None), "nummer": ("TEXT", "string", None),
                         "titel": ("TEXT", "string", None)},
    ("desk", "ticket_kommentar"): {"id": ("BIGINT", "int64", None), "ticket": ("BIGINT", "int64", None),
                                   "text": ("TEXT", "string", None),
                                   "created": ("TIMESTAMP WITH TIME ZONE", "string", ZONED)},
    ("fs", "auftrag"): {"id": ("BIGINT", "int64", None), "ticket_ref": ("TEXT", "string", None),
                        "titel": ("TEXT", "string", None),
                        "kommentare": ("JSONB", "string", "io.debezium.data.Json")},
}


def _systems() -> Systems:
    return Systems({"desk": system("desk", engine=Engine.POSTGRESQL, writable=True),
                    "fs": system("fs", engine=Engine.POSTGRESQL, writable=True)}, directory=Path("systems"))


def _catalogs() -> dict[str, Catalog]:
    tables: dict[str, dict[str, Table]] = {}
    for (name, table), columns in COLUMNS.items():
        tables.setdefault(name, {})[table] = Table(
            name=table, primary_key=("id",), replica_identity="full",
            columns={c: Column(name=c, sql_type=t, args=(), nullable=False) for c, (t, _, _) in columns.items()})
    return {name: Catalog(system=name, engine="postgresql", namespace=name, tables=found)
            for name, found in tables.items()}


@pytest.fixture(scope="module")
def ticket_schemas(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    folder = tmp_path_factory.mktemp("ticket-schemas")
    for stem, schema in SCHEMAS.items():
        (folder / f"{stem}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


def _project(tmp_path: Path, *, ticket: str = TICKET, auftrag: str = AUFTRAG, flow: str = FLOW) -> Path:
    for folder, files in {"mappings": {"ticket": ticket, "ticket_link": LINK, "ticket_kommentar": KOMMENTAR,
                                       "auftrag": auftrag}, "flows": {"tickets": flow}}.items():
        (tmp_path / folder).mkdir()
        for stem, text in files.items():
            (tmp_path / folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _load(project: Path, schemas: SchemaStore) -> tuple[EntityConfig, dict[str, RecordMapping]]:
    mappings = load_mappings(project / "mappings", schemas=schemas.schemas, tables=_catalogs(), systems=_systems())
    (flow,) = load_flow_files(project / "flows")
    return entity_config(flow, mappings, schemas.schemas.named, _systems()), mappings


class Tickets:
    """The flow under LocalRun, fed made-up Debezium changes of ``desk`` and ``fs``."""

    def __init__(self, project: Path, schemas: SchemaStore) -> None:
        config, mappings = _load(project, schemas)
        self.schemas = schemas
        self.systems = _systems()
        self.flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=self.systems, config=config,
                                 clock=lambda: T0)
        self.run = LocalRun(self.flow.spec())
        self.now = T0
        self.position = 1000

    def change(self, name: str, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> list[Sent]:
        """Feed one change event; returns the commands it caused."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        columns = {c: (t, n) for c, (_, t, n) in COLUMNS[(name, table)].items()}
        key, value = change_record(name, table, op, columns=columns,
                                   key="id", engine=Engine.POSTGRESQL, namespace=name, at=self.now,
                                   position=self.position, before=before, after=after)
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(self.systems[name].topic(table), key, value)]))
        assert self.run.context.dead_letters == [], self.run.context.dead_letters[0].reason
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def published(self) -> Mapping[str, Any]:
        return decode_topic(self.run.context.emitted, PUBLISHED, self.schemas)[-1]


def _ticket(**values: Any) -> dict[str, Any]:
    return {"id": 10, "nummer": NUMBER, "titel": "Pumpe defekt", **values}


def _comment(comment_id: int, text: str) -> dict[str, Any]:
    return {"id": comment_id, "ticket": 10, "text": text, "created": f"2026-05-01T07:0{comment_id}:00.123456Z"}


def _auftrag(kommentare: list[Mapping[str, Any]], **values: Any) -> dict[str, Any]:
    """The fs row as its API keeps what it was sent: the comments in a JSONB column, which PostgreSQL writes
    with its own key order and spacing, and Debezium delivers as text."""
    return {"id": 500, "ticket_ref": NUMBER, "titel": "Pumpe defekt",
            "kommentare": json.dumps([dict(sorted(c.items(), reverse=True)) for c in kommentare]), **values}


def test_the_payload_carries_the_child_list_and_a_child_change_updates_the_target_once(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    run = Tickets(_project(tmp_path), ticket_schemas)
    (create,) = run.change("desk", "ticket", "c", after=_ticket())
    assert (create.topic, create.route) == ("isthmus.commands.fs", ("Auftrag", "create"))
    assert create.payload["kommentare"] == []  # null before: the payload read the record without its lists
    assert run.change("fs", "auftrag", "c", after=_auftrag([])) == [], "the echo of the create"
    # a comment added in a later transaction is a change of the list fs holds: one update, the list whole
    (update,) = run.change("desk", "ticket_kommentar", "c", after=_comment(1, "Teil bestellt"))
    assert (update.route, update.changed) == (("Auftrag", "update"), ("kommentare",))
    assert update.payload["kommentare"] == [{"id": 1, "text": "Teil bestellt",
                                             "created": "2026-05-01T07:01:00.123456+00:00"}]
    assert run.published()["kommentare"][0]["text"] == "Teil bestellt"
    # nothing else changes, so nothing is sent again before fs reports the list back
    assert run.change("desk", "ticket", "u", before=_ticket(), after=_ticket()) == []
    assert run.change("fs", "auftrag", "u", before=_auftrag([]), after=_auftrag(update.payload["kommentare"])) == []
    # a second comment and an edit of the first: the whole list once more, in the order of the comments' ids
    (second,) = run.change("desk", "ticket_kommentar", "c", after=_comment(2, "Termin Montag"))
    (edited,) = run.change("desk", "ticket_kommentar", "u", before=_comment(1, "Teil bestellt"),
                           after=_comment(1, "Teil geliefert"))
    assert [c["text"] for c in second.payload["kommentare"]] == ["Teil bestellt", "Termin Montag"]
    assert [c["text"] for c in edited.payload["kommentare"]] == ["Teil geliefert", "Termin Montag"]
    # a comment deleted: the list without it
    (deleted,) = run.change("desk", "ticket_kommentar", "d", before=_comment(2, "Termin Montag"))
    assert [c["id"] for c in deleted.payload["kommentare"]] == [1]


def test_a_comment_that_came_before_its_ticket_follows_the_create_and_both_echoes_settle(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    run = Tickets(_project(tmp_path), ticket_schemas)
    assert run.change("desk", "ticket_kommentar", "c", after=_comment(1, "zuerst")) == [], "waits for its ticket"
    # the ticket is created; the comment, released by the ticket's link row, is then folded and sent on top of it
    create, update = run.change("desk", "ticket", "c", after=_ticket())
    assert create.route == ("Auftrag", "create") and create.payload["kommentare"] == []
    assert (update.route, update.changed) == (("Auftrag", "update"), ("kommentare",))
    assert update.payload["kommentare"] == [{"id": 1, "text": "zuerst", "created": "2026-05-01T07:01:00.123456+00:00"}]
    # fs reports each in turn: both are echoes of the commands in flight, nothing is sent again
    assert run.change("fs", "auftrag", "c", after=_auftrag([])) == []
    assert run.change("fs", "auftrag", "u", before=_auftrag([]), after=_auftrag(update.payload["kommentare"])) == []


def test_the_echo_of_the_list_settles_in_any_order_and_an_edit_in_the_target_is_written_back(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    run = Tickets(_project(tmp_path), ticket_schemas)
    run.change("desk", "ticket", "c", after=_ticket())
    run.change("fs", "auftrag", "c", after=_auftrag([]))
    run.change("desk", "ticket_kommentar", "c", after=_comment(1, "eins"))
    (update,) = run.change("desk", "ticket_kommentar", "c", after=_comment(2, "zwei"))
    sent = update.payload["kommentare"]
    # fs keeps the comments newest first, each with its keys in its own order: still the echo, nothing is sent
    assert run.change("fs", "auftrag", "u", before=_auftrag([]), after=_auftrag(list(reversed(sent)))) == []
    assert run.change("fs", "auftrag", "u", before=_auftrag(sent), after=_auftrag(sent, titel="Pumpe defekt")) == []
    # an fs user drops a comment there: a real edit, the ticket's list goes back, once
    (back,) = run.change("fs", "auftrag", "u", before=_auftrag(sent), after=_auftrag(sent[:1]))
    assert (back.route, back.changed) == (("Auftrag", "update"), ("kommentare",))
    assert [c["id"] for c in back.payload["kommentare"]] == [1, 2]
    assert run.change("fs", "auftrag", "u", before=_auftrag(sent[:1]), after=_auftrag(sent)) == [], "its echo"
    assert [c["text"] for c in run.published()["kommentare"]] == ["eins", "zwei"], "the children are the list"


def _refused(tmp_path: Path, schemas: SchemaStore, **files: str) -> Any:
    project = _project(tmp_path, **files)
    with pytest.raises(FlowFileError) as raised:
        _load(project, schemas)
    (problem,) = raised.value.problems
    return problem


def test_a_written_child_list_the_target_does_not_map_back_is_refused_at_load(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    unmapped = TICKET.replace("      kommentare: {from: kommentare, transform: [parse_json]}\n", "")
    problem = _refused(tmp_path, ticket_schemas, ticket=unmapped)
    line = FLOW.splitlines().index("      writes: [titel, kommentare]") + 1
    assert (problem.file.name, problem.line, problem.field) == ("tickets.yaml", line, "entity.systems.fs.writes")
    assert problem.message.startswith("lists kommentare, the list of ticket_kommentar children, but no source of "
                                      "fs in mappings/ticket.yaml maps it back")
    assert "`kommentare: {from: <column>, transform: [parse_json]}` under sources.fs_auftrag.fields" in problem.fix
    assert "take it out of writes" in problem.fix


def test_a_payload_reading_a_child_list_writes_leaves_out_is_refused_at_load(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    """The trial's flow file: comments in the payload, not in writes: sent with the create, never after."""
    problem = _refused(tmp_path, ticket_schemas, flow=FLOW.replace("writes: [titel, kommentare]", "writes: [titel]"))
    assert (problem.line, problem.field) == (FLOW.splitlines().index("      payload: auftrag") + 1,
                                             "entity.systems.fs.payload")
    assert problem.message.startswith("mappings/auftrag.yaml reads kommentare, the list of ticket_kommentar "
                                      "children, but writes leaves it out")
    assert "add kommentare to writes" in problem.fix and "parse_json" in problem.fix


def test_a_written_list_keeps_the_item_fields_writes_names_and_the_key(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    config, _ = _load(_project(tmp_path, flow=FLOW.replace("writes: [titel, kommentare]",
                                                            "writes: [titel, {kommentare: [text]}]")), ticket_schemas)
    held = config.written["fs"].lists["kommentare"]
    assert held == HeldList(key=("id",), fields=(("id", None), ("text", "")))
    assert config.written["fs"].holds["kommentare"] is held


def test_a_held_list_compares_items_by_key_with_their_defaults() -> None:
    held = HeldList(key=("id",), fields=(("id", None), ("nummer", None), ("text", "")))
    sent = [{"id": 10, "text": "b"}, {"id": 9, "text": "a"}]
    assert held.view(sent) == [{"id": 9, "nummer": None, "text": "a"}, {"id": 10, "nummer": None, "text": "b"}]
    assert held.view(list(reversed(sent))) == held.view(sent)
    assert held.view([{"id": 9, "text": "a", "extra": 1}, {"id": 10, "text": "b"}]) == held.view(sent)
    assert held.view([{"id": 9}]) == [{"id": 9, "nummer": None, "text": ""}], "a field left out: its default"
    assert held.view(None) is None and held.view([]) == []
