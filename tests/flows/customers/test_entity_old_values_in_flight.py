"""A system that reports the value it held before a write of Isthmus's landed (a new user's trial: sites of a
field-service system synced into a scheduler that owns the site's priority, which flows back).

On a made-up pair (tests/flows/customers/yards/): the sites of a ``yard`` (MariaDB, the origin, owner of every site
field) become locations of a ``rota`` (PostgreSQL, REPLICA IDENTITY FULL), which owns the priority (the record's
``payment_terms``). rota editing its priority while a rename is in flight there reports the old name (the rename
has not landed yet), and so does a snapshot read of the row taken before it lands. Neither is an edit of the name
nor a sign that rota normalises what it stores: before, each was said as if it were (``systems.rota.keeps``), once
per field, on a trial where nothing was normalised and the data converged. A target that does normalise (an e-mail
lowercased) is still said.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

import pytest
from customer_events import Sent, decode_commands
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow, EntityConfig, sync
from streams.mapping import RecordMapping
from streams.systems import Engine, Systems

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "yards"
SITE = "Y-7"
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
#: Each table: column -> (SQL type, Connect type), its key, its system.
TABLES = {
    "site": MadeUpTable(system="yard", engine=Engine.MARIADB, namespace="yard", key=("code",), columns={
        "code": ("VARCHAR", "string"), "name": ("VARCHAR", "string"), "mail": ("VARCHAR", "string"),
        "prio": ("VARCHAR", "string")}),
    "location": MadeUpTable(system="rota", engine=Engine.POSTGRESQL, namespace="rota", key=("id",), columns={
        "id": ("INTEGER", "int32"), "external_code": ("VARCHAR", "string"), "name": ("TEXT", "string"),
        "email": ("TEXT", "string"), "priority": ("VARCHAR", "string")}),
}


@functools.cache
def _loaded(schemas: SchemaStore) -> tuple[dict[str, RecordMapping], Systems, EntityConfig]:
    return made_up_flow(schemas, HERE, TABLES, required=("external_code", "name"))


class Yards(MadeUpRun):
    """The flow under LocalRun; :meth:`feed` gives the commands the changes caused."""

    def __init__(self, schemas: SchemaStore) -> None:
        mappings, systems, config = _loaded(schemas)
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=config, clock=lambda: T0),
                         start=T0, published_to="test.canonical.yards")

    def table(self, name: str) -> MadeUpTable:
        return TABLES[name]


def site(name: str, mail: str, prio: str | None = None) -> dict[str, Any]:
    return {"code": SITE, "name": name, "mail": mail, "prio": prio}


def location(name: str, email: str, priority: str | None = None) -> dict[str, Any]:
    return {"id": 41, "external_code": SITE, "name": name, "email": email, "priority": priority}


def _commands(sent: list[Sent]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.topic.rpartition(".")[2], s.record["operation"], s.changed) for s in sent]


@pytest.fixture(autouse=True)
def _nothing_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in a process that has said nothing yet (the flow says some things once per process)."""
    monkeypatch.setattr(sync, "_SAID", set())
    monkeypatch.setattr(sync, "_FORMS", {})


def _renames(run: Yards) -> list[tuple[str, str]]:
    """Each command that changed the name so far: its target and the name it carried."""
    sent = decode_commands(run.run.context.emitted, run.schemas)
    return [(s.topic.rpartition(".")[2], s.payload["name"]) for s in sent if "name" in s.changed]


def _unrecognised(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "where Isthmus had sent" in r.getMessage()]


def _renamed(run: Yards) -> tuple[dict[str, Any], dict[str, Any]]:
    """The site made in the yard, created in rota and linked, rota's priority taken back into the yard; then the
    yard renames it: the rename is in flight to rota. Returns the yard's site and rota's location as they are."""
    made = site("North Yard", "desk@north.test")
    (create,) = run.feed(run.change("site", "c", after=made))
    assert create.route == ("Customer", "create")
    row = location("North Yard", "desk@north.test")
    assert run.feed(run.change("location", "c", after=row)) == []
    prioritised = {**row, "priority": "high"}
    (back,) = run.feed(run.change("location", "u", before=row, after=prioritised))
    assert _commands([back]) == [("yard", "update", ("payment_terms",))] and back.payload["payment_terms"] == "high"
    held = {**made, "prio": "high"}
    assert run.feed(run.change("site", "u", before=made, after=held)) == []
    renamed = {**held, "name": "North Yard East"}
    (rename,) = run.feed(run.change("site", "u", before=held, after=renamed))
    assert _commands([rename]) == [("rota", "update", ("name",))] and rename.payload["name"] == "North Yard East"
    return renamed, prioritised


def test_an_edit_of_another_field_before_the_write_landed_is_neither_an_edit_nor_a_normalisation(
        schemas: SchemaStore, caplog: pytest.LogCaptureFixture) -> None:
    run = Yards(schemas)
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        renamed, row = _renamed(run)
        # rota changes its priority on a row that still has the old name: the rename has not landed yet
        lowered = {**row, "priority": "low"}
        sent = run.feed(run.change("location", "u", before=row, after=lowered))
        assert _commands(sent) == [("yard", "update", ("payment_terms",))] and sent[0].payload["payment_terms"] == "low"
        # and the yard changes the site's mail before the priority it was sent lands there: the old priority again
        mailed = {**renamed, "mail": "desk@north-east.test"}
        sent = run.feed(run.change("site", "u", before=renamed, after=mailed))
        assert _commands(sent) == [("rota", "update", ("email",))]
        # the rename lands, then the mail, then the priority: echoes, nothing more to send
        landed = {**lowered, "name": "North Yard East"}
        assert run.feed(run.change("location", "u", before=lowered, after=landed)) == []
        assert run.feed(run.change("location", "u", before=landed, after={**landed, "email": mailed["mail"]})) == []
        assert run.feed(run.change("site", "u", before=mailed, after={**mailed, "prio": "low"})) == []
    assert run.conflicts() == [] and run.dead_letters == []
    published = run.published(SITE)
    assert (published["name"], published["payment_terms"]) == ("North Yard East", "low")
    # the rename was sent once: neither taken back by the old name nor sent again
    assert _renames(run) == [("rota", "North Yard East")]
    assert _unrecognised(caplog) == []


def test_a_snapshot_read_before_the_write_landed_is_neither_an_edit_nor_a_normalisation(
        schemas: SchemaStore, caplog: pytest.LogCaptureFixture) -> None:
    run = Yards(schemas)
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        _, row = _renamed(run)
        # an incremental snapshot of rota's table reads the row before the rename lands there
        assert run.feed(run.change("location", "r", after=row)) == []
        assert run.feed(run.change("location", "u", before=row, after={**row, "name": "North Yard East"})) == []
    assert run.conflicts() == [] and run.dead_letters == []
    assert run.published(SITE)["name"] == "North Yard East"
    assert _renames(run) == [("rota", "North Yard East")]
    assert _unrecognised(caplog) == []


def test_a_target_that_lowercases_an_e_mail_is_still_said(schemas: SchemaStore,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    run = Yards(schemas)
    with caplog.at_level(logging.WARNING, logger=sync.__name__):
        renamed, row = _renamed(run)
        landed = {**row, "name": "North Yard East"}
        assert run.feed(run.change("location", "u", before=row, after=landed)) == []
        mailed = {**renamed, "mail": "Planning@North.TEST"}
        (sent,) = run.feed(run.change("site", "u", before=renamed, after=mailed))
        assert _commands([sent]) == [("rota", "update", ("email",))]
        # rota stores the e-mail lowercased: neither what it held nor what it was sent
        run.feed(run.change("location", "u", before=landed, after={**landed, "email": "planning@north.test"}))
    (said,) = _unrecognised(caplog)
    assert said.startswith("rota reported email *** where Isthmus had sent *** (customer_number Y-7): most likely an "
                           "edit made in rota meanwhile"), said
    assert "else rota normalises what it stores (the value could be the one sent, in another form)" in said
    assert "declare it: systems.rota.keeps" in said
