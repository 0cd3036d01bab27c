"""A SQL route's key filled by a lookup: a table whose key the database generates (``id UUID DEFAULT
gen_random_uuid()``) and whose rows carry a business key. A new user wrote a CRM so, its update route keyed by the
generated id: under load 83 updates were dead-lettered ``MissingKey``, each decided before the created row's id came
back through capture (the payload's id still null), though the row was there to be found by its business key. Here:
an update or deactivate route finds its row by the business key in the write's own transaction (the lookup planned,
the row's key filled, the statement keyed by it), a payload's id is used as it is, a row not there yet is waited
for and named, a create's or upsert's key is refused at load, and a ``MissingKey`` on a route without the lookup
says the YAML to paste. The database's own rows: test_sink_sql_lookups_integration.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from org_tree import KEY_ROUTES, PAYLOAD_TYPE, payload, schemas, target_file

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.adapters.mysql import delete_statement, update_statement
from streams.sinks.adapters.sql import Prepared, prepare
from streams.sinks.adapters.sql_children import POSTGRESQL
from streams.sinks.adapters.sql_keys import text_columns
from streams.sinks.adapters.sql_lookups import fill, lookup_statement
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

SYSTEM, TABLE = "orgbook", "book.org"
ROW_ID = "3b6f5c1e-2a4d-4e8f-9c21-7d0a5b9e6f11"
TEXTS = text_columns([{"name": "external_code", "type": "text", "scale": None, "udt": "text", "collation": None}])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    return schemas(tmp_path_factory.mktemp("key-schemas"))


@pytest.fixture
def config(tmp_path: Path, store: SchemaStore) -> TargetConfig:
    return load_target(target_file(tmp_path, SYSTEM, TABLE, wait_s=45, routes=KEY_ROUTES), store.schemas,
                       writable=[SYSTEM])


def sink_command(operation: str, company_id: str | None = None, changed: tuple[str, ...] = ("name",),
                 **fields: object) -> SinkCommand:
    """A command of organisation 1:C-1 as the entity flow makes it, its id null until it came back from capture."""
    body = {**payload("C-1", None, name="Renamed"), "company_id": company_id, **fields}
    return SinkCommand(command_id="c1", idempotency_key="k1", target=SYSTEM, operation=operation,
                       entity_type=PAYLOAD_TYPE, entity_key="1:C-1", payload_type=PAYLOAD_TYPE, payload=body,
                       changed_fields=changed if operation == "update" else ())


def prepared(config: TargetConfig, command: SinkCommand) -> Prepared:
    found = prepare(config, command)
    assert not isinstance(found, Failed), found
    return found


def test_an_update_decided_before_the_id_came_back_finds_its_row_by_its_business_key(config: TargetConfig) -> None:
    update = prepared(config, sink_command("update"))
    assert update.row == {"id": None, "name": "Renamed"}, "not dead-lettered MissingKey: the lookup fills the key"
    (pending,) = update.lookups
    assert (pending.values, pending.columns, pending.key) == ({"tenant_id": 1, "external_code": "C-1"}, ("id",), True)
    assert lookup_statement(pending.lookup, POSTGRESQL) == (
        'SELECT "id", "tenant_id", "external_code" FROM "book"."org" WHERE "tenant_id" = %s AND "external_code" = %s')

    held = [{"id": ROW_ID, "tenant_id": 1, "external_code": "C-1"}]
    assert fill(update.row, pending, held, TEXTS, config) is None
    assert update.row == {"id": ROW_ID, "name": "Renamed"}, "the row's own id, read in the write's transaction"
    updates = [c for c in update.row if c not in update.route.key]
    assert (update_statement(TABLE, updates, update.route.key), [update.row[c] for c in (*updates, "id")]) == (
        "UPDATE `book`.`org` SET `name` = %s WHERE `id` = %s", ["Renamed", ROW_ID])


def test_a_deactivate_finds_the_row_to_delete_the_same_way(config: TargetConfig) -> None:
    deactivate = prepared(config, sink_command("deactivate"))
    (pending,) = deactivate.lookups
    assert deactivate.row == {"id": None} and pending.key
    assert fill(deactivate.row, pending, [{"id": ROW_ID, "tenant_id": 1, "external_code": "C-1"}], TEXTS,
                config) is None
    assert (delete_statement(TABLE, deactivate.route.key), deactivate.row) == (
        "DELETE FROM `book`.`org` WHERE `id` = %s", {"id": ROW_ID})


def test_a_payload_that_has_the_id_writes_by_it_as_it_is(config: TargetConfig) -> None:
    update = prepared(config, sink_command("update", company_id=ROW_ID))
    assert update.row == {"id": ROW_ID, "name": "Renamed"} and update.lookups == (), "nothing read"


def test_a_row_not_there_yet_is_waited_for_and_named(config: TargetConfig) -> None:
    update = prepared(config, sink_command("update"))
    (pending,) = update.lookups
    failed = fill(update.row, pending, [], TEXTS, config)
    assert isinstance(failed, Failed) and (failed.kind, failed.error_type, failed.wait_s) == (
        "transient", "LookupNotFound", 45.0)
    assert failed.reason == (
        "lookup company_id: the row to write, tenant_id=1, external_code='C-1', is not in book.org yet, so its key id "
        "cannot be filled and nothing was written; retried for up to 45 s (wait_s, lookups.company_id in "
        "orgbook.yaml:16) in case its create comes next (a command decided before the created row's key came back): "
        "create that row first, or correct tenant_id, org_code in the source, then replay the dead letter")
    assert update.row["id"] is None


def test_no_business_key_either_is_a_missing_key_naming_both(config: TargetConfig) -> None:
    failed = prepare(config, sink_command("update", org_code=None))
    assert isinstance(failed, Failed) and (failed.kind, failed.error_type) == ("permanent", "MissingKey")
    assert failed.reason == ("book.org: the payload gives no value for key column id, nor for tenant_id, org_code, "
                             "by which lookup company_id finds its row: nothing was written; send one of them in the "
                             "payload, then replay the dead letter")


WITHOUT_LOOKUP = KEY_ROUTES.split("    lookups: &row")[0] + "    ids: {{company_id: id}}\n"


def test_a_missing_key_without_the_lookup_says_the_yaml_to_paste(tmp_path: Path, store: SchemaStore) -> None:
    path = target_file(tmp_path, SYSTEM, TABLE, routes=WITHOUT_LOOKUP)
    config = load_target(path, store.schemas, writable=[SYSTEM])
    failed = prepare(config, sink_command("update"))
    assert isinstance(failed, Failed) and (failed.kind, failed.error_type) == ("permanent", "MissingKey")
    paste = ("lookups: {company_id: {table: book.org, match: {tenant_id: tenant_id, external_code: org_code}, take: "
             "id, wait_s: 60}}")
    assert failed.reason == (
        "book.org: the payload gives no value for key column id (field company_id): an update decided before the "
        "created row's key came back (a key the table generates) carries null there; nothing was written. Fix: find "
        "the row by its business key in the write's own transaction, waiting for a create still in flight: add to "
        f"the route (orgbook.yaml:8) {paste}, then replay the dead letter (targets/README.md, \"A key the table "
        "generates\")")

    columns = "    columns: {id: company_id, name: name}\n"
    path.write_text(path.read_text(encoding="utf-8").replace(columns, f"{columns}    {paste}\n"), encoding="utf-8")
    pasted = load_target(path, store.schemas, writable=[SYSTEM])
    assert [p.values for p in prepared(pasted, sink_command("update")).lookups] == [
        {"tenant_id": 1, "external_code": "C-1"}], "the YAML pasted loads and finds the row"


def test_a_missing_key_without_a_known_business_key_says_both_fixes(tmp_path: Path, store: SchemaStore) -> None:
    only_update = "  - payload_type: Organisation\n" + WITHOUT_LOOKUP.split("  - payload_type: Organisation\n")[1]
    config = load_target(target_file(tmp_path, SYSTEM, TABLE, routes=only_update), store.schemas, writable=[SYSTEM])
    failed = prepare(config, sink_command("update"))
    assert isinstance(failed, Failed) and failed.reason == (
        "book.org: the payload gives no value for key column id (field company_id); nothing was written. Send it in "
        "the payload; or, where the table generates it (an update decided before the created row's key came back "
        "carries null), find the row by its business key in the write's own transaction, waiting for a create still "
        "in flight: add to the route (orgbook.yaml:6) lookups: {company_id: {table: book.org, match: {<business key "
        "column>: <payload field>}, take: id, wait_s: 60}} (match: a unique key of book.org the payload carries), "
        "then replay the dead letter (targets/README.md, \"A key the table generates\")")


def test_a_create_keeps_its_own_key(config: TargetConfig) -> None:
    failed = prepare(config, sink_command("create", org_code=None))
    assert isinstance(failed, Failed) and failed.reason == (
        "book.org: the payload gives no value for key column external_code; send it in the payload")


REFUSED = """\
system: orgbook
adapter: sql
sql: {}
routes:
  - payload_type: Organisation
    operation: create
    table: book.org
    key: [id]
    columns: {id: company_id, name: name}
    lookups:
      company_id: {table: book.org, match: {external_code: org_code}, take: id}
  - {payload_type: Organisation, operation: update, table: book.org, key: [id], columns: {id: company_id, name: name},
     lookups: {company_id: {table: book.org, match: {external_code: org_code}, take: id}}}
  - {payload_type: Organisation, operation: deactivate, action: delete, table: book.org, key: [id],
     columns: {id: company_id, parent_id: parent_id},
     lookups: {company_id: {table: book.org, match: {external_code: org_code}, take: id},
               parent_id: {table: book.org, match: {external_code: parent_code}, take: id}}}
"""


def test_a_create_or_upsert_filling_its_key_from_a_lookup_is_refused_at_load(tmp_path: Path,
                                                                             store: SchemaStore) -> None:
    path = tmp_path / "orgbook.yaml"
    path.write_text(REFUSED, encoding="utf-8")
    with pytest.raises(TargetConfigError) as caught:
        load_target(path, store.schemas, writable=[SYSTEM])
    problems = [line[line.index("orgbook.yaml:"):] for line in str(caught.value).splitlines()[1:]]
    fix = ("fix: map id to a payload field (the row's business key); a lookup fills a key column only on an update, "
           "deactivate or cancel route with action update or delete, which finds a row that exists")
    assert problems == [
        "orgbook.yaml:11: routes[0].lookups.company_id: lookup company_id fills key column id, but the key of a route "
        "with operation create and action upsert names the row it writes (an upsert creates it when no row holds the "
        f"key): the command's own, never read from another row; {fix}",
        "orgbook.yaml:13: routes[1].lookups.company_id: lookup company_id fills key column id, but the key of a route "
        "with operation update and action upsert names the row it writes (an upsert creates it when no row holds the "
        f"key): the command's own, never read from another row; {fix}",
        "orgbook.yaml:17: routes[2].lookups.parent_id: lookup parent_id fills parent_id, but a delete route writes no "
        "column but its key; fix: remove the lookup, or let it fill a key column only (the row's generated key, "
        "found by its business key)",
    ], str(caught.value)


def test_an_update_and_a_deactivate_route_may_fill_their_key_from_a_lookup(config: TargetConfig) -> None:
    for operation in ("update", "deactivate"):
        route = prepared(config, sink_command(operation)).route
        assert (route.key, list(route.lookups)) == (("id",), ["company_id"])
    assert prepared(config, sink_command("update")).route.plan() == (
        "update book.org on (id), company_id from book.org.id by (tenant_id, external_code)")
