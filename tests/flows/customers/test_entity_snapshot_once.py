"""A system's initial snapshot is folded as one transaction and each entity decided once, at its end
(streams/flows/customers/snapshots.py): three trials' first syncs wrote each entity once, then once more per row
of its children's tables that Debezium read after it (2,000 accounts of 12 contacts: 28,000 API writes)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from customer_events import (
    CRM_ADDRESSES,
    CRM_CONTACTS,
    CRM_CUSTOMERS,
    crm_address_row,
    crm_contact_row,
    crm_customer_row,
    decode_commands,
)
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.flows.commands import Cause
from streams.flows.customers import CustomerFlow
from streams.flows.customers.deferred import DEFERRED, DecisionProgress, Deferred
from streams.flows.customers.snapshots import QUIET_S, SNAPSHOT_CHUNK
from streams.flows.engine.stores import MemoryStore

pytestmark = pytest.mark.unit

NUMBERS = ("C-510001", "C-510002")


def _snapshot(harness: Harness, *, last: str | None = "last", tables_marked: bool = False) -> list[tuple[str, bytes,
                                                                                                         bytes]]:
    """The CRM's snapshot of two customers, each with a billing address and two contacts, as Debezium reads it:
    one table after another. ``last``: the mark of its last read (None: ``true``, as when the snapshot's last
    table is one the flow does not read); ``tables_marked``: each table's last read is marked as such."""
    cdc = harness.systems.cdc
    customers = [crm_customer_row(number, 51 + n, name=f"Snap {n}") for n, number in enumerate(NUMBERS)]
    addresses = [crm_address_row(6100 + n, 51 + n, line1=f"{n} Quay Street") for n in range(2)]
    contacts = [crm_contact_row(7100 + 2 * n + i, 51 + n, first_name=f"F{n}{i}") for n in range(2) for i in range(2)]
    reads: list[tuple[str, Any]] = [*((CRM_CUSTOMERS, row) for row in customers),
                                    *((CRM_ADDRESSES, row) for row in addresses),
                                    *((CRM_CONTACTS, row) for row in contacts)]
    marks = ["first", *("true" for _ in reads[1:])]
    if tables_marked:
        for at in (len(customers) - 1, len(customers) + len(addresses) - 1):
            marks[at] = "last_in_data_collection"
        marks[-1] = "last_in_data_collection"
    if last is not None:
        marks[-1] = last
    return [cdc.record(topic, "r", before=None, after=row, snapshot=mark) for (topic, row), mark in zip(reads, marks,
                                                                                                     strict=True)]


def _each_decided_once(harness: Harness, sent: list[Any]) -> None:
    assert sorted((s.key, s.route) for s in sent) == [(number, ("Account", "create")) for number in NUMBERS]
    for n, number in enumerate(NUMBERS):
        [create] = [s for s in sent if s.key == number]
        assert create.payload["billing_address"]["line1"] == f"{n} Quay Street"
        assert harness.canonical(number)["name"] == f"Snap {n}"
        assert [c["first_name"] for c in harness.canonical(number)["contacts"]] == [f"F{n}0", f"F{n}1"]


def test_each_customer_is_created_once_with_its_children_when_the_snapshot_ends(harness: Harness) -> None:
    *reads, last = _snapshot(harness)
    assert harness.feed(*reads) == []  # folded, held: no command and no canonical record before the end
    assert [e for e in harness.emitted if e.topic == "isthmus.canonical.customers"] == []
    _each_decided_once(harness, harness.feed(last))
    assert harness.run.context.memory[DEFERRED].get("snapshot:crm") is None  # the snapshot is closed


def test_reads_fed_one_batch_each_still_make_one_command_per_customer(harness: Harness) -> None:
    sent = [one for read in _snapshot(harness) for one in harness.feed(read)]
    _each_decided_once(harness, sent)


def test_the_last_read_of_every_table_the_flow_reads_ends_it(harness: Harness) -> None:
    crm_tables = {table for system, table in harness.flow.tables.values() if system == "crm"}
    if crm_tables != {"customers", "addresses", "contacts"}:
        pytest.fail(f"the reference flow reads other CRM tables too: {sorted(crm_tables)}; mark them in this test")
    *reads, last = _snapshot(harness, last=None, tables_marked=True)
    assert harness.feed(*reads) == []
    _each_decided_once(harness, harness.feed(last))


def test_a_snapshot_whose_end_the_flow_never_reads_ends_when_quiet_and_read(harness: Harness) -> None:
    """Its last table is one the flow does not read: no read is marked. A tick ends it once every topic of the
    system is read to its end and no read came for QUIET_S seconds; not before, and not while one is unread."""
    assert harness.feed(*_snapshot(harness, last=None)) == []
    crm_topics = [topic for topic, (system, _) in harness.flow.tables.items() if system == "crm"]
    before = len(harness.emitted)
    harness.run.tick(now_s=QUIET_S - 1)
    harness.run.tick(now_s=QUIET_S + 60, read_to_end=crm_topics[1:])
    assert harness.emitted[before:] == []
    harness.run.tick(now_s=QUIET_S + 1)
    _each_decided_once(harness, decode_commands(harness.emitted[before:], harness.schemas))


def test_a_restart_meanwhile_waits_quiet_from_its_first_tick(harness: Harness, mappings: Any, schemas: Any) -> None:
    """The open snapshot is in the deferred store; a new flow over the same stores (a restart) closes it at a
    quiet tick, counted from its own first look."""
    assert harness.feed(*_snapshot(harness, last=None)) == []
    restarted = Harness(flow=CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(),
                                          clock=lambda: SETTLED_AT), schemas=schemas, systems=harness.systems)
    restarted.run.context.memory.update(harness.run.context.memory)
    before = len(restarted.emitted)
    restarted.run.tick(now_s=1_000.0)  # its first look: the quiet while starts here
    assert restarted.emitted[before:] == []
    restarted.run.tick(now_s=1_000.0 + QUIET_S)
    _each_decided_once(restarted, decode_commands(restarted.emitted[before:], restarted.schemas))


def test_a_streamed_change_in_the_snapshot_decides_its_entity_at_once(harness: Harness) -> None:
    """Another system's (or the same one's) streamed change of an entity is decided as it comes, with all the
    snapshot gave it so far; the snapshot's end has nothing left to send for it."""
    reads = _snapshot(harness)
    assert harness.feed(*reads[:3]) == []  # both customers and the first's address
    harness.systems.customers[NUMBERS[0]] = crm_customer_row(NUMBERS[0], 51, name="Snap 0")
    (created,) = harness.feed(harness.systems.crm_edit(NUMBERS[0], name="Snap 0"))
    assert created.route == ("Account", "create") and created.payload["billing_address"]["line1"] == "0 Quay Street"
    at_end = harness.feed(*reads[3:])
    assert [(s.key, s.route) for s in at_end if s.key == NUMBERS[1]] == [(NUMBERS[1], ("Account", "create"))]
    assert all(s.route != ("Account", "create") for s in at_end if s.key == NUMBERS[0])


def test_an_incremental_snapshots_reads_are_decided_as_they_come(harness: Harness) -> None:
    cdc = harness.systems.cdc
    row = crm_customer_row("C-510009", 59, name="Chunked")
    (sent,) = harness.feed(cdc.record(CRM_CUSTOMERS, "r", before=None, after=row, snapshot="incremental"))
    assert sent.route == ("Account", "create")



def test_a_snapshots_reads_fill_chunks_of_the_deferred_store_not_a_key_each() -> None:
    deferred = Deferred(MemoryStore(DEFERRED))
    keys = [f"C-{n:06d}" for n in range(2 * SNAPSHOT_CHUNK + 50)]
    for key in keys:  # one read a part, as a snapshot's
        deferred.defer("snapshot:crm@x", {key: Cause(system="crm", connector="postgresql", database="crm",
                                                     table="customers", row_key=key, snapshot=True,
                                                     commit_time=dt.datetime(2026, 12, 8, tzinfo=dt.UTC))},
                       fill=SNAPSHOT_CHUNK)
    assert sorted(k for k, _ in deferred.store.items()) == [
        "chunk:snapshot:crm@x:0", "chunk:snapshot:crm@x:1", "chunk:snapshot:crm@x:2", "tx:snapshot:crm@x"]
    assert deferred.left() == 0  # not ended: nothing to decide yet
    assert deferred.end("snapshot:crm@x") and deferred.left() == len(keys)
    first = [key for key, _ in deferred.take(SNAPSHOT_CHUNK)]
    assert deferred.left() == len(keys) - len(first)
    taken = first + [key for key, _ in deferred.take(10_000)]
    assert taken == keys and not deferred.pending() and deferred.left() == 0


def test_a_long_run_of_deferred_decisions_says_how_far_it_is(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    progress = DecisionProgress("isthmus-customers", clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="streams.flows.customers.deferred"):
        progress.decided(2_000, 8_000)  # begins: nothing said yet
        now[0] += 2
        progress.decided(2_000, 6_000)
        assert caplog.messages == []
        now[0] += 4  # 6 s since it began
        progress.decided(2_000, 4_000)
        now[0] += 6
        progress.decided(4_000, 0)
    assert caplog.messages == [
        "isthmus-customers: deciding the entities a snapshot or a large source transaction left: 6000 decided in 6 s "
        "(1000 a second), about 4000 left, about 4 s more",
        "isthmus-customers: deciding the entities a snapshot or a large source transaction left: 10000 decided in 12 s "
        "(833 a second), about 0 left"]
    caplog.clear()
    progress.decided(2_000, 0)  # a short run: said nothing
    assert caplog.messages == []
