"""A child change of an ended entity sends nothing (a new user's trial: purchasing suppliers with their contacts,
and a write-only system that takes a supplier's whole contact list, ``PUT /vendors/{code}/persons``). A supplier
ended by a delete (a merge, a renumbered key) kept getting its list sent whenever a contact row of it changed
later (a snapshot, a reload, the rows moved or deleted after it): each a 404 dead letter, although
flows/README.md says an ended entity's later changes send nothing. The child change is folded (the list is right
should the entity live again) and counted, and no system hears of it; a child moved to another entity (a merge)
sends that entity's list. Run through LocalRun with the real handler, on test_entity_refused_unread.py's made-up
``desk`` tickets with their comments and write-only ``fs``, which keeps ended tickets (its ``writes`` leave
``active`` out) and takes a ticket's comments as one list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent
from test_entity_child_lists import _comment, _ticket, ticket_schemas
from test_entity_refused_unread import Trial

from streams.codecs.avro.single_object import SchemaStore

pytestmark = pytest.mark.unit

__all__ = ["ticket_schemas"]  # the fixture, shared with test_entity_child_lists

FS = "isthmus.commands.fs"
ENDED_CHILDREN = "child_changes_of_ended"


def _numbered(ticket_id: int) -> dict[str, Any]:
    return _ticket(id=ticket_id, nummer=f"T-{ticket_id}")


def _of(ticket_id: int, comment_id: int, text: str = "") -> dict[str, Any]:
    return {**_comment(comment_id, text or f"Kommentar {comment_id}"), "ticket": ticket_id}


def _lists(sent: list[Sent]) -> list[tuple[str, str, list[int]]]:
    return sorted((s.key, s.route[1], [c["id"] for c in s.payload["kommentare"]]) for s in sent if s.topic == FS)


def _two_tickets(tmp_path: Path, schemas: SchemaStore) -> Trial:
    """Tickets 10 (comments 1, 2) and 20 (comment 3), each in fs with its list."""
    trial = Trial(tmp_path, schemas)
    for ticket, comments in ((10, (1, 2)), (20, (3,))):
        trial.feed(trial.change("ticket", "c", after=_numbered(ticket)))
        for comment in comments:
            trial.feed(trial.change("ticket_kommentar", "c", after=_of(ticket, comment)))
    return trial


def test_a_child_change_after_its_entity_ended_sends_nothing(tmp_path: Path, ticket_schemas: SchemaStore,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    trial = _two_tickets(tmp_path, ticket_schemas)
    assert trial.feed(trial.change("ticket", "d", before=_numbered(10))) == [], "fs keeps ended tickets"
    caplog.set_level("DEBUG", logger="streams.flows.customers")
    # the ended ticket's comments change afterwards: read again (a snapshot), edited, deleted
    assert trial.feed(trial.change("ticket_kommentar", "r", after=_of(10, 1))) == []
    assert trial.feed(trial.change("ticket_kommentar", "u", before=_of(10, 1), after=_of(10, 1, "spaet"))) == []
    assert trial.feed(trial.change("ticket_kommentar", "d", before=_of(10, 2))) == []
    assert trial.run.context.counts[ENDED_CHILDREN] == 3
    assert "Ticket T-10 has ended: its TicketKommentar 2 deleted from kommentare is folded" in caplog.text
    # the live ticket's comments still go
    assert _lists(trial.feed(trial.change("ticket_kommentar", "c", after=_of(20, 4)))) == [
        ("T-20", "update", [3, 4])]


def test_children_deleted_with_their_entity_in_one_transaction_send_nothing(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    trial = _two_tickets(tmp_path, ticket_schemas)
    assert trial.feed(trial.change("ticket_kommentar", "d", before=_of(10, 1)),
                      trial.change("ticket_kommentar", "d", before=_of(10, 2)),
                      trial.change("ticket", "d", before=_numbered(10))) == []


def test_children_moved_to_another_entity_send_its_list_and_not_the_ended_ones(
        tmp_path: Path, ticket_schemas: SchemaStore) -> None:
    """A merge: UPDATE ticket_kommentar SET ticket = 20 WHERE ticket = 10, then ticket 10 deleted."""
    trial = _two_tickets(tmp_path, ticket_schemas)
    assert _lists(trial.feed(trial.change("ticket_kommentar", "u", before=_of(10, 1), after=_of(20, 1)),
                             trial.change("ticket_kommentar", "u", before=_of(10, 2), after=_of(20, 2)),
                             trial.change("ticket", "d", before=_numbered(10)))) == [("T-20", "update", [1, 2, 3])]
    # the same merge in two transactions, the ticket deleted last: the moved comment leaves its list while it lives
    trial.feed(trial.change("ticket", "c", after=_numbered(30)))
    trial.feed(trial.change("ticket_kommentar", "c", after=_of(30, 5)))
    assert _lists(trial.feed(trial.change("ticket_kommentar", "u", before=_of(30, 5), after=_of(20, 5)))) == [
        ("T-20", "update", [1, 2, 3, 5]), ("T-30", "update", [])]
    assert trial.feed(trial.change("ticket", "d", before=_numbered(30))) == []


def test_an_ended_entity_made_again_sends_its_list_as_it_is_then(tmp_path: Path,
                                                                 ticket_schemas: SchemaStore) -> None:
    trial = _two_tickets(tmp_path, ticket_schemas)
    trial.feed(trial.change("ticket", "d", before=_numbered(10)))
    assert trial.feed(trial.change("ticket_kommentar", "d", before=_of(10, 2))) == []
    assert trial.feed(trial.change("ticket_kommentar", "c", after=_of(10, 6))) == []
    assert _lists(trial.feed(trial.change("ticket", "c", after=_numbered(10)))) == [("T-10", "update", [1, 6])]
