"""A command of one key never writes the row the database holds under another key text, on the REAL databases of
the test stack: MariaDB's utf8mb4_bin pads with spaces ('ORG0007 ' is 'ORG0007'), utf8mb4_general_ci and
PostgreSQL's citext ignore case ('ACME' is 'acme'). A new user's create of (1, 'ORG0007 ') was applied as an update
of the row (1, 'ORG0007') of another entity, answered 200, and both systems lost the original. Now the twin's
create, update and delete are dead-lettered with the collation and the fix, the row held as it was; a document's
lines the child key's collation would merge likewise; the same key's exact text still upserts as before."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sink_support import InProcessSink, command, fresh_topics, produce, read_all, results_for, scratch_mariadb
from support.waiting import eventually

from streams.stack.running import RunningStack

#: Rows of a query against the scratch tables.
Query = Callable[[str], list[dict[str, Any]]]

AVAILABILITY_ROUTES = """\
  - payload_type: ProductAvailability
    operation: upsert
    table: {table}
    key: [sku]
    columns: {{sku: sku, available_qty: available_qty}}
  - payload_type: ProductAvailability
    operation: update
    action: update
    only_changed: true
    table: {table}
    key: [sku]
    columns: {{sku: sku, available_qty: available_qty}}
  - payload_type: ProductAvailability
    operation: deactivate
    action: delete
    table: {table}
    key: [sku]
    columns: {{sku: sku}}
"""
ORG_ROUTES = """\
  - payload_type: Account
    operation: create
    table: {database}.org
    key: [tenant_id, org_code]
    columns: {{tenant_id: {{value: 1}}, org_code: account_code, name: name}}
  - payload_type: Account
    operation: update
    action: update
    table: {database}.org
    key: [tenant_id, org_code]
    columns: {{tenant_id: {{value: 1}}, org_code: account_code, name: name}}
  - payload_type: SalesOrder
    operation: create
    table: {database}.auftrag
    key: [shop_bestellung]
    columns: {{shop_bestellung: order_number}}
    children: &lines
      - table: {database}.position
        from: lines
        parent_key: {{auftrag_id: auftrag_id}}
        key: [auftrag_id, sku]
        columns: {{sku: sku, menge: quantity}}
  - payload_type: SalesOrder
    operation: update
    action: update
    table: {database}.auftrag
    key: [shop_bestellung]
    columns: {{shop_bestellung: order_number}}
    children: *lines
"""


def availability(target: str, sku: str, qty: str, operation: str = "upsert", changed: tuple[str, ...] = ()
                 ) -> dict[str, Any]:
    return command(target=target, operation=operation, payload_type="ProductAvailability", entity_key=sku,
                   payload={"sku": sku, "available_qty": qty, "as_of": "2026-05-01T08:00:00+00:00"}, changed=changed)


def organisation(code: str, name: str, operation: str = "create") -> dict[str, Any]:
    return command(target="erp", operation=operation, payload_type="Account", entity_key=f"1:{code}",
                   payload={"account_code": code, "name": name})


def order(number: str, operation: str, *skus: str) -> dict[str, Any]:
    return command(target="erp", operation=operation, payload_type="SalesOrder", entity_key=number,
                   payload={"order_number": number, "lines": [{"sku": s, "quantity": "1.00"} for s in skus]})


def applied(stack: RunningStack, tmp_path: Path, target: str,
            commands: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Run the sink over ``commands`` until each has a result or a dead letter: the results by command id, and
    the dead letters."""
    topics, env = fresh_topics(stack, f"keys{target}")
    produce(stack, topics.commands, commands)
    ids = {c["command_id"] for c in commands}
    with InProcessSink(target, {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path)}):
        eventually(f"{len(commands)} results and dead letters",
                   lambda: len(results_for(stack, topics.results, ids))
                   + len(read_all(stack, topics.dlq, "DeadLetter")) == len(commands), timeout=60)
    dead = [letter.value for letter in read_all(stack, topics.dlq, "DeadLetter") if letter.value is not None]
    return {r["command_id"]: r for r in results_for(stack, topics.results, ids)}, dead


@pytest.fixture
def mariadb(stack: RunningStack) -> Iterator[tuple[str, Query]]:
    with scratch_mariadb(
            stack, "isthmus_sinkkeys",
            "CREATE TABLE {db}.org (tenant_id INT NOT NULL, org_code VARCHAR(32) COLLATE utf8mb4_bin NOT NULL, "
            "name VARCHAR(80) NOT NULL, PRIMARY KEY (tenant_id, org_code)) CHARACTER SET utf8mb4",
            "CREATE TABLE {db}.availability (sku VARCHAR(40) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, "
            "available_qty DECIMAL(14,3) NOT NULL) CHARACTER SET utf8mb4",
            "CREATE TABLE {db}.auftrag (auftrag_id BIGINT AUTO_INCREMENT PRIMARY KEY, shop_bestellung VARCHAR(40) "
            "NOT NULL UNIQUE) CHARACTER SET utf8mb4",
            "CREATE TABLE {db}.position (auftrag_id BIGINT NOT NULL, sku VARCHAR(40) COLLATE utf8mb4_general_ci NOT "
            "NULL, menge DECIMAL(12,2) NOT NULL, PRIMARY KEY (auftrag_id, sku), FOREIGN KEY (auftrag_id) REFERENCES "
            "{db}.auftrag (auftrag_id) ON DELETE CASCADE) CHARACTER SET utf8mb4",
            "INSERT INTO {db}.org VALUES (1, 'ORG0007', 'Original')",
            "INSERT INTO {db}.availability VALUES ('acme', 5)") as scratch:
        yield scratch


def test_mariadb_twins_under_pad_space_and_case_insensitive_keys_are_dead_lettered(
        stack: RunningStack, run: int, tmp_path: Path, mariadb: tuple[str, Query]) -> None:
    database, query = mariadb
    (tmp_path / "erp.yaml").write_text(f"system: erp\nadapter: sql\nsql:\n  database: {database}\nroutes:\n"
                                       + ORG_ROUTES.format(database=database)
                                       + AVAILABILITY_ROUTES.format(table=f"{database}.availability"),
                                       encoding="utf-8")
    number = f"B-{run}"
    twins = [organisation("ORG0007 ", "Twin"), organisation("ORG0007 ", "Twin 2", "update"),
             availability("erp", "ACME", "9.000"), availability("erp", "ACME", "9.000", "update"),
             availability("erp", "ACME", "9.000", "deactivate")]
    exact = [organisation("ORG0007", "Renamed"), availability("erp", "acme", "6.000"),
             order(number, "create", "a", "b"), order(number, "update", "A", "b"),
             order(f"{number}M", "create", "c", "C")]
    results, dead = applied(stack, tmp_path, "erp", twins + exact)
    assert sorted(results) == sorted(c["command_id"] for c in exact[:3]), \
        "only the exact texts are applied: the twins and the merged lines are dead-lettered"

    assert [results[c["command_id"]]["status"] for c in exact[:3]] == [200, 200, 201], \
        "the exact texts upsert as before"
    assert query("SELECT tenant_id, HEX(org_code) AS code, name FROM {db}.org") == [
        {"tenant_id": 1, "code": b"ORG0007".hex().upper(), "name": "Renamed"}], "no twin row, the original's kept"
    assert query("SELECT sku, available_qty FROM {db}.availability") == [{"sku": "acme", "available_qty": 6}]
    assert [r["sku"] for r in query("SELECT sku FROM {db}.position ORDER BY sku")] == ["a", "b"], \
        "the edit's 'A' neither renamed nor removed line 'a'; the order with 'c' and 'C' wrote nothing"
    assert query("SELECT shop_bestellung FROM {db}.auftrag") == [{"shop_bestellung": number}]

    assert [letter["error_type"] for letter in dead] == ["KeyHeldAsOther"] * 7
    reasons = "\n".join(letter["reason"] for letter in dead)
    assert (f"the key collation of {database}.org takes tenant_id=1, org_code='ORG0007 ' and the row it holds as "
            f"tenant_id=1, org_code='ORG0007' for one row: this command would upsert the row of another key, so "
            f"nothing was written (target erp, table {database}.org, key tenant_id, org_code (org_code varchar(32) "
            "collate utf8mb4_bin)). Fix: make the source's keys unique under the target's collation") in reasons
    assert "sku='ACME' and the row it holds as sku='acme'" in reasons and "utf8mb4_general_ci" in reasons
    assert "would update the row of another key" in reasons and "would delete the row of another key" in reasons
    assert f"the key collation of {database}.position takes lines of lines with different key texts" in reasons


@pytest.fixture
def citext(stack: RunningStack) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    tag = uuid.uuid4().hex[:10]
    table = f"public.sink_keys_{tag}"
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
        conn.execute(f"CREATE TABLE {table} (sku citext PRIMARY KEY, available_qty NUMERIC(14, 3) NOT NULL)")
        conn.execute(f"INSERT INTO {table} VALUES ('acme', 5)")
        try:
            yield table, conn
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"DROP TABLE IF EXISTS {table}_keys")


def test_postgresql_twins_under_a_citext_key_are_dead_lettered(
        stack: RunningStack, tmp_path: Path, citext: tuple[str, psycopg.Connection[Any]]) -> None:
    table, conn = citext
    (tmp_path / "crm.yaml").write_text(textwrap.dedent(f"""\
        system: crm
        adapter: sql
        sql:
          keys_table: {table}_keys
        routes:
        """) + AVAILABILITY_ROUTES.format(table=table), encoding="utf-8")
    twins = [availability("crm", "ACME", "9.000"), availability("crm", "ACME", "9.000", "update"),
             availability("crm", "ACME", "9.000", "update", changed=("as_of",)),  # no column but the key: sku = sku
             availability("crm", "ACME", "9.000", "deactivate")]
    exact = [availability("crm", "acme", "6.000")]
    results, dead = applied(stack, tmp_path, "crm", twins + exact)
    assert list(results) == [exact[0]["command_id"]], "only the exact text is applied: the twins are dead-lettered"

    assert results[exact[0]["command_id"]]["status"] == 200, "the exact text upserts as before"
    assert conn.execute(f"SELECT sku::text, available_qty::text FROM {table}").fetchall() == [("acme", "6.000")]
    assert [letter["error_type"] for letter in dead] == ["KeyHeldAsOther"] * 4
    reasons = "\n".join(letter["reason"] for letter in dead)
    assert (f"the key collation of {table} takes sku='ACME' and the row it holds as sku='acme' for one row: this "
            f"command would upsert the row of another key, so nothing was written (target crm, table {table}, key "
            "sku (sku citext)). Fix: make the source's keys unique") in reasons
    assert "would update the row" in reasons and "would delete the row" in reasons
