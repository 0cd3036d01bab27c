"""The echo of a write a system stores with less than it was sent (a new user's trial: a web shop's microsecond UTC
change time written into a legacy ERP's DATETIME, local Europe/Berlin time in whole seconds) is that echo, no edit.

On a made-up pair (tests/flows/customers/clocks/): customers of a ``boutique`` (PostgreSQL, UTC, microseconds) and
Kunden of a ``lager`` (MariaDB, Europe/Berlin, whole seconds), born in either; both write the change time, which
goes with the later commit. The lager reports 15:45:01.123456 sent as 15:45:01, and 01:30 UTC of the night the
clocks fall back (02:30 CET, the repeated hour's second pass) as 00:30 UTC: its column holds 02:30, which its
source reads back under ``repeated: earlier``. Neither is declared: the cut is derived from the lager's columns
file (``GEAEND: {type: DATETIME}``, no fraction, on MariaDB, which cuts), the round trip from the source's own
``local_to_utc``. A lager on PostgreSQL whose column is ``timestamp(0)`` rounds instead (01.6 is kept as 02). Before,
each echo was taken for the lager's edit: it won the change time by its later commit and was written back over the
boutique's (an hour off, or its fraction dropped). A real edit made in the lager is still one.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from customer_events import Sent
from made_up_run import MadeUpRun, MadeUpTable
from support.systems import system

from streams.catalog.columns_file import read_all
from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, entity_config, sync
from streams.flows.exceptions import FlowFileError
from streams.flows.files import load_flow_files
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "clocks"
FLOW = (HERE / "flows" / "clocks.yaml").read_text(encoding="utf-8")
#: The lager's columns file, and its change time's line in it: a DATETIME without fraction.
LAGER_COLUMNS = (HERE / "systems" / "lager.columns.yaml").read_text(encoding="utf-8")
GEAEND = "      GEAEND: {type: DATETIME}\n"
NUMBER = "K-17"
T0 = dt.datetime(2026, 10, 24, 9, 0, tzinfo=dt.UTC)
BERLIN = dt.timezone(dt.timedelta(hours=1))  # the lager's wall clock after the clocks fell back (CET)
#: Column -> (SQL type, Connect type) of each table, and the Connect name of each time column (the SQL types are the
#: columns files', clocks/systems/).
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "customer": {"id": ("BIGINT", "int64"), "number": ("TEXT", "string"), "full_name": ("TEXT", "string"),
                 "updated_at": ("TIMESTAMP WITHOUT TIME ZONE", "int64")},
    "KUNDEN": {"KDNR": ("VARCHAR", "string"), "NAME": ("VARCHAR", "string"), "GEAEND": ("DATETIME", "int64")},
}
NAMES = {"customer": {"updated_at": "io.debezium.time.MicroTimestamp"},
         "KUNDEN": {"GEAEND": "io.debezium.time.Timestamp"}}
KEYS = {"customer": ("id",), "KUNDEN": ("KDNR",)}
SYSTEM_OF = {"customer": "boutique", "KUNDEN": "lager"}
ENGINES = {"boutique": Engine.POSTGRESQL, "lager": Engine.MARIADB}
ZONES = {"boutique": "UTC", "lager": "Europe/Berlin"}
ZONE = ZoneInfo(ZONES["lager"])


def _systems(lager: Engine = Engine.MARIADB) -> Systems:
    engines = {**ENGINES, "lager": lager}
    return Systems({name: system(name, engine=engine, writable=True, time_zone=ZONES[name])
                    for name, engine in engines.items()}, directory=HERE / "systems")


@functools.cache
def _mappings(schemas: SchemaStore, columns: Path = HERE / "systems", lager: Engine = Engine.MARIADB,
              ) -> dict[str, RecordMapping]:
    """The mappings, checked against the columns files in ``columns`` (the lager's engine ``lager``)."""
    return load_mappings(HERE / "mappings", schemas=schemas.schemas, tables=read_all(columns), systems=_systems(lager))


def _lager_as(folder: Path, engine: str, geaend: str) -> Path:
    """A folder of columns files where the lager runs on ``engine`` and its change time is ``geaend``."""
    folder.mkdir(exist_ok=True)
    (folder / "boutique.columns.yaml").write_text(
        (HERE / "systems" / "boutique.columns.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "lager.columns.yaml").write_text(LAGER_COLUMNS.replace("engine: mariadb", f"engine: {engine}").replace(
        GEAEND, f"      GEAEND: {geaend}\n"), encoding="utf-8")
    return folder


#: The lager on PostgreSQL, its change time a ``timestamp(0)`` (rounded to the second).
ROUNDING = ("postgresql", '{type: "TIMESTAMP WITHOUT TIME ZONE", args: [0]}')


def _config(schemas: SchemaStore, folder: Path, text: str, columns: Path = HERE / "systems",
            lager: Engine = Engine.MARIADB) -> EntityConfig:
    (folder / "clocks.yaml").write_text(text, encoding="utf-8")
    (flow,) = load_flow_files(folder)
    return entity_config(flow, _mappings(schemas, columns, lager), schemas.schemas.named, _systems(lager))


class Clocks(MadeUpRun):
    """The flow under LocalRun; :meth:`feed` gives the commands the changes caused. ``columns``: the folder of the
    columns files (``lager``: the lager's engine in them)."""

    def __init__(self, schemas: SchemaStore, folder: Path, text: str = FLOW, columns: Path = HERE / "systems",
                 lager: Engine = Engine.MARIADB) -> None:
        systems = _systems(lager)
        self.engines = {**ENGINES, "lager": lager}
        flow = CustomerFlow(mappings=_mappings(schemas, columns, lager), schemas=schemas, systems=systems,
                            config=_config(schemas, folder, text, columns, lager), clock=lambda: T0)
        super().__init__(schemas, systems, flow, start=T0, published_to="test.canonical.clocks")

    def table(self, name: str) -> MadeUpTable:
        system_name = SYSTEM_OF[name]
        return MadeUpTable(system=system_name, columns=COLUMNS[name], key=KEYS[name],
                           engine=self.engines[system_name], namespace=system_name, names=NAMES[name])


def customer(updated_at: dt.datetime, name: str = "Anna Berg") -> dict[str, Any]:
    """The boutique's row: its TIMESTAMP WITHOUT TIME ZONE holds UTC, as Debezium's microseconds."""
    return {"id": 5, "number": NUMBER, "full_name": name, "updated_at": _epoch(updated_at, 1_000_000)}


def kunde(sent: Sent | dt.datetime, name: str = "Anna Berg", *, rounds: bool = False) -> dict[str, Any]:
    """The lager's row as it stores what ``sent`` carried (or a time of its own): the Berlin wall-clock time, cut to
    the second (MariaDB's DATETIME) or rounded to it (``rounds``: PostgreSQL's timestamp(0)), which Debezium sends as
    milliseconds "as if UTC"."""
    instant = sent if isinstance(sent, dt.datetime) else _time(sent.payload["updated_at"])
    wall = (instant + dt.timedelta(microseconds=500_000 if rounds else 0)).astimezone(ZONE)
    if isinstance(sent, Sent):
        name = sent.payload["name"]
    return {"KDNR": NUMBER, "NAME": name, "GEAEND": _epoch(wall.replace(tzinfo=dt.UTC, microsecond=0), 1_000)}


def _epoch(instant: dt.datetime, per_second: int) -> int:
    return (instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1_000_000 // per_second)


def _time(value: Any) -> dt.datetime:
    """A command payload's time (ISO 8601 text) as an instant."""
    return dt.datetime.fromisoformat(value)


@pytest.fixture(autouse=True)
def _nothing_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in a process that has said nothing yet (the flow says some things once per process)."""
    monkeypatch.setattr(sync, "_SAID", set())
    monkeypatch.setattr(sync, "_FORMS", {})


def _updates(sent: list[Sent]) -> list[tuple[str, str, tuple[str, ...], Any]]:
    return [(s.record["target"], s.record["operation"], s.changed, s.payload.get("updated_at")) for s in sent]


def _linked(run: Clocks, at: dt.datetime) -> dict[str, Any]:
    """The customer made in the boutique at ``at``, created in the lager, the lager's row (its echo) read back."""
    (create,) = run.feed(run.change("customer", "c", after=customer(at)))
    assert (create.record["target"], create.record["operation"]) == ("lager", "create")
    row = kunde(create)
    assert run.feed(run.change("KUNDEN", "c", after=row)) == []
    assert run.conflicts() == []
    return row


@pytest.mark.parametrize(("lager", "sent", "echoed"), [
    (Engine.MARIADB, dt.datetime(2026, 10, 24, 15, 45, 1, 123456, tzinfo=dt.UTC),
     dt.datetime(2026, 10, 24, 15, 45, 1, tzinfo=dt.UTC)),
    (Engine.MARIADB, dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)),
    (Engine.POSTGRESQL, dt.datetime(2026, 10, 24, 15, 45, 1, 600000, tzinfo=dt.UTC),
     dt.datetime(2026, 10, 24, 15, 45, 2, tzinfo=dt.UTC)),
    # rounded up into the repeated hour's second pass (01:30 UTC, 02:30 CET), read back in its first
    (Engine.POSTGRESQL, dt.datetime(2026, 10, 25, 1, 29, 59, 500000, tzinfo=dt.UTC),
     dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)),
], ids=["whole-seconds", "repeated-hour", "timestamp(0)-rounds", "rounded-into-the-repeated-hour"])
def test_the_lossy_echo_of_an_owners_time_is_no_edit_and_sends_nothing_back(
        schemas: SchemaStore, tmp_path: Path, lager: Engine, sent: dt.datetime, echoed: dt.datetime) -> None:
    """No ``keeps`` line: the columns file tells the lager's column keeps whole seconds, and its engine whether it
    cuts (MariaDB) or rounds (PostgreSQL) a finer time."""
    rounds = lager is Engine.POSTGRESQL
    columns = _lager_as(tmp_path / "columns", *ROUNDING) if rounds else HERE / "systems"
    run = Clocks(schemas, tmp_path, columns=columns, lager=lager)
    first = dt.datetime(2026, 10, 24, 9, 0, 5, tzinfo=dt.UTC)
    row = _linked(run, first)
    (update,) = run.feed(run.change("customer", "u", before=customer(first), after=customer(sent)))
    assert _updates([update])[0][:3] == ("lager", "update", ("updated_at",)) and _time(
        update.payload["updated_at"]) == sent
    echo = kunde(update, rounds=rounds)
    assert echo["GEAEND"] == _epoch(echoed.astimezone(ZONE).replace(tzinfo=dt.UTC), 1_000)
    assert run.feed(run.change("KUNDEN", "u", before=row, after=echo)) == []
    assert run.conflicts() == [] and run.dead_letters == []
    assert run.published(NUMBER)["updated_at"] == sent  # the record keeps the boutique's own time
    # a rename then sends the name alone: the time is settled in the lager
    (renamed,) = run.feed(run.change("customer", "u", before=customer(sent), after=customer(sent, "Anna Berg-Ost")))
    assert _updates([renamed])[0][:3] == ("lager", "update", ("name",))


def test_the_lossy_echo_of_a_create_leaves_nothing_in_flight(schemas: SchemaStore, tmp_path: Path) -> None:
    run = Clocks(schemas, tmp_path)
    sent = dt.datetime(2026, 10, 25, 1, 30, 0, 250000, tzinfo=dt.UTC)
    row = _linked(run, sent)
    assert row["GEAEND"] == _epoch(dt.datetime(2026, 10, 25, 2, 30, tzinfo=dt.UTC), 1_000)
    # the lager's rename (it owns no name: written back) shows the same time: nothing about the time is sent
    (back,) = run.feed(run.change("KUNDEN", "u", before=row, after={**row, "NAME": "A. Berg"}))
    assert _updates([back])[0][:3] == ("lager", "update", ("name",))
    assert [c["field"] for c in run.conflicts()] == ["name"]
    assert run.published(NUMBER)["updated_at"] == sent


def test_a_real_edit_of_the_time_in_the_lager_is_still_one(schemas: SchemaStore, tmp_path: Path) -> None:
    run = Clocks(schemas, tmp_path)
    first = dt.datetime(2026, 10, 24, 9, 0, 5, tzinfo=dt.UTC)
    row = _linked(run, first)
    edited = dt.datetime(2026, 10, 25, 10, 0, tzinfo=BERLIN)  # 10:00 on the lager's clock, 09:00 UTC
    sent = run.feed(run.change("KUNDEN", "u", before=row, after=kunde(edited)))
    assert [(t, o, c, _time(u)) for t, o, c, u in _updates(sent)] == [
        ("boutique", "update", ("updated_at",), dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC))]
    assert run.published(NUMBER)["updated_at"] == edited
    # an edit into the repeated hour's first pass (02:30 CEST, 00:30 UTC) is one too
    repeated = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    sent = run.feed(run.change("KUNDEN", "u", before=kunde(edited), after=kunde(repeated)))
    assert [_time(u) for *_, u in _updates(sent)] == [repeated]


#: The lager's columns file says its change time keeps microseconds (``DATETIME(6)``), as its API does not.
MICROSECONDS = ("mariadb", "{type: DATETIME, args: [6]}")
KEEPS = "      keeps:\n        updated_at: [{truncate: second}]\n"


def test_a_cut_the_columns_file_does_not_tell_is_taken_for_an_edit_and_said(
        schemas: SchemaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What ``keeps`` is for, where the columns file does not tell it: the lager's column keeps microseconds but its
    API cuts them. Undeclared, the lager's whole second wins by its later commit and is written back over the
    boutique's microseconds (and, the value sent still in flight, to the lager again). The worker says so, naming the
    setting, although the field has a form derived for it (the local round trip)."""
    run = Clocks(schemas, tmp_path, columns=_lager_as(tmp_path / "columns", *MICROSECONDS))
    first = dt.datetime(2026, 10, 24, 9, 0, 5, tzinfo=dt.UTC)
    row = _linked(run, first)
    sent = dt.datetime(2026, 10, 24, 15, 45, 1, 123456, tzinfo=dt.UTC)
    (update,) = run.feed(run.change("customer", "u", before=customer(first), after=customer(sent)))
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        back = run.feed(run.change("KUNDEN", "u", before=row, after=kunde(update)))
    (said,) = [r.getMessage() for r in caplog.records if "reported updated_at" in r.getMessage()]
    assert said.startswith("lager reported updated_at 2026-10-24 15:45:01+00:00 where Isthmus had sent 2026-10-24 "
                           "15:45:01.123456+00:00 (customer_number K-17): most likely an edit made in lager meanwhile")
    assert "(the value could be the one sent, in another form)" in said and "systems.lager.keeps" in said
    assert [(target, _time(u)) for target, _, _, u in _updates(back)] == [
        ("boutique", sent.replace(microsecond=0)), ("lager", sent.replace(microsecond=0))]


def test_a_declared_cut_settles_what_the_columns_file_does_not_tell(schemas: SchemaStore, tmp_path: Path) -> None:
    run = Clocks(schemas, tmp_path, FLOW + KEEPS, columns=_lager_as(tmp_path / "columns", *MICROSECONDS))
    first = dt.datetime(2026, 10, 24, 9, 0, 5, tzinfo=dt.UTC)
    row = _linked(run, first)
    sent = dt.datetime(2026, 10, 24, 15, 45, 1, 123456, tzinfo=dt.UTC)
    (update,) = run.feed(run.change("customer", "u", before=customer(first), after=customer(sent)))
    assert run.feed(run.change("KUNDEN", "u", before=row, after=kunde(update))) == []
    assert run.conflicts() == [] and run.published(NUMBER)["updated_at"] == sent


def test_the_forms_are_compiled_at_load(schemas: SchemaStore, tmp_path: Path) -> None:
    """The lager's form of the time: cut to the second (its columns file's DATETIME on MariaDB), then through its
    Berlin wall clock and back (derived from its source's ``local_to_utc``); the boutique, whose times are UTC to
    the microsecond, keeps them as sent. On PostgreSQL a ``timestamp(0)`` rounds; a declared form wins over the
    columns file's; a column that keeps microseconds has no cut."""
    config = _config(schemas, tmp_path, FLOW)
    form = config.written["lager"].keeps["updated_at"]
    assert [(step.name, getattr(step, "digits", None)) for step in form.steps] == [
        ("truncate", 0), ("utc_to_local", None), ("local_to_utc", None)]
    assert form.view(dt.datetime(2026, 10, 25, 1, 30, 0, 999999, tzinfo=dt.UTC)) == dt.datetime(
        2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    assert form.view(dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    assert form.view(None) is None
    assert "updated_at" not in config.written["boutique"].keeps
    rounding = _config(schemas, tmp_path, FLOW, _lager_as(tmp_path / "rounding", *ROUNDING), Engine.POSTGRESQL)
    rounded = rounding.written["lager"].keeps["updated_at"]
    assert [step.name for step in rounded.steps] == ["round", "utc_to_local", "local_to_utc"]
    assert rounded.view(dt.datetime(2026, 10, 24, 15, 45, 1, 600000, tzinfo=dt.UTC)) == dt.datetime(
        2026, 10, 24, 15, 45, 2, tzinfo=dt.UTC)
    declared = _config(schemas, tmp_path, FLOW + "      keeps:\n        updated_at: [{truncate: millisecond}]\n")
    assert [(step.name, getattr(step, "digits", None)) for step in declared.written["lager"].keeps[
        "updated_at"].steps] == [("truncate", 3), ("utc_to_local", None), ("local_to_utc", None)]
    fine = _config(schemas, tmp_path, FLOW, _lager_as(tmp_path / "fine", *MICROSECONDS))
    assert [step.name for step in fine.written["lager"].keeps["updated_at"].steps] == ["utc_to_local", "local_to_utc"]


SENT = dt.datetime(2026, 10, 24, 15, 45, 1, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(("reported", "form"), [
    (SENT.replace(microsecond=0), True),  # cut to the second
    (SENT.replace(microsecond=123000), True),  # to the millisecond
    (SENT.replace(second=2, microsecond=0), True),  # rounded up
    (SENT - dt.timedelta(hours=1), True),  # a repeated hour's other pass
    (SENT.replace(microsecond=0) + dt.timedelta(hours=2), True),  # a local time read as UTC, cut
    (SENT + dt.timedelta(minutes=1), False),
    (SENT.replace(microsecond=0) + dt.timedelta(days=3), False),
    (SENT.replace(tzinfo=None), None),
])
def test_a_time_in_another_form_is_told_from_another_time(reported: dt.datetime, form: bool | None) -> None:
    assert sync._a_form_of(reported, SENT) is form


@pytest.mark.parametrize(("keeps", "field", "message"), [
    ("{name: [{truncate: second}]}", "entity.systems.lager.keeps.name: truncate", "truncate works on times"),
    ("{updated_at: [{truncate: hour}]}", "entity.systems.lager.keeps.updated_at: truncate",
     "truncate takes the unit to cut down to, not 'hour'"),
    ("{updated_at: [{round: 7}]}", "entity.systems.lager.keeps.updated_at: round", "round takes the unit to round to, "
     "not 7"),
])
def test_a_cut_the_field_cannot_take_is_refused_at_load(schemas: SchemaStore, tmp_path: Path, keeps: str, field: str,
                                                        message: str) -> None:
    with pytest.raises(FlowFileError) as raised:
        _config(schemas, tmp_path, FLOW + f"      keeps: {keeps}\n")
    (problem,) = raised.value.problems
    assert problem.field == field and message in problem.message and problem.fix, problem


#: The lager's name line in its columns file, and a lager whose name is a fixed-length text in its engine's spelling.
NAME = "      NAME: {type: VARCHAR, args: [200], nullable: false}\n"
CHARS = {Engine.MARIADB: ("mariadb", "{type: DATETIME}", "{type: CHAR, args: [200], nullable: false}"),
         Engine.POSTGRESQL: (*ROUNDING, "{type: CHARACTER, args: [16], nullable: false}")}


def _chars(folder: Path, lager: Engine) -> Path:
    """The columns files of a lager on ``lager`` whose ``NAME`` is a ``CHAR(200)`` (MariaDB) or ``character(16)``."""
    engine, geaend, name = CHARS[lager]
    columns = _lager_as(folder, engine, geaend)
    lager_file = columns / "lager.columns.yaml"
    lager_file.write_text(lager_file.read_text(encoding="utf-8").replace(NAME, f"      NAME: {name}\n"),
                          encoding="utf-8")
    return columns


@pytest.mark.parametrize(("lager", "sent", "kept", "loss"), [
    (Engine.MARIADB, "Anna Berg-Ost ", "Anna Berg-Ost", "which drops trailing spaces: a value sent with them is kept "
     "without"),
    (Engine.POSTGRESQL, "Anna Berg-Ost", "Anna Berg-Ost   ", "which pads a shorter text with spaces to 16: a value "
     "sent without them is kept with them"),
], ids=["mariadb-char-drops", "postgresql-character-pads"])
def test_the_echo_of_a_text_in_a_char_column_is_no_edit_and_is_said_at_load(
        schemas: SchemaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, lager: Engine, sent: str, kept: str,
        loss: str) -> None:
    """A name with a trailing space written to the lager's ``CHAR(200)`` on MariaDB comes back without it (its
    ``character(16)`` on PostgreSQL pads a shorter name to 16, as Debezium reports it): the columns file tells, so the
    echo is that echo, with no hint of an edit, no conflict and nothing written back. The two systems keep different
    texts, which the flow says once at load."""
    run = Clocks(schemas, tmp_path, columns=_chars(tmp_path / "columns", lager), lager=lager)
    (said,) = [w for w in run.flow.config.warnings if "CHAR column" in w]
    assert f"lager keeps name in CHAR column KUNDEN.NAME, {loss}" in said and "use VARCHAR" in said
    first = dt.datetime(2026, 10, 24, 9, 0, 5, tzinfo=dt.UTC)
    row = _linked(run, first)
    (update,) = run.feed(run.change("customer", "u", before=customer(first), after=customer(first, sent)))
    assert _updates([update])[0][:3] == ("lager", "update", ("name",)) and update.payload["name"] == sent
    echo = {**row, "NAME": kept}
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        assert run.feed(run.change("KUNDEN", "u", before=row, after=echo)) == []
    assert [r.getMessage() for r in caplog.records if "reported name" in r.getMessage()] == []
    assert run.conflicts() == [] and run.dead_letters == [] and run.published(NUMBER)["name"] == sent
    # a real edit made in the lager is still one: the boutique owns the name, so it is written back
    (back,) = run.feed(run.change("KUNDEN", "u", before=echo, after={**echo, "NAME": "A. Berg"}))
    assert (_updates([back])[0][:3], back.payload["name"]) == (("lager", "update", ("name",)), sent)
    assert [c["field"] for c in run.conflicts()] == ["name"]


def test_a_declared_form_of_a_char_column_wins_and_is_not_said(schemas: SchemaStore, tmp_path: Path) -> None:
    config = _config(schemas, tmp_path, FLOW + "      keeps:\n        name: [rstrip]\n",
                     _chars(tmp_path / "columns", Engine.MARIADB))
    assert [step.name for step in config.written["lager"].keeps["name"].steps] == ["rstrip"]
    assert not [w for w in config.warnings if "CHAR column" in w]
    assert "name" not in _config(schemas, tmp_path, FLOW).written["lager"].keeps  # a VARCHAR keeps what it is sent
