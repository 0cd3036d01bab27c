"""A new user's trial (HR persons and a contractor API, made up here as ``roster`` and ``gigs``: crew_run.py).

The end of an entity goes alone to a system: an HR person deleted with its phones in one transaction sent the
API an ``update`` (the phone cleared) with the ``deactivate``; the update reached a deleted record (a dead
letter), and an upsert API would have made it again. And a field mapped after the target's rows were read (the
target never reported it) was never sent there, without a word, until that target's table was snapshotted."""

from __future__ import annotations

import pytest
from crew_run import UNPHONED, Crew, member
from support.tx_events import one_transaction

from streams.codecs.avro.single_object import SchemaStore

pytestmark = pytest.mark.unit

CODE = "M-1"
PHONE = {"id": 7, "code": CODE, "kind": "office", "number": "+46 8 123"}


def test_an_end_in_one_transaction_with_an_edit_goes_alone(schemas: SchemaStore) -> None:
    crew = Crew(schemas)
    row = crew.linked(CODE, "Anna Berg", 501)
    (phoned,) = crew.feed(crew.change("member_phone", "c", after=PHONE))
    assert (phoned.route, phoned.changed) == (("Customer", "update"), ("phone",))
    crew.feed(crew.change("worker", "u", before=row, after={**row, "phone": PHONE["number"]}))
    sent = crew.feed(*one_transaction([crew.change("member_phone", "d", before=PHONE),
                                       crew.change("member", "d", before=member(CODE, "Anna Berg"))]))
    assert [(s.topic, s.route) for s in sent] == [("isthmus.commands.gigs", ("Customer", "deactivate"))]
    assert crew.published(CODE)["phone"] is None
    assert crew.dead_letters == []


def test_the_end_then_an_edit_in_one_batch_sends_the_end_alone(schemas: SchemaStore) -> None:
    """The edit is folded with the end already in flight: nothing more goes until the end comes back."""
    crew = Crew(schemas)
    crew.linked(CODE, "Anna Berg", 501)
    sent = crew.feed(crew.change("member", "u", before=member(CODE, "Anna Berg"),
                                 after=member(CODE, "Anna Berg", active=0)),
                     crew.change("member", "u", before=member(CODE, "Anna Berg", active=0),
                                 after=member(CODE, "Anna Lind", active=0)))
    assert [(s.topic, s.route) for s in sent] == [("isthmus.commands.gigs", ("Customer", "deactivate"))]


def test_a_field_mapped_after_the_targets_rows_were_read_is_sent(schemas: SchemaStore,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    crew = Crew(schemas, UNPHONED)
    crew.linked(CODE, "Anna Berg", 501)
    assert crew.feed(crew.change("member_phone", "c", after=PHONE)) == []  # gigs keeps no phone yet
    crew.restart()  # the worker's phone column added, mapped and written; gigs' rows not read again
    sent = crew.feed(crew.change("member_phone", "r", after=PHONE))  # the snapshot README asks for
    assert [(s.topic, s.route, s.changed, s.payload["phone"]) for s in sent] == [
        ("isthmus.commands.gigs", ("Customer", "update"), ("phone",), "+46 8 123")]
    assert "gigs never reported phone" in caplog.text
    assert crew.feed(crew.change("member", "u", before=member(CODE, "Anna Berg"),
                                 after=member(CODE, "Anna Lind")))[0].changed == ("name",)  # sent once


def test_a_field_its_target_reported_is_not_sent_again_on_a_snapshot(schemas: SchemaStore) -> None:
    crew = Crew(schemas)
    row = crew.linked(CODE, "Anna Berg", 501)
    crew.feed(crew.change("member_phone", "c", after=PHONE))
    crew.feed(crew.change("worker", "u", before=row, after={**row, "phone": PHONE["number"]}))
    assert crew.feed(crew.change("member_phone", "r", after=PHONE)) == []


def _renamed_while_deactivated(crew: Crew) -> dict[str, object]:
    """gigs renames M-1 while the roster deactivates it, both read in one batch, the rename first: the rename's
    update to the roster is decided before the deactivation is read, its payload carrying ``active`` true."""
    row = crew.linked(CODE, "Anna Berg", 501)
    sent = crew.feed(crew.change("worker", "u", before=row, after={**row, "name": "Anna Lind"}),
                     crew.change("member", "u", before=member(CODE, "Anna Berg"),
                                 after=member(CODE, "Anna Berg", active=0)))
    assert [(s.topic.rpartition(".")[2], s.route[1], s.changed, s.payload["active"]) for s in sent] == [
        ("roster", "update", ("name",), True), ("gigs", "deactivate", ("active",), False)]
    assert crew.published(CODE)["active"] is False
    return row


def test_an_end_an_update_carrying_the_old_value_overwrote_is_sent_again(schemas: SchemaStore) -> None:
    """The roster's target writes the update's whole payload: active 1 over the roster's 0. That is the update's
    echo, not the roster ending the end: the roster gets its end again, nothing is made again in gigs."""
    crew = Crew(schemas)
    _renamed_while_deactivated(crew)
    sent = crew.feed(crew.change("member", "u", before=member(CODE, "Anna Berg", active=0),
                                 after=member(CODE, "Anna Lind", active=1)))
    assert [(s.topic.rpartition(".")[2], s.route[1], s.payload["active"]) for s in sent] == [
        ("roster", "deactivate", False)]
    assert crew.published(CODE)["active"] is False
    assert crew.feed(crew.change("member", "u", before=member(CODE, "Anna Lind", active=1),
                                 after=member(CODE, "Anna Lind", active=0))) == []
    assert crew.published(CODE)["active"] is False
    assert crew.dead_letters == []


def test_an_update_written_without_the_value_it_carried_expects_it_no_more(schemas: SchemaStore) -> None:
    """The roster's target writes only the changed fields: the end stays, and a later edit of the field counts."""
    crew = Crew(schemas)
    _renamed_while_deactivated(crew)
    assert crew.feed(crew.change("member", "u", before=member(CODE, "Anna Berg", active=0),
                                 after=member(CODE, "Anna Lind", active=0))) == []
    again = crew.feed(crew.change("member", "u", before=member(CODE, "Anna Lind", active=0),
                                  after=member(CODE, "Anna Lind", active=1)))
    assert crew.published(CODE)["active"] is True  # the roster's own edit, not an echo of the carried value
    assert again == []  # gigs' end still in flight; nothing sent to the roster against its edit
