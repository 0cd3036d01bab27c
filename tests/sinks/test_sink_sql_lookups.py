"""A SQL route's ``lookups``: a column the payload leaves null (a parent's generated id) filled from the one row whose
``match`` columns hold the payload's values exactly, in the write's transaction. A new user kept a hierarchy of
organisations in a CRM whose ``parent_id`` only the CRM knows, and had to add a helper column and triggers that
raced (96 children kept NULL). Here: the target file is checked at load (file, line, field, fix), the plan of a
command (which lookups, with which values; a root's none), the judging of the rows a lookup read (a collation's
twin left aside, several ambiguous), the checks against the catalog, and the delivery's bounded wait for a parent
written a moment later. The databases' own rows: test_sink_sql_lookups_integration.py."""

from __future__ import annotations

import asyncio
import random
import textwrap
from pathlib import Path

import pytest
from org_tree import PAYLOAD_TYPE, payload, schemas, target_file

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.sql import prepare, table_facts
from streams.sinks.adapters.sql_children import MARIADB, POSTGRESQL
from streams.sinks.adapters.sql_keys import text_columns
from streams.sinks.adapters.sql_lookups import PendingLookup, fill, lookup_statement, unindexed
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import BreakerState, CircuitBreaker
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import SqlLookup, SqlRoute, TargetConfig
from streams.sinks.delivery import Deliverer, RetryPolicy
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

TABLE = "crm.company"
#: crm.company's columns as information_schema answers them, external_code under a case-insensitive collation.
COLUMNS = [{"name": "id", "type": "uuid", "scale": None, "udt": "uuid", "collation": None},
           {"name": "tenant_id", "type": "integer", "scale": 0, "udt": "int4", "collation": None},
           {"name": "external_code", "type": "text", "scale": None, "udt": "text", "collation": "und-x-icu-ci"},
           {"name": "parent_id", "type": "uuid", "scale": None, "udt": "uuid", "collation": None},
           {"name": "name", "type": "text", "scale": None, "udt": "text", "collation": None}]
TEXTS = text_columns(COLUMNS)
PARENT_ID = "6a1f0c52-8d1e-4c55-9a51-3f0b8e0f2a10"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    return schemas(tmp_path_factory.mktemp("tree-schemas"))


@pytest.fixture
def config(tmp_path: Path, store: SchemaStore) -> TargetConfig:
    return load_target(target_file(tmp_path, "tenants", TABLE, wait_s=30), store.schemas, writable=["tenants"])


def route(config: TargetConfig, operation: str = "create") -> SqlRoute:
    found = config.route(PAYLOAD_TYPE, operation)
    assert isinstance(found, SqlRoute)
    return found


def sink_command(operation: str, body: dict[str, object], changed: tuple[str, ...] = ()) -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="k1", target="tenants", operation=operation,
                       entity_type=PAYLOAD_TYPE, entity_key=str(body["org_key"]), payload_type=PAYLOAD_TYPE,
                       payload=body, changed_fields=changed)


def test_a_lookup_loads_as_the_column_it_fills(config: TargetConfig) -> None:
    create = route(config)
    assert create.lookups == {"parent_id": SqlLookup(
        name="parent_id", table=TABLE, take="id", match={"tenant_id": "tenant_id", "external_code": "parent_code"},
        wait_s=30.0, line=16)}
    assert create.plan() == ("upsert crm.company on (tenant_id, external_code), parent_id from crm.company.id by "
                             "(tenant_id, external_code)")


def test_a_child_looks_its_parent_up_and_a_root_does_not(config: TargetConfig) -> None:
    child = prepare(config, sink_command("create", payload("C-1", "P-7")))
    assert not isinstance(child, Failed)
    assert child.row == {"tenant_id": 1, "external_code": "C-1", "parent_id": None, "name": "Org C-1"}
    (pending,) = child.lookups
    assert (pending.values, pending.columns) == ({"tenant_id": 1, "external_code": "P-7"}, ("parent_id",))

    root = prepare(config, sink_command("create", payload("P-7", None)))
    assert not isinstance(root, Failed) and root.lookups == () and root.row["parent_id"] is None, \
        "a null parent code is no reference: the column is NULL and nothing is read"
    given = prepare(config, sink_command("create", {**payload("C-1", "P-7"), "parent_id": PARENT_ID}))
    assert not isinstance(given, Failed) and given.lookups == () and given.row["parent_id"] == PARENT_ID, \
        "a payload that has the value is written as it is (the rule of every adapter's lookups)"


def test_an_only_changed_update_looks_up_again_when_a_match_field_changed(config: TargetConfig) -> None:
    renamed = prepare(config, sink_command("update", payload("C-1", "P-7"), changed=("name",)))
    assert not isinstance(renamed, Failed)
    assert renamed.row == {"tenant_id": 1, "external_code": "C-1", "name": "Org C-1"} and renamed.lookups == ()
    moved = prepare(config, sink_command("update", payload("C-1", "P-8"), changed=("parent_code",)))
    assert not isinstance(moved, Failed) and "parent_id" in moved.row
    assert [p.values for p in moved.lookups] == [{"tenant_id": 1, "external_code": "P-8"}]
    orphaned = prepare(config, sink_command("update", payload("C-1", None), changed=("parent_code",)))
    assert not isinstance(orphaned, Failed) and orphaned.row["parent_id"] is None and orphaned.lookups == ()


def test_the_lookup_is_one_select_of_the_take_and_match_columns() -> None:
    lookup = SqlLookup(name="parent_id", table=TABLE, take="id",
                       match={"tenant_id": "tenant_id", "external_code": "parent_code"})
    assert lookup_statement(lookup, POSTGRESQL) == (
        'SELECT "id", "tenant_id", "external_code" FROM "crm"."company" WHERE "tenant_id" = %s AND '
        '"external_code" = %s')
    assert lookup_statement(lookup, MARIADB) == (
        "SELECT `id`, `tenant_id`, `external_code` FROM `crm`.`company` WHERE `tenant_id` = %s AND "
        "`external_code` = %s")


def _pending(config: TargetConfig) -> PendingLookup:
    return PendingLookup(lookup=route(config).lookups["parent_id"], values={"tenant_id": 1, "external_code": "P-7"},
                         columns=("parent_id",))


def test_the_one_row_holding_the_text_exactly_fills_the_column(config: TargetConfig) -> None:
    row: dict[str, object] = {"parent_id": None}
    held = [{"id": "twin", "tenant_id": 1, "external_code": "p-7"},
            {"id": PARENT_ID, "tenant_id": 1, "external_code": "P-7"}]
    assert fill(row, _pending(config), held, TEXTS, config) is None
    assert row == {"parent_id": PARENT_ID}, "the case-insensitive collation's twin is left aside"


def test_no_row_held_exactly_waits_for_the_parent(config: TargetConfig) -> None:
    row: dict[str, object] = {"parent_id": None}
    failed = fill(row, _pending(config), [{"id": "twin", "tenant_id": 1, "external_code": "p-7"}], TEXTS, config)
    assert isinstance(failed, Failed) and row == {"parent_id": None}
    assert (failed.kind, failed.error_type, failed.wait_s) == ("transient", "LookupNotFound", 30.0)
    assert failed.reason.startswith(
        "lookup parent_id: the referenced row tenant_id=1, external_code='P-7' is not in crm.company yet (the "
        "collation of its external_code text collate und-x-icu-ci also takes (tenant_id=1, external_code='p-7') "
        "for it, not the same text, so that row is left aside), so parent_id cannot be filled")
    assert "retried for up to 30 s (wait_s, lookups.parent_id in tenants.yaml:16)" in failed.reason
    assert "then replay the dead letter" in failed.reason


def test_several_rows_are_ambiguous_and_never_a_guess(config: TargetConfig) -> None:
    held = [{"id": "a", "tenant_id": 1, "external_code": "P-7"}, {"id": "b", "tenant_id": 1, "external_code": "P-7"}]
    failed = fill({"parent_id": None}, _pending(config), held, TEXTS, config)
    assert isinstance(failed, Failed) and (failed.kind, failed.error_type) == ("permanent", "LookupAmbiguous")
    assert failed.reason.startswith("lookup parent_id: 2 rows of crm.company hold tenant_id=1, external_code='P-7' "
                                    "exactly (id: 'a', 'b'), and a lookup takes one row, never a guess")


def test_start_checks_the_lookup_table_and_warns_of_a_missing_index(config: TargetConfig) -> None:
    facts = table_facts(config, {TABLE: COLUMNS})
    assert facts.problems == [] and facts.texts[TABLE]["external_code"].shown == "text collate und-x-icu-ci"
    renamed = [c if c["name"] != "external_code" else {**c, "name": "code"} for c in COLUMNS]
    problems = table_facts(config, {TABLE: renamed}).problems
    assert "line 16: lookup parent_id: crm.company has no column external_code; its columns: code, id, name, " \
           "parent_id, tenant_id" in problems
    assert unindexed(config, {TABLE: ["id", "tenant_id"]}) == []
    (warning,) = unindexed(config, {TABLE: ["id"]})
    assert warning == ("tenants.yaml:16: lookup parent_id reads crm.company by (tenant_id, external_code), and no "
                       "index of crm.company starts with one of them, so every lookup scans the table inside a "
                       "write's transaction; create one: CREATE UNIQUE INDEX company_tenant_id_external_code ON "
                       "crm.company (tenant_id, external_code) (the referenced rows' business key)")


BAD = """\
system: tenants
adapter: sql
sql: {}
routes:
  - payload_type: Organisation
    operation: create
    table: crm.company
    key: [tenant_id, external_code]
    columns: {tenant_id: tenant_id, external_code: org_code, parent_id: parent_id, owner: owner_id}
    lookups:
      parent_id: {table: "crm.company; drop", match: {tenant_id: tenant_id, external-code: parent_code}, take: id,
                  wait_s: -1}
      owner_id: {table: crm.person, take: id, path: /people}
      spare: {table: crm.company, match: {external_code: parent_codes}, take: id}
  - payload_type: Organisation
    operation: update
    table: crm.company
    key: [tenant_id, external_code]
    columns: {tenant_id: parent_id, external_code: org_code}
    lookups:
      parent_id: {table: crm.company, match: {tenant_id: tenant_id, external_code: parent_code}, take: id}
  - payload_type: Organisation
    operation: deactivate
    action: delete
    table: crm.company
    key: [tenant_id, external_code]
    columns: {tenant_id: tenant_id, external_code: org_code}
    lookups: [parent_id]
"""


def test_every_problem_of_a_lookup_is_named_with_its_line_field_and_fix(tmp_path: Path, store: SchemaStore) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(textwrap.dedent(BAD), encoding="utf-8")
    with pytest.raises(TargetConfigError) as caught:
        load_target(path, store.schemas, writable=["tenants"])
    message = str(caught.value)
    for expected in [
        "tenants.yaml:11: routes[0].lookups.parent_id.table: 'crm.company; drop' is not a valid table; fix: give the "
        "table of the referenced rows, optionally schema-qualified: crm.company",
        "tenants.yaml:11: routes[0].lookups.parent_id.match.external-code: 'external-code' is not a column name; "
        "fix: use the column's name: letters, digits and underscores",
        "tenants.yaml:12: routes[0].lookups.parent_id.wait_s: wait_s must be a number of seconds of at least 0, got "
        "-1; fix: give how long a command waits for the referenced record to be written (default 60); 0 dead-letters "
        "it at once",
        "tenants.yaml:13: routes[0].lookups.owner_id.path: 'path' is not a key of lookup owner_id; fix: remove it, or "
        "use one of table, match, take, wait_s",
        "tenants.yaml:13: routes[0].lookups.owner_id.match: match must be a mapping of a column name to payload "
        "field, got nothing; fix: write e.g. {parent_id: {table: crm.company, match: {tenant_id: tenant_id, "
        "external_code: parent_code}, take: id}}",
        "tenants.yaml:14: routes[0].lookups.spare.match.external_code: the payload has no field 'parent_codes'; its "
        "fields: org_key, tenant_id, org_code, parent_code, name, company_id; fix: use a field of the payload schema",
        "tenants.yaml:14: routes[0].lookups.spare: lookup spare fills no column: no column reads spare; fix: map the "
        "column to it (columns: {spare: spare}), or remove the lookup",
        "tenants.yaml:21: routes[1].lookups.parent_id: lookup parent_id fills key column tenant_id, but the key of a "
        "route with operation update and action upsert names the row it writes (an upsert creates it when no row "
        "holds the key): the command's own, never read from another row; fix: map tenant_id to a payload field (the "
        "row's business key); a lookup fills a key column only on an update, deactivate or cancel route with action "
        "update or delete, which finds a row that exists",
        "tenants.yaml:28: routes[2].lookups: lookups must be a mapping of reference name to a lookup, got a list; "
        "fix: write lookups: {parent_id: {table: crm.company",
    ]:
        assert expected in message, f"{expected}\n--- not in ---\n{message}"
    assert "columns.owner" not in message and "columns.parent_id" not in message, \
        "the columns reading a lookup with problems are not refused too"


def test_a_delete_routes_lookup_fills_a_column(tmp_path: Path, store: SchemaStore) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(textwrap.dedent(BAD.replace("lookups: [parent_id]", "lookups: {parent_id: {table: crm.company, "
                                                "match: {tenant_id: tenant_id}, take: id}}")), encoding="utf-8")
    with pytest.raises(TargetConfigError) as caught:
        load_target(path, store.schemas, writable=["tenants"])
    assert ("tenants.yaml:28: routes[2].lookups.parent_id: lookup parent_id fills no column: no column reads "
            "parent_id; fix: map the column to it (columns: {parent_id: parent_id}), or remove the lookup") \
        in str(caught.value), "a delete route's lookup fills its key or nothing: test_sink_sql_key_lookups.py"


class Parent:
    """A target whose parent row is written while the child waits: the child's lookup finds no row ``missing``
    times, then its parent's."""

    def __init__(self, missing: int) -> None:
        self.missing = missing
        self.calls = 0

    async def attempt(self, command: SinkCommand) -> Attempt:
        self.calls += 1
        if self.calls <= self.missing:
            return Failed(kind="transient", error_type="LookupNotFound", wait_s=0.3,
                          reason="lookup parent_id: the referenced row tenant_id=1, external_code='P-7' is not in "
                                 "crm.company yet")
        return Applied(status=201, body={"parent_id": PARENT_ID})

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def describe(self) -> str:
        return "a parent written later"


def _deliver(config: TargetConfig, target: Parent) -> tuple[Attempt, TargetGate]:
    async def run() -> tuple[Attempt, TargetGate]:
        gate = TargetGate(CircuitBreaker(threshold=2, reset_s=60))
        deliverer = Deliverer(adapter=target, gate=gate, config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.01, maximum=0.05, jitter=0), alone_s=0,
                                                 alone_attempts=1))
        delivered = await deliverer.deliver(sink_command("create", payload("C-1", "P-7")))
        return delivered.outcome, gate

    return asyncio.run(run())


def test_a_child_waits_for_its_parent_without_opening_the_breaker(config: TargetConfig) -> None:
    target = Parent(missing=4)
    outcome, gate = _deliver(config, target)
    assert isinstance(outcome, Applied) and target.calls == 5, "applied once its parent's row is there"
    assert gate.state is BreakerState.CLOSED, "a row not there yet is no outage of the target"


def test_a_parent_missing_for_good_is_dead_lettered_after_the_wait(config: TargetConfig) -> None:
    target = Parent(missing=10_000)
    outcome, _ = _deliver(config, target)
    assert isinstance(outcome, Failed) and outcome.error_type == "LookupNotFound", \
        "its own wait bounds it, not the failing-alone rule"
    assert outcome.reason.startswith(f"gave up after {target.calls} attempts over 0 s (wait_s=0.3); the last: lookup "
                                     "parent_id: the referenced row tenant_id=1, external_code='P-7' is not in "
                                     "crm.company yet")
    assert 5 <= target.calls <= 40, "retried with backoff up to the end of the wait, then given up"
