"""A captured table renamed on a running deployment (a new user's trial, made up here: gigs' PostgreSQL table
``worker`` renamed ``gig_worker``, crew_run.py; crew_renamed/ is the flow after the rename).

After the rename the capture published the table's changes on a new topic, which the running flow did not read,
while it read their transactions' ENDs (counting a table it did not join) and passed them. Once the include
list, the mappings and the connector followed the rename, the restarted flow read the new topic from its start:
each change there waited for an END it had passed, for good, and the ENDs of the transactions after them, still
to be read, were abandoned empty when those older changes came first. 84 sites kept an old value, no hold, no
dead letter. Such a change is now passed on as its own transaction (counted as abandoned, logged); the same holds
for a table added to a running capture."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from crew_run import RENAMED, Crew
from support.commits import as_streamed
from support.tx_events import one_transaction

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.orders.txjoin import ABANDONED, UNENDED_WAIT_S

pytestmark = pytest.mark.unit

CODE = "M-1"
Rec = tuple[str, bytes | None, bytes | None]


def _renamed(crew: Crew) -> dict[str, Any]:
    """M-1 linked to gigs worker 501 before the rename."""
    return crew.linked(CODE, "Anna Berg", 501)


def _edit(crew: Crew, row: dict[str, Any], name: str, *, streamed_after: int | None) -> tuple[list[Rec], Rec]:
    """gigs renames worker ``row`` to ``name`` on the renamed table, in a transaction of its own: its change(s)
    and its END; PostgreSQL's transaction ids and commit marks as Debezium streams them after the commit
    ``streamed_after`` (None: the made-up ids, which say nothing of the commit order)."""
    records = one_transaction([crew.change("gig_worker", "u", before=row, after={**row, "name": name})])
    if streamed_after is not None:
        records = as_streamed(records, last_commit=streamed_after)
    *changes, end = records
    return changes, end


def _commit(end: Rec) -> int:
    """The commit LSN an END of :func:`~support.commits.as_streamed` names."""
    assert end[2] is not None
    return int(json.loads(end[2])["payload"]["id"].partition(":")[2])


def _updates(sent: list[Any]) -> list[tuple[str, tuple[str, ...], str]]:
    return [(s.route[1], s.changed, s.payload["name"]) for s in sent if s.topic == "isthmus.commands.roster"]


def test_a_change_whose_end_the_flow_passed_before_the_rename_is_applied(schemas: SchemaStore,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    crew = Crew(schemas)
    row = _renamed(crew)
    changes, end = _edit(crew, row, "Anna Lind", streamed_after=1_000)
    assert crew.feed(end) == []  # the running flow reads the END; the change is on a topic it does not read
    crew.restart(RENAMED)  # include list, mappings, connector deployed: the new topic read from its start
    caplog.set_level(logging.INFO, logger="streams.flows.txjoin")
    assert _updates(crew.feed(*changes)) == [("update", ("name",), "Anna Lind")]
    assert crew.published(CODE)["name"] == "Anna Lind"
    assert crew.run.context.counts[ABANDONED] == 1 and crew.dead_letters == []
    assert "its changes of gigs.gig_worker came without their END" in caplog.text


def test_the_transactions_after_it_wait_for_their_own_changes(schemas: SchemaStore) -> None:
    """The trial's worker read the transaction topic on from where it was, the new topic from its start: the
    ENDs of later transactions came before the older changes, and were abandoned empty when those came."""
    crew = Crew(schemas)
    row = _renamed(crew)
    old, old_end = _edit(crew, row, "Anna Lind", streamed_after=1_000)
    crew.feed(old_end)
    crew.restart(RENAMED)
    later, later_end = _edit(crew, {**row, "name": "Anna Lind"}, "Anna Holm", streamed_after=_commit(old_end))
    assert crew.feed(later_end) == []  # its change still to come
    assert _updates(crew.feed(*old)) == [("update", ("name",), "Anna Lind")]
    assert _updates(crew.feed(*later)) == [("update", ("name",), "Anna Holm")]
    assert crew.published(CODE)["name"] == "Anna Holm"
    assert crew.run.context.counts[ABANDONED] == 1 and crew.dead_letters == []


def test_without_commit_marks_the_next_ended_change_of_the_table_releases_it_first(schemas: SchemaStore) -> None:
    """Ids that say nothing of the commit order: the change waits until a later transaction's change of the table
    comes with its END handled (the topic holds the table's changes in commit order), and goes first."""
    crew = Crew(schemas)
    row = _renamed(crew)
    old, old_end = _edit(crew, row, "Anna Lind", streamed_after=None)
    crew.feed(old_end)
    crew.restart(RENAMED)
    assert crew.feed(*old) == []  # its END may still come
    later, later_end = _edit(crew, {**row, "name": "Anna Lind"}, "Anna Holm", streamed_after=None)
    assert _updates(crew.feed(*later, later_end)) == [("update", ("name",), "Anna Lind"),
                                                      ("update", ("name",), "Anna Holm")]
    assert crew.published(CODE)["name"] == "Anna Holm"
    assert crew.run.context.counts[ABANDONED] == 1 and crew.dead_letters == []


def test_without_commit_marks_or_a_later_change_ticks_release_it_after_a_while(schemas: SchemaStore) -> None:
    """Nothing tells the order, and the table has no later change: once ticks have found the transaction topic and
    the table read to their end for a while without its END, it goes (its END came with its changes, or never will)."""
    crew = Crew(schemas)
    row = _renamed(crew)
    old, old_end = _edit(crew, row, "Anna Lind", streamed_after=None)
    crew.feed(old_end)
    crew.restart(RENAMED)
    assert crew.feed(*old) == []
    table, ends = crew.systems["gigs"].topic("gig_worker"), crew.systems["gigs"].transaction_topic
    now = [1_000.0]
    crew.flow.transactions.clock = lambda: now[0]
    start = len(crew.run.context.emitted)
    crew.run.tick(read_to_end=(table, ends))
    now[0] += UNENDED_WAIT_S - 1
    crew.run.tick(read_to_end=(table, ends))
    now[0] += 1
    crew.run.tick(read_to_end=(table,))  # the transaction topic not read to its end: it waits
    assert crew.run.context.emitted[start:] == [] and crew.run.context.counts[ABANDONED] == 0
    crew.run.tick(read_to_end=(table, ends))
    assert crew.published(CODE)["name"] == "Anna Lind"
    assert crew.run.context.counts[ABANDONED] == 1 and crew.dead_letters == []
