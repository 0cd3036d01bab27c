"""`isthmus connectors validate | deploy` against the stack's real databases: a captured PostgreSQL table without a
replica identity is refused (its publication would make PostgreSQL refuse the source application's every UPDATE and
DELETE of it), and nothing is deployed; REPLICA IDENTITY FULL passes; an existing publication is judged by the
tables it publishes; INTERVAL columns sent as microseconds, and tables without a primary key (MariaDB too), are
warnings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from streams.capture.client import ConnectClient
from streams.stack.running import RunningStack

from .conftest import run_cli

SCRATCH = "isthmus_ident_scratch"  # a schema of the crm database, and a MariaDB database (isthmus_% may be created)
NAME = "isthmus-test-ident"
PUBLICATION = "isthmus_test_ident"


@pytest.fixture
def billing(stack: RunningStack) -> Iterator[str]:
    """The new user's billing tables in small: subscriber (a primary key, an INTERVAL), subscriber_tag (no primary
    key, REPLICA IDENTITY DEFAULT)."""
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"CREATE TABLE {SCRATCH}.subscriber (id BIGINT PRIMARY KEY, grace_period INTERVAL)")
        conn.execute(f"CREATE TABLE {SCRATCH}.subscriber_tag (subscriber_id BIGINT NOT NULL, tag TEXT NOT NULL)")
        conn.execute(f"INSERT INTO {SCRATCH}.subscriber_tag VALUES (1, 'vip')")
        try:
            yield SCRATCH
        finally:
            conn.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH} CASCADE")


def connector_file(root: Path, source: str, name: str, tables: str, **options: str) -> None:
    """``source``'s connector file as connector ``name`` of its own (slot, publication, topic prefix), capturing
    ``tables`` (a pattern list as text), with ``options`` added."""
    text = (root / "connectors" / f"{source}.yaml").read_text(encoding="utf-8")
    text = text.replace(f"name: {source}", f"name: {name}")
    text = re.sub(r"(?m)^  table\.include\.list:\n(    .*\n|    #.*\n)+", f"  table.include.list: '{tables}'\n", text)
    text = re.sub(r"(?m)^  (slot\.name|publication\.name|topic\.prefix): .*$",
                  lambda m: f"  {m[1]}: {name.replace('-', '_')}", text)
    text = re.sub(r"(?m)^  signal\.data\.collection: .*\n", "", text)
    for key, value in options.items():
        text = re.sub(rf"(?m)^  {re.escape(key)}: .*\n", "", text)
        text = text.replace("config:\n", f"config:\n  {key}: {value}\n", 1)
    (root / "connectors" / f"{name}.yaml").write_text(text, encoding="utf-8")


def validate(root: Path, name: str) -> tuple[int, dict[str, Any]]:
    code, document = run_cli("connectors", "validate", name, "--configs", str(root))
    (found,) = document["connectors"]
    return code, found


def test_a_captured_table_without_a_replica_identity_is_refused_and_never_deployed(
        billing: str, stack: RunningStack, connect: ConnectClient, config_root: Path) -> None:
    connector_file(config_root, "crm-source", NAME, f"{billing}.subscriber,{billing}.subscriber_tag")

    code, found = validate(config_root, NAME)

    assert code == 1
    (problem,) = found["problems"]
    assert problem["key"] == "table.include.list"
    assert problem["message"].startswith(
        f"{billing}.subscriber_tag has no primary key and REPLICA IDENTITY DEFAULT (which is the primary key): the "
        f"connector captures it, so its publication {PUBLICATION} publishes its updates and deletes, and PostgreSQL "
        "then refuses every UPDATE and DELETE of it")
    assert problem["fix"].startswith(f"run `ALTER TABLE {billing}.subscriber_tag REPLICA IDENTITY FULL;`")

    code, document = run_cli("connectors", "deploy", NAME, "--configs", str(config_root))
    assert code == 1 and document["deployed"] == []
    assert [p["key"] for p in document["refused"][0]["problems"]] == ["table.include.list"]
    assert connect.find_config(NAME) is None
    with stack.connect_crm(autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)).fetchone() is None
        conn.execute(f"DELETE FROM {billing}.subscriber_tag WHERE tag = 'none'")  # the application still writes

    connector_file(config_root, "crm-source", NAME, f"{billing}\\.subscr.*")  # a pattern matches it as well
    code, found = validate(config_root, NAME)
    assert code == 1 and [p["message"].split(" has ")[0] for p in found["problems"]] == [f"{billing}.subscriber_tag"]


def test_replica_identity_full_passes_and_leaves_warnings_of_the_key_and_the_interval(
        billing: str, stack: RunningStack, config_root: Path) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {billing}.subscriber_tag REPLICA IDENTITY FULL")
    connector_file(config_root, "crm-source", NAME, f"{billing}\\..*")

    code, found = validate(config_root, NAME)

    assert code == 0, found
    warned = {w["key"]: w for w in found["warnings"]}
    assert warned["message.key.columns"]["message"].startswith(
        f"{billing}.subscriber_tag has no primary key, so Debezium sends its changes without a key")
    assert warned["interval.handling.mode"]["message"].startswith(
        "is not set (Debezium's default: numeric), so the INTERVAL column grace_period of "
        f"{billing}.subscriber arrives as microseconds in which a month is 30.4375 days")
    connector_file(config_root, "crm-source", NAME, f"{billing}\\..*", **{"interval.handling.mode": "string"})
    code, found = validate(config_root, NAME)
    assert code == 0 and "interval.handling.mode" not in {w["key"] for w in found["warnings"]}


def test_an_existing_publication_is_judged_by_the_tables_it_publishes(
        billing: str, stack: RunningStack, config_root: Path) -> None:
    """A publication made by hand (publication.autocreate.mode disabled) that publishes a table without a replica
    identity already breaks its deletes: validate says so, though the connector captures another table."""
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE {billing}.subscriber, {billing}.subscriber_tag")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                           match="does not have a replica identity and publishes deletes"):
            conn.execute(f"DELETE FROM {billing}.subscriber_tag")
    connector_file(config_root, "crm-source", NAME, f"{billing}.subscriber",
                   **{"publication.autocreate.mode": "disabled"})

    code, found = validate(config_root, NAME)

    assert code == 1
    (problem,) = found["problems"]
    assert problem["key"] == "publication.name"
    assert problem["message"].startswith(
        f"{billing}.subscriber_tag has no primary key and REPLICA IDENTITY DEFAULT (which is the primary key): "
        f"publication {PUBLICATION} exists and publishes its updates and deletes (publication.autocreate.mode "
        "disabled: Debezium uses it as it is)")
    assert f"`ALTER PUBLICATION {PUBLICATION} DROP TABLE {billing}.subscriber_tag;`" in problem["fix"]


@pytest.fixture
def ledger(stack: RunningStack) -> Iterator[str]:
    conn = stack.connect_erp(autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
            cursor.execute(f"CREATE DATABASE {SCRATCH}")
            cursor.execute(f"CREATE TABLE {SCRATCH}.account (id BIGINT PRIMARY KEY, name TEXT)")
            cursor.execute(f"CREATE TABLE {SCRATCH}.posting_tag (account_id BIGINT NOT NULL, tag VARCHAR(20))")
        yield SCRATCH
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        conn.close()


def test_a_mariadb_table_without_a_primary_key_is_a_warning_naming_message_key_columns(
        ledger: str, config_root: Path) -> None:
    connector_file(config_root, "erp-source", f"{NAME}-erp", f"{ledger}\\..*",
                   **{"database.include.list": ledger, "database.server.id": "184977",
                      "schema.history.internal.kafka.topic": "_isthmus.test-ident.schema-history"})

    code, found = validate(config_root, f"{NAME}-erp")

    assert code == 0, found
    (warning,) = [w for w in found["warnings"] if w["key"] == "message.key.columns"]
    assert warning["message"].startswith(f"{ledger}.posting_tag has no primary key, so Debezium sends its changes "
                                         "without a key")
    assert warning["fix"].startswith(f"set `message.key.columns: {ledger}.posting_tag:<columns that identify a row>`")
