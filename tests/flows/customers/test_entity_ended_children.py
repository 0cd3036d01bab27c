"""A child change of an ended entity sends nothing (a new user's trial: purchasing suppliers with their contacts,
and a write-only system that takes a supplier's whole contact list, ``PUT /vendors/{code}/persons``). A supplier
ended by a delete (a merge, a renumbered key) kept getting its list sent whenever a contact row of it changed
later (a snapshot, a reload, the rows moved or deleted after it): each a 404 dead letter, although
flows/README.md says an ended entity's later changes send nothing. The child change is folded (the list is right
should the entity live again) and counted, and no system hears of it; a child moved to another entity (a merge)
sends that entity's list. Run through LocalRun with the real handler, on test_entity_child_lists.py's made-up
``desk`` tickets and comments and a write-only ``board`` that takes a ticket's comments as one list."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands
from support.envelopes import change_record
from support.systems import system, write_only
from support.tx_events import one_transaction
from test_entity_child_lists import COLUMNS, KOMMENTAR, SCHEMAS, _catalogs

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, entity_config
from streams.flows.engine.local import LocalRun
from streams.flows.files import load_flow_files
from streams.mapping import load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
BOARD_TOPIC = "isthmus.commands.board"

#: What the write-only board takes: a ticket's comments, as one list.
BOARD_SCHEMA = {
    "type": "record", "name": "BoardComments", "namespace": "isthmus.canonical", "doc": "A ticket's comments.",
    "fields": [{"name": "ticket_ref", "type": "string", "doc": "Key."},
               {"name": "comments", "type": {"type": "array", "items": "TicketKommentar"}, "default": [],
                "doc": "Comments."}]}
TICKET = """\
description: A desk ticket.
target: isthmus.canonical.Ticket
key: nummer
owner: desk
policy: owner_wins
sources:
  desk_ticket:
    system: desk
    table: ticket
    fields: {nummer: nummer, ticket_id: id, titel: titel}
    on_delete: {set: {active: false}}
"""
LINK = """\
description: The desk's id of a ticket.
target: isthmus.canonical.TicketLink
key: nummer
fields:
  ticket_id: {owner: desk, policy: owner_wins}
sources:
  desk_ticket:
    system: desk
    table: ticket
    fields: {nummer: nummer, ticket_id: id}
    on_delete: {set: {ticket_id: null}}
"""
BOARD = """\
description: A ticket's comments, as the board's PUT takes them.
target: isthmus.canonical.BoardComments
key: ticket_ref
sources:
  ticket:
    record: isthmus.canonical.Ticket
    fields: {ticket_ref: nummer, comments: kommentare}
"""
FLOW = """\
name: test-ticket-board
block: entity
description: desk tickets -> the board's comment lists (written only)
entity:
  record: ticket
  publish: test.canonical.tickets
  link: ticket_link
  children: [ticket_kommentar]
  origin: desk
  active: active
  systems:
    board:
      payload: board_comments
      writes: [kommentare]
      on_inactive: ignore
"""


@pytest.fixture(scope="module")
def board_schemas(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    folder = tmp_path_factory.mktemp("board-schemas")
    for stem, schema in {**SCHEMAS, "board_comments": BOARD_SCHEMA}.items():
        (folder / f"{stem}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


class Board:
    """The flow under LocalRun, fed made-up Debezium changes of ``desk``; ``board`` is written only."""

    def __init__(self, project: Path, schemas: SchemaStore) -> None:
        for folder, files in {"mappings": {"ticket": TICKET, "ticket_link": LINK, "ticket_kommentar": KOMMENTAR,
                                           "board_comments": BOARD}, "flows": {"board": FLOW}}.items():
            (project / folder).mkdir()
            for stem, text in files.items():
                (project / folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
        self.systems = Systems({"desk": system("desk", engine=Engine.POSTGRESQL, writable=True),
                                "board": write_only("board")}, directory=Path("systems"))
        mappings = load_mappings(project / "mappings", schemas=schemas.schemas, tables=_catalogs(),
                                 systems=self.systems)
        (flow,) = load_flow_files(project / "flows")
        config = entity_config(flow, mappings, schemas.schemas.named, self.systems)
        self.schemas = schemas
        self.run = LocalRun(CustomerFlow(mappings=mappings, schemas=schemas, systems=self.systems, config=config,
                                         clock=lambda: T0).spec())
        self.now = T0
        self.position = 1000

    def change(self, table: str, op: str, *, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> tuple[str, bytes, bytes]:
        """One committed change of desk's ``table`` (its own source transaction), a second after the one before."""
        self.now += dt.timedelta(seconds=1)
        self.position += 10
        columns = {c: (t, n) for c, (_, t, n) in COLUMNS[("desk", table)].items()}
        key, value = change_record("desk", table, op, columns=columns, key="id", engine=Engine.POSTGRESQL,
                                   namespace="desk", at=self.now, position=self.position, before=before, after=after)
        return self.systems["desk"].topic(table), key, value

    def feed(self, *changes: tuple[str, bytes, bytes]) -> list[Sent]:
        """Process ``changes`` in one batch; returns the commands they caused."""
        start = len(self.run.context.emitted)
        asyncio.run(self.run.feed([self.run.record(topic, key, value) for topic, key, value in changes]))
        assert self.run.context.dead_letters == [], self.run.context.dead_letters[0].reason
        return decode_commands(self.run.context.emitted[start:], self.schemas)

    def count(self, name: str) -> int:
        return self.run.context.counts[name]


def _ticket(ticket_id: int) -> dict[str, Any]:
    return {"id": ticket_id, "nummer": f"T-{ticket_id}", "titel": f"Ticket {ticket_id}"}


def _comment(comment_id: int, ticket_id: int, text: str = "") -> dict[str, Any]:
    return {"id": comment_id, "ticket": ticket_id, "text": text or f"Kommentar {comment_id}",
            "created": f"2026-05-01T07:0{comment_id}:00.123456Z"}


def _comments(sent: Sent) -> list[int]:
    return [c["id"] for c in sent.payload["comments"]]


def _two_tickets(board: Board) -> None:
    """Tickets 10 (comments 1, 2) and 20 (comment 3), each on the board with its list."""
    for ticket, comments in ((10, (1, 2)), (20, (3,))):
        board.feed(board.change("ticket", "c", after=_ticket(ticket)))
        for comment in comments:
            board.feed(board.change("ticket_kommentar", "c", after=_comment(comment, ticket)))


def test_a_child_change_after_its_entity_ended_sends_nothing(tmp_path: Path, board_schemas: SchemaStore,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    board = Board(tmp_path, board_schemas)
    _two_tickets(board)
    assert board.feed(board.change("ticket", "d", before=_ticket(10))) == [], "board keeps ended tickets"
    caplog.set_level("DEBUG", logger="streams.flows.customers")
    # the ended ticket's comments change afterwards: read again (a snapshot), edited, deleted
    assert board.feed(board.change("ticket_kommentar", "r", after=_comment(1, 10))) == []
    assert board.feed(board.change("ticket_kommentar", "u", before=_comment(1, 10),
                                   after=_comment(1, 10, "spaet"))) == []
    assert board.feed(board.change("ticket_kommentar", "d", before=_comment(2, 10))) == []
    assert board.count("child_changes_of_ended") == 3
    assert "Ticket T-10 has ended: its TicketKommentar 2 deleted from kommentare is folded" in caplog.text
    # the live ticket's comments still go
    (live,) = board.feed(board.change("ticket_kommentar", "c", after=_comment(4, 20)))
    assert (live.topic, live.key, _comments(live)) == (BOARD_TOPIC, "T-20", [3, 4])


def test_children_deleted_with_their_entity_in_one_transaction_send_nothing(
        tmp_path: Path, board_schemas: SchemaStore) -> None:
    board = Board(tmp_path, board_schemas)
    _two_tickets(board)
    sent = board.feed(*one_transaction([board.change("ticket_kommentar", "d", before=_comment(1, 10)),
                                        board.change("ticket_kommentar", "d", before=_comment(2, 10)),
                                        board.change("ticket", "d", before=_ticket(10))]))
    assert sent == []


def test_children_moved_to_another_entity_send_its_list_and_not_the_ended_ones(
        tmp_path: Path, board_schemas: SchemaStore) -> None:
    """A merge: UPDATE ticket_kommentar SET ticket = 20 WHERE ticket = 10, then ticket 10 deleted."""
    board = Board(tmp_path, board_schemas)
    _two_tickets(board)
    sent = board.feed(*one_transaction([
        board.change("ticket_kommentar", "u", before=_comment(1, 10), after=_comment(1, 20)),
        board.change("ticket_kommentar", "u", before=_comment(2, 10), after=_comment(2, 20)),
        board.change("ticket", "d", before=_ticket(10))]))
    assert [(s.topic, s.key, _comments(s)) for s in sent] == [(BOARD_TOPIC, "T-20", [1, 2, 3])]
    # the same merge in two transactions, the ticket deleted last: the moved comment leaves its list while it lives
    board.feed(board.change("ticket", "c", after=_ticket(30)))
    board.feed(board.change("ticket_kommentar", "c", after=_comment(5, 30)))
    sent = board.feed(board.change("ticket_kommentar", "u", before=_comment(5, 30), after=_comment(5, 20)))
    assert sorted((s.key, _comments(s)) for s in sent) == [("T-20", [1, 2, 3, 5]), ("T-30", [])]
    assert board.feed(board.change("ticket", "d", before=_ticket(30))) == []


def test_an_ended_entity_made_again_sends_its_list_as_it_is_then(tmp_path: Path, board_schemas: SchemaStore) -> None:
    board = Board(tmp_path, board_schemas)
    _two_tickets(board)
    board.feed(board.change("ticket", "d", before=_ticket(10)))
    assert board.feed(board.change("ticket_kommentar", "d", before=_comment(2, 10))) == []
    assert board.feed(board.change("ticket_kommentar", "c", after=_comment(6, 10))) == []
    sent = [s for s in board.feed(board.change("ticket", "c", after=_ticket(10))) if s.topic == BOARD_TOPIC]
    assert [(s.key, _comments(s)) for s in sent] == [("T-10", [1, 6])]
