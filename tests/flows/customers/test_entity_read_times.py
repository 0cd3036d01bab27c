"""Regulars both origins held before the first sync, decided by when each row changed, not when it was read (a new
user's trial: pretix customers and a MariaDB members table; tests/flows/customers/regulars/ made up over it).

A ``latest_commit_wins`` field takes the later commit's value. A snapshot read (``op: r``) carries the time the
connector read the row: both connectors deployed together, the row read a second later won every such field, whatever
was changed last (and rows read in the same second went to the owner). A source's ``changed_at`` names the column that
keeps when its rows last changed: a snapshot read of such a row is taken as committed then; a streamed change keeps
its own commit time.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from customer_events import Sent
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig
from streams.mapping import RecordMapping, engine
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "regulars"
#: When the flow reads the first snapshot row; each row after it is read a second later.
T0 = dt.datetime(2026, 12, 7, 18, 47, 56, tzinfo=dt.UTC)
BERLIN = ZoneInfo("Europe/Berlin")
TABLES = {
    "customer": MadeUpTable(system="tickets", engine=Engine.POSTGRESQL, namespace="tickets", key=("id",), columns={
        "id": ("BIGINT", "int64"), "email": ("TEXT", "string"), "name": ("TEXT", "string"),
        "phone": ("TEXT", "string"), "last_modified": ("TIMESTAMPTZ", "string")},
        names={"last_modified": "io.debezium.time.ZonedTimestamp"}),
    "mitglied": MadeUpTable(system="roster", engine=Engine.MARIADB, namespace="roster", key=("mitglied_nr",), columns={
        "mitglied_nr": ("VARCHAR", "string"), "email": ("VARCHAR", "string"), "name": ("VARCHAR", "string"),
        "telefon": ("VARCHAR", "string"), "geaendert": ("DATETIME", "int64")},
        names={"geaendert": "io.debezium.time.Timestamp"}),
}
TABLE = {"tickets": "customer", "roster": "mitglied"}
#: Regular ann@example.org as each system held her before the first sync: the ticket shop changed her row on
#: 3 December (UTC), the roster on 1 December (its local Berlin time).
TICKETS_CHANGED = dt.datetime(2026, 12, 3, 14, 30, 0, 250000, tzinfo=dt.UTC)
ROSTER_CHANGED = dt.datetime(2026, 12, 1, 9, 0, 0)
ROWS: dict[str, dict[str, Any]] = {
    "tickets": {"id": 7, "email": "Ann@Example.org", "name": "Ann Lee", "phone": "+49 30 1111"},
    "roster": {"mitglied_nr": "M-0007", "email": "ann@example.org", "name": "Ann Li", "telefon": "030 2222"},
}
TICKETS_VALUES = {"name": "Ann Lee", "phone": "+49 30 1111"}
ROSTER_VALUES = {"name": "Ann Li", "phone": "030 2222"}
KEY = "ann@example.org"


def _zoned(at: dt.datetime | None) -> str | None:
    """A TIMESTAMPTZ as Debezium sends it (io.debezium.time.ZonedTimestamp)."""
    return None if at is None else at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _local_millis(wall: dt.datetime | None) -> int | None:
    """A DATETIME as Debezium sends it (io.debezium.time.Timestamp): its wall clock's milliseconds, read as UTC."""
    return None if wall is None else int(wall.replace(tzinfo=dt.UTC).timestamp() * 1000)


def _folder(tmp_path: Path, declared: bool) -> Path:
    """The regulars' files; without ``changed_at`` when not ``declared``."""
    if declared:
        return HERE
    folder = tmp_path / "regulars"
    shutil.copytree(HERE, folder)
    mapping = folder / "mappings" / "regular.yaml"
    text = mapping.read_text(encoding="utf-8")
    kept = "\n".join(line for line in text.splitlines() if "changed_at:" not in line) + "\n"
    assert kept != text
    mapping.write_text(kept, encoding="utf-8")
    return folder


@functools.cache
def _loaded(schemas: SchemaStore, folder: Path) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    return made_up_flow(schemas, folder, TABLES, required=("email", "name"), time_zones={"roster": "Europe/Berlin"})


class Regulars(MadeUpRun):
    """The flow under LocalRun, with each system's row of ann@example.org at hand (:meth:`row`)."""

    def __init__(self, schemas: SchemaStore, folder: Path) -> None:
        mappings, systems, self.config = _loaded(schemas, folder)
        flow = CustomerFlow(mappings=mappings, schemas=schemas, systems=systems, config=self.config,
                            clock=lambda: self.now)
        super().__init__(schemas, systems, flow, start=T0 - dt.timedelta(seconds=1),
                         published_to="test.canonical.regulars", tables=TABLES)

    def row(self, system: str, op: str, *, changed: Any = "as held", before: dict[str, Any] | None = None,
            **values: Any) -> tuple[str, bytes, bytes]:
        """A change of ``system``'s row (``changed``: its change-time column's value, by default as held)."""
        if system == "tickets":
            at = {"last_modified": _zoned(TICKETS_CHANGED if changed == "as held" else changed)}
        else:
            at = {"geaendert": _local_millis(ROSTER_CHANGED if changed == "as held" else changed)}
        return self.change(TABLE[system], op, before=before, after={**ROWS[system], **at, **values})


def _routes(sent: list[Sent]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.record["target"], s.record["operation"], s.changed) for s in sent]


def _first_sync(run: Regulars, first: str, **changed: Any) -> list[Sent]:
    """Both connectors' snapshots read the regular: ``first``'s row, then a second later the other's; what the
    other's row sent (``changed``: a system's change time, when not as held)."""
    other = "roster" if first == "tickets" else "tickets"
    first_row = run.row(first, "r", **({"changed": changed[first]} if first in changed else {}))
    (create,) = run.feed(first_row)
    assert _routes([create]) == [(other, "create", ())]
    return run.feed(run.row(other, "r", **({"changed": changed[other]} if other in changed else {})))


@pytest.mark.parametrize("first", ["tickets", "roster"])
def test_the_row_changed_later_wins_whichever_snapshot_reads_it_first(schemas: SchemaStore, first: str) -> None:
    run = Regulars(schemas, HERE)
    sent = _first_sync(run, first)
    # the ticket shop changed the regular last: its name and phone win, and the roster gets them
    assert _routes(sent) == [("roster", "update", ("name", "phone"))]
    assert {f: sent[0].payload[f] for f in TICKETS_VALUES} == TICKETS_VALUES
    published = run.published(KEY)
    assert {f: published[f] for f in TICKETS_VALUES} == TICKETS_VALUES
    # stamped when each row changed, not when it was read
    stamps = published["provenance"]
    assert {f: (stamps[f]["system"], stamps[f]["commit_time"]) for f in TICKETS_VALUES} == dict.fromkeys(
        TICKETS_VALUES, ("tickets", TICKETS_CHANGED))
    assert stamps["account_code"]["commit_time"] == ROSTER_CHANGED.replace(tzinfo=BERLIN).astimezone(dt.UTC)
    conflicts = run.conflicts()
    assert sorted(c["field"] for c in conflicts) == ["name", "phone"]
    assert {(c["winner"], c["rule"]) for c in conflicts} == {("tickets", "later_commit")}
    assert {c["commit_times"]["tickets"] for c in conflicts} == {TICKETS_CHANGED}


@pytest.mark.parametrize("first", ["tickets", "roster"])
def test_without_changed_at_the_row_read_later_wins(schemas: SchemaStore, tmp_path: Path, first: str) -> None:
    """What the trial saw: the read order decides (and the flow file's note says so, with the fix)."""
    folder = _folder(tmp_path, declared=False)
    run = Regulars(schemas, folder)
    _first_sync(run, first)
    read_later = ROSTER_VALUES if first == "tickets" else TICKETS_VALUES
    assert {f: run.published(KEY)[f] for f in read_later} == read_later
    (note,) = [w for w in run.config.warnings if "declare no `changed_at`" in w]
    assert "name, phone (latest_commit_wins)" in note and "roster and tickets" in note
    assert "sources.tickets_customer (tickets.customer), sources.roster_member (roster.mitglied)" in note
    assert "`changed_at: <column>`" in note and "local_to_utc" in note


def test_the_flow_says_nothing_of_read_times_when_every_origin_declares_changed_at(schemas: SchemaStore) -> None:
    assert Regulars(schemas, HERE).config.warnings == ()


def test_rows_changed_in_the_same_second_go_to_the_owner(schemas: SchemaStore) -> None:
    """The roster keeps whole seconds: a ticket shop change at 14:30:00.7 and a roster change at 15:30:00 Berlin
    (14:30:00 UTC) are the same instant at the coarser of the two clocks; nothing proves which came first."""
    run = Regulars(schemas, HERE)
    _first_sync(run, "roster", tickets=dt.datetime(2026, 12, 3, 14, 30, 0, 700000, tzinfo=dt.UTC),
                roster=dt.datetime(2026, 12, 3, 15, 30, 0))
    assert {f: run.published(KEY)[f] for f in ROSTER_VALUES} == ROSTER_VALUES
    assert {(c["winner"], c["rule"]) for c in run.conflicts()} == {("roster", "owner_on_tie")}


def test_a_streamed_change_keeps_its_own_commit_time(schemas: SchemaStore) -> None:
    """An edit made in the roster after the first sync wins, though its change-time column was left as it was."""
    run = Regulars(schemas, HERE)
    _first_sync(run, "tickets")
    held = {**ROWS["roster"], "geaendert": _local_millis(ROSTER_CHANGED)}
    synced = {"name": TICKETS_VALUES["name"], "telefon": TICKETS_VALUES["phone"]}
    assert run.feed(run.row("roster", "u", before=held, **synced)) == []  # the update's echo
    (sent,) = run.feed(run.row("roster", "u", before={**held, **synced}, **{**synced, "telefon": "030 3333"}))
    assert _routes([sent]) == [("tickets", "update", ("phone",))] and sent.payload["phone"] == "030 3333"
    assert run.published(KEY)["provenance"]["phone"]["commit_time"] == run.now


@pytest.mark.parametrize(("changed", "why"), [
    (None, "is null"),
    (T0 + dt.timedelta(hours=1), "after the read time"),
])
def test_a_row_without_a_usable_change_time_is_taken_as_changed_when_read(
        schemas: SchemaStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, changed: Any,
        why: str) -> None:
    monkeypatch.setattr(engine, "_UNTIMED", set())
    run = Regulars(schemas, HERE)
    with caplog.at_level(logging.WARNING, logger="streams.mapping.engine"):
        _first_sync(run, "roster", tickets=changed)
        run.feed(run.row("tickets", "r", changed=changed, id=8, email="bo@example.org"))
    # read after the roster's row changed: the ticket shop's values win, stamped with its read time
    assert {f: run.published(KEY)[f] for f in TICKETS_VALUES} == TICKETS_VALUES
    assert run.published(KEY)["provenance"]["name"]["commit_time"] == T0 + dt.timedelta(seconds=1)
    said = [r.getMessage() for r in caplog.records if "changed_at" in r.getMessage()]
    assert len(said) == 1, said  # once per source
    assert "regular.yaml:13: sources.tickets_customer.changed_at" in said[0] and why in said[0]
    assert "said once per source" in said[0]


def test_a_resync_re_read_of_a_value_reported_before_decides_nothing(schemas: SchemaStore, tmp_path: Path) -> None:
    """The daily re-sync re-reads the ticket shop's row, its read time now, while the roster's later edit never
    reached it (the update was refused): the value the shop reported before is no edit made now, with or without
    ``changed_at`` (sync.py's prior-value skip), so the roster's edit stands."""
    run = Regulars(schemas, _folder(tmp_path, declared=False))
    _first_sync(run, "tickets")  # the roster's row, read later, wins
    tickets_held = {**ROWS["tickets"], "last_modified": _zoned(TICKETS_CHANGED)}
    assert run.feed(run.row("tickets", "u", before=tickets_held, **ROSTER_VALUES)) == []  # the update's echo
    linked = {**ROWS["roster"], "geaendert": _local_millis(ROSTER_CHANGED)}
    sent = run.feed(run.row("roster", "u", before=linked, telefon="030 3333"))
    (update,) = sent
    assert _routes([update]) == [("tickets", "update", ("phone",))]
    run.dead_letter(update, "422 phone refused")
    run.feed(run.row("tickets", "r", **ROSTER_VALUES))  # the shop still holds the roster's first values
    assert run.published(KEY)["phone"] == "030 3333"
    assert [c for c in run.conflicts() if c["winner"] == "tickets"] == []
