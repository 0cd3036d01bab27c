"""A hierarchy written by a real sink into the REAL databases of the test stack (PostgreSQL, MariaDB), each row's
``parent_id`` the generated id of its parent's row, filled by a lookup in the write's transaction. A new user's
CRM needed a helper column and triggers for it, which raced: 96 children kept parent_id NULL though the parent
existed. Here: a child written after its parent gets the parent's id; a child whose parent's command is applied
a moment after its own waits and ends with the right id (not NULL, not dead-lettered); a root has NULL; a move to
another parent (an only_changed update of the parent code) takes the new one's id; a twin of the parent's code
differing only in case (a case-insensitive collation) is never taken; a parent missing for good dead-letters its
child with the row it waited for, nothing written. And a table keyed by its generated id: an update (or
deactivate) decided before the created row's id came back finds its row by the business key, at once right behind its
create, or once a create still in flight lands; a row never created dead-letters the update, nothing written."""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from org_tree import KEY_ROUTES, organisation, schemas, target_file
from sink_support import InProcessSink, fresh_topics, produce, read_all, results_for, scratch_mariadb
from support.waiting import eventually

from streams.stack.running import RunningStack

#: The rows of the table by external code: (id, parent_id), both as text.
Rows = Callable[[], dict[str, tuple[str, str | None]]]
#: The parent codes no command ever writes: one not there at all, one whose only row is a twin in another case.
MISSING, TWIN = "P-404", "P-7"


def _settled(stack: RunningStack, topics: Any, commands: list[dict[str, Any]], dead: int = 0,
             timeout: float = 60) -> dict[str, dict[str, Any]]:
    """Wait for a result of each of ``commands`` and ``dead`` dead letters in all: the results by entity key."""
    ids = {c["command_id"]: c["entity_key"] for c in commands}
    eventually(f"{len(commands)} results and {dead} dead letters",
               lambda: len(results_for(stack, topics.results, set(ids))) == len(commands)
               and len(read_all(stack, topics.dlq, "DeadLetter")) >= dead, timeout=timeout)
    return {ids[r["command_id"]]: r for r in results_for(stack, topics.results, set(ids))}


def _hierarchy(stack: RunningStack, tmp_path: Path, target: str, table: str, rows: Rows) -> None:
    """The scenario, on ``target``'s target file in ``tmp_path`` writing ``table``."""
    topics, env = fresh_topics(stack, f"lookups{target}")
    env = {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path), "ISTHMUS_SINK_RETRY_MAX_S": "1"}
    with InProcessSink(target, env, schemas(tmp_path / "schemas")):
        root, child = organisation(target, "P-1", None), organisation(target, "C-1", "P-1")
        produce(stack, topics.commands, [root])
        _settled(stack, topics, [root])
        produce(stack, topics.commands, [child])
        _settled(stack, topics, [root, child])
        held = rows()
        assert held["P-1"][1] is None, "a root has no parent: NULL, nothing looked up"
        assert held["C-1"][1] == held["P-1"][0], "a child written after its parent gets the parent's id"

        early = organisation(target, "C-2", "P-2")
        lost = [organisation(target, "C-3", TWIN), organisation(target, "C-4", MISSING)]
        produce(stack, topics.commands, [early, *lost])
        time.sleep(2)
        assert "C-2" not in rows() and not results_for(stack, topics.results, {early["command_id"]}), \
            "the child whose parent is not there yet waits: neither written with NULL nor dead-lettered"
        late = organisation(target, "P-2", None)
        produce(stack, topics.commands, [late])
        _settled(stack, topics, [root, child, early, late], dead=2)
        moved = organisation(target, "C-1", "P-2", operation="update", changed=("parent_code",))
        produce(stack, topics.commands, [moved])
        results = _settled(stack, topics, [root, child, early, late, moved], dead=2)

    held = rows()
    assert held["C-2"][1] == held["P-2"][0], "the parent applied second: its child ends with its id, not NULL"
    assert results["1:C-2"]["status"] == 201
    assert held["C-1"][1] == held["P-2"][0], "a new parent code writes the new parent's id"
    assert "C-3" not in held and "C-4" not in held, "a child whose parent never comes is not written"
    dead = sorted((letter.value for letter in read_all(stack, topics.dlq, "DeadLetter") if letter.value),
                  key=lambda letter: str(letter["key"]))
    assert [(letter["key"], letter["error_type"]) for letter in dead] == [
        (b"1:C-3", "LookupNotFound"), (b"1:C-4", "LookupNotFound")]
    twin, missing = (letter["reason"] for letter in dead)
    assert (f"lookup parent_id: the referenced row tenant_id=1, external_code='{MISSING}' is not in {table} yet, so "
            "parent_id cannot be filled and nothing was written; retried for up to 8 s (wait_s, lookups.parent_id "
            f"in {target}.yaml:") in missing
    assert missing.startswith("gave up after ") and "(wait_s=8); the last: lookup parent_id" in missing
    assert (f"the referenced row tenant_id=1, external_code='{TWIN}' is not in {table} yet (the collation of its "
            "external_code") in twin
    assert "also takes (tenant_id=1, external_code='p-7') for it, not the same text, so that row is left aside" in twin


@pytest.fixture
def company(stack: RunningStack) -> Iterator[tuple[str, Rows]]:
    """A scratch hierarchy table on the CRM's PostgreSQL, its code case-insensitive (citext), holding a row 'p-7'."""
    table = f"public.tree_{uuid.uuid4().hex[:10]}"
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
        conn.execute(f"CREATE TABLE {table} (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id INT NOT NULL, "
                     f"external_code CITEXT NOT NULL, parent_id UUID NULL REFERENCES {table} (id), name TEXT NOT "
                     "NULL, UNIQUE (tenant_id, external_code))")
        conn.execute(f"INSERT INTO {table} (tenant_id, external_code, name) VALUES (1, 'p-7', 'Another org')")

        def rows() -> dict[str, tuple[str, str | None]]:
            return {code: (ident, parent) for code, ident, parent in conn.execute(
                f"SELECT external_code::text, id::text, parent_id::text FROM {table}").fetchall()}

        try:
            yield table, rows
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"DROP TABLE IF EXISTS {table}_keys")


def test_postgresql_children_get_their_parents_generated_ids(stack: RunningStack, tmp_path: Path,
                                                             company: tuple[str, Rows]) -> None:
    table, rows = company
    target_file(tmp_path, "crm", table, wait_s=8, section=f"  keys_table: {table}_keys")
    _hierarchy(stack, tmp_path, "crm", table, rows)


def test_postgresql_updates_find_their_row_by_its_business_key(stack: RunningStack, tmp_path: Path,
                                                               company: tuple[str, Rows]) -> None:
    table, rows = company
    target_file(tmp_path, "crm", table, wait_s=5, section=f"  keys_table: {table}_keys", routes=KEY_ROUTES)
    topics, env = fresh_topics(stack, "lookupkey")
    env = {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path), "ISTHMUS_SINK_RETRY_MAX_S": "1"}

    def renamed(code: str) -> dict[str, Any]:  # decided before the row's id came back: its company_id null
        return organisation("crm", code, None, operation="update", changed=("name",), name=f"Renamed {code}")

    with InProcessSink("crm", env, schemas(tmp_path / "schemas")), stack.connect_crm(autocommit=True) as conn:
        behind = [organisation("crm", "K-1", None), renamed("K-1"), organisation("crm", "K-3", None),
                  organisation("crm", "K-3", None, operation="deactivate")]
        early, never = renamed("K-2"), renamed("K-404")
        produce(stack, topics.commands, [*behind, early, never])
        _settled(stack, topics, behind)
        assert "K-2" not in rows() and not results_for(stack, topics.results, {early["command_id"]}), \
            "the update whose create is in flight waits: neither written nor dead-lettered"
        conn.execute(f"INSERT INTO {table} (tenant_id, external_code, name) VALUES (1, 'K-2', 'Org K-2')")
        results = _settled(stack, topics, [*behind, early], dead=1)
        names = dict(conn.execute(f"SELECT external_code::text, name FROM {table}").fetchall())

    held = rows()
    assert (names["K-1"], names["K-2"]) == ("Renamed K-1", "Renamed K-2"), "each update found its row by its code"
    assert results["1:K-1"]["assigned_ids"] == {"company_id": held["K-1"][0]}
    assert "K-3" not in held and "K-404" not in held, "the deactivate deleted its row; the update created none"
    (letter,) = (r.value for r in read_all(stack, topics.dlq, "DeadLetter") if r.value)
    assert (letter["key"], letter["error_type"]) == (b"1:K-404", "LookupNotFound")
    assert letter["reason"].startswith("gave up after ") and "(wait_s=5); the last: lookup company_id: the row to " \
        f"write, tenant_id=1, external_code='K-404', is not in {table} yet, so its key id cannot be filled and " \
        "nothing was written" in letter["reason"]


@pytest.fixture
def mariadb_company(stack: RunningStack) -> Iterator[tuple[str, Rows]]:
    """A scratch hierarchy table on the ERP's MariaDB, its code case-insensitive (utf8mb4_general_ci), holding a row
    'p-7'."""
    with scratch_mariadb(
            stack, "isthmus_sinklookups",
            "CREATE TABLE {db}.company (id BIGINT AUTO_INCREMENT PRIMARY KEY, tenant_id INT NOT NULL, external_code "
            "VARCHAR(40) COLLATE utf8mb4_general_ci NOT NULL, parent_id BIGINT NULL, name VARCHAR(80) NOT NULL, "
            "UNIQUE KEY (tenant_id, external_code), FOREIGN KEY (parent_id) REFERENCES {db}.company (id)) "
            "CHARACTER SET utf8mb4",
            "INSERT INTO {db}.company (tenant_id, external_code, name) VALUES (1, 'p-7', 'Another org')") as scratch:
        database, query = scratch

        def rows() -> dict[str, tuple[str, str | None]]:
            return {r["external_code"]: (str(r["id"]), None if r["parent_id"] is None else str(r["parent_id"]))
                    for r in query("SELECT external_code, id, parent_id FROM {db}.company")}

        yield database, rows


def test_mariadb_children_get_their_parents_generated_ids(stack: RunningStack, tmp_path: Path,
                                                          mariadb_company: tuple[str, Rows]) -> None:
    database, rows = mariadb_company
    target_file(tmp_path, "erp", f"{database}.company", wait_s=8, section=textwrap.indent(
        f"database: {database}\n", "  ").rstrip("\n"))
    _hierarchy(stack, tmp_path, "erp", f"{database}.company", rows)
