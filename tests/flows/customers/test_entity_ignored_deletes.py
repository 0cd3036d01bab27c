"""Deletes in an entity flow that names no ``active``: they end nothing, and the flow now says so.

A new user's trial configured ten entity flows without ``active``: every row deleted in one system stayed in the
other, and an account deleted in the CRM, synced both ways, was created there again from the ERP's copy; no
warning, no log line, no count, ``isthmus status`` healthy. That is the rule (flows/README.md, "What ends an
entity"), but nothing said it applied. Now the flow warns when it is built (naming what a delete in each system
does, how to make deletes end the entity, and ``deletes: ignore`` to accept it knowingly), and when it decides
such a delete it warns once per system, naming the entity, and counts each one (``deletes_ignored``).

On a made-up pair (tests/flows/customers/stalls/): the stalls of a market hall's register (``hall``, PostgreSQL)
and the tenants of its rent ledger (``rent``, MariaDB), born in either, both ways.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from made_up_run import MadeUpRun, MadeUpTable, made_up_flow

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.flows.customers.ignored import IGNORED_COUNT
from streams.flows.files import FlowFileError
from streams.systems import Engine

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent / "stalls"
T0 = dt.datetime(2027, 3, 1, 7, 0, tzinfo=dt.UTC)
TABLES = {
    "stall": MadeUpTable(system="hall", key=("id",), engine=Engine.POSTGRESQL, namespace="hall", columns={
        "id": ("BIGINT", "int64"), "code": ("TEXT", "string"), "name": ("TEXT", "string"),
        "email": ("TEXT", "string")}),
    "tenant": MadeUpTable(system="rent", key=("id",), engine=Engine.MARIADB, namespace="rent", columns={
        "id": ("INT", "int32"), "code": ("VARCHAR", "string"), "name": ("VARCHAR", "string"),
        "email": ("VARCHAR", "string")}),
}
BOTH_WAYS = "  origin: [hall, rent]\n"


def _folder(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A copy of the stalls' folder, its flow file with each ``(old, new)`` text replaced once."""
    folder = tmp_path / "stalls"
    shutil.copytree(HERE, folder)
    flow = folder / "flows" / "stalls.yaml"
    text = flow.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    flow.write_text(text, encoding="utf-8")
    return folder


class Stalls(MadeUpRun):
    def __init__(self, schemas: SchemaStore, folder: Path) -> None:
        mappings, systems, self.config = made_up_flow(schemas, folder, TABLES, required=("code", "name"))
        super().__init__(schemas, systems, CustomerFlow(mappings=mappings, schemas=schemas, systems=systems,
                                                        config=self.config, clock=lambda: T0),
                         start=T0, published_to="test.canonical.stalls")

    def table(self, name: str) -> MadeUpTable:
        return TABLES[name]

    @property
    def ignored(self) -> int:
        return self.run.context.counts[IGNORED_COUNT]


def stall(code: str, row: int) -> dict[str, Any]:
    return {"id": row, "code": code, "name": f"Stall {code}", "email": f"{code.lower()}@hall.test"}


def tenant(code: str, row: int) -> dict[str, Any]:
    return {"id": row, "code": code, "name": f"Stall {code}", "email": f"{code.lower()}@hall.test"}


def _in_both(stalls: Stalls, code: str, row: int) -> None:
    """A stall made in the hall, created in the rent ledger, its tenant row (the create's echo) read back."""
    (create,) = stalls.feed(stalls.change("stall", "c", after=stall(code, row)))
    assert (create.record["target"], create.record["operation"]) == ("rent", "create")
    assert stalls.feed(stalls.change("tenant", "c", after=tenant(code, row + 500))) == []


def _of_deletes(stalls: Stalls) -> tuple[str, ...]:
    """The flow's warnings but the note that snapshot reads decide its ``latest_commit_wins`` fields by read time
    (:mod:`streams.flows.customers.read_times`: the stalls' tables keep no change time)."""
    return tuple(w for w in stalls.config.warnings if "declare no `changed_at`" not in w)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# at load


def test_a_flow_without_active_warns_what_a_delete_in_each_system_does(schemas: SchemaStore) -> None:
    """The trial's account: born in either system, no ``active``."""
    (warning,) = _of_deletes(Stalls(schemas, HERE))
    for said in ("stalls.yaml:", "entity.active: the section names no `active`, so a delete ends no entity",
                 "a delete in hall leaves rent as it is, and hall gets `create` again while rent still has the entity: "
                 "the row deleted there comes back",
                 "a delete in rent leaves hall as it is, and rent gets `create` again while hall still has",
                 'flows/README.md, "What ends an entity"',
                 # the fixes: `active` and what it takes, or `deletes: ignore`
                 "`active: active`, isthmus.canonical.Customer's boolean field",
                 "`on_delete: {set: {active: false}}` in its source of mappings/stall.yaml",
                 "`on_inactive` (`deactivate` by default, a route for it in their target)",
                 "say so with `deletes: ignore` in the section"):
        assert said in warning, said


def test_with_one_origin_only_the_target_gets_create_again(schemas: SchemaStore, tmp_path: Path) -> None:
    """The trial's contacts: born in the CRM only; a delete there leaves the ERP's row, one in the ERP is undone."""
    (warning,) = _of_deletes(Stalls(schemas, _folder(tmp_path, (BOTH_WAYS, "  origin: hall\n"))))
    assert "a delete in hall leaves rent as it is; a delete in rent leaves hall as it is, and rent gets `create` " \
           "again while hall still has the entity" in warning


def test_deletes_ignore_says_it_knowingly(schemas: SchemaStore, tmp_path: Path) -> None:
    stalls = Stalls(schemas, _folder(tmp_path, (BOTH_WAYS, BOTH_WAYS + "  deletes: ignore\n")))
    assert _of_deletes(stalls) == () and stalls.config.deletes == "ignore"


def test_deletes_ignore_beside_active_is_refused(schemas: SchemaStore, tmp_path: Path) -> None:
    folder = _folder(tmp_path, (BOTH_WAYS, BOTH_WAYS + "  active: active\n  deletes: ignore\n"))
    with pytest.raises(FlowFileError) as refused:
        Stalls(schemas, folder)
    assert "entity.deletes: `deletes: ignore` says a delete ends nothing, but the section names `active: active`" \
           in str(refused.value)


def test_a_flow_with_active_is_not_warned(schemas: SchemaStore, tmp_path: Path) -> None:
    folder = _folder(tmp_path, (BOTH_WAYS, BOTH_WAYS + "  active: active\n"))
    assert _of_deletes(Stalls(schemas, folder)) == ()


# at run time


@pytest.fixture
def stalls(schemas: SchemaStore) -> Stalls:
    return Stalls(schemas, HERE)


def test_a_delete_made_again_from_the_other_system_is_said_once_per_system_and_counted(
        stalls: Stalls, caplog: pytest.LogCaptureFixture) -> None:
    """The trial's account C000650, deleted in the CRM and created there again from the ERP's copy."""
    _in_both(stalls, "S-17", 17)
    _in_both(stalls, "S-18", 18)
    with caplog.at_level(logging.INFO, logger="streams.flows.customers"):
        (again,) = stalls.feed(stalls.change("stall", "d", before=stall("S-17", 17)))
        assert (again.key, again.record["target"], again.record["operation"]) == ("S-17", "hall", "create")
        assert stalls.ignored == 1
        (said,) = _warnings(caplog)
        assert said.startswith("test-stalls: Customer S-17: its row in hall is deleted (decided with ")
        assert ("the flow file names no `active`, so the delete ends nothing: rent keeps the entity as it was, and "
                "hall gets `create` again: the row comes back there") in said
        assert 'see flows/README.md, "What ends an entity"' in said and IGNORED_COUNT in said

        (again,) = stalls.feed(stalls.change("stall", "d", before=stall("S-18", 18)))
        assert (again.key, again.record["target"]) == ("S-18", "hall")
        assert stalls.ignored == 2 and len(_warnings(caplog)) == 1, "said once per system"

        # the hall made S-17 again (its new row, the create's echo); then the rent ledger's delete, its first
        assert stalls.feed(stalls.change("stall", "c", after=stall("S-17", 1017))) == []
        (again,) = stalls.feed(stalls.change("tenant", "d", before=tenant("S-17", 517)))
        assert (again.key, again.record["target"], again.record["operation"]) == ("S-17", "rent", "create")
    assert stalls.ignored == 3
    assert [w.split(" is deleted")[0] for w in _warnings(caplog)] == [
        "test-stalls: Customer S-17: its row in hall", "test-stalls: Customer S-17: its row in rent"]
    assert stalls.dead_letters == []


def test_a_delete_in_the_only_origin_leaves_the_others_row_and_is_said(
        schemas: SchemaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The trial's contacts deleted in the CRM: the ERP's rows stayed, nothing sent, nothing said."""
    stalls = Stalls(schemas, _folder(tmp_path, (BOTH_WAYS, "  origin: hall\n")))
    _in_both(stalls, "S-21", 21)
    with caplog.at_level(logging.WARNING, logger="streams.flows.customers"):
        assert stalls.feed(stalls.change("stall", "d", before=stall("S-21", 21))) == []
    (said,) = _warnings(caplog)
    assert "Customer S-21: its row in hall is deleted" in said and "rent keeps the entity as it was." in said
    assert stalls.ignored == 1


def test_a_row_deleted_before_its_create_reached_the_other_system_is_one(stalls: Stalls) -> None:
    """The tenant is on its way (the create in flight): the rent ledger will have the stall the hall deleted."""
    (create,) = stalls.feed(stalls.change("stall", "c", after=stall("S-31", 31)))
    assert create.record["target"] == "rent"
    assert stalls.feed(stalls.change("stall", "d", before=stall("S-31", 31))) == []
    assert stalls.ignored == 1


def test_with_deletes_ignore_it_is_counted_and_said_at_info(
        schemas: SchemaStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stalls = Stalls(schemas, _folder(tmp_path, (BOTH_WAYS, BOTH_WAYS + "  deletes: ignore\n")))
    _in_both(stalls, "S-41", 41)
    with caplog.at_level(logging.INFO, logger="streams.flows.customers"):
        stalls.feed(stalls.change("stall", "d", before=stall("S-41", 41)))
    assert stalls.ignored == 1 and _warnings(caplog) == []
    assert any("Customer S-41: its row in hall is deleted" in r.getMessage() for r in caplog.records)
