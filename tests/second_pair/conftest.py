"""The second pair on the shared running stack: Rolodex (a CRM in PostgreSQL schema ``rolodex``) and Ledger
(an ERP in MariaDB database ``isthmus_ledger``), both captured by their own connectors.

The session fixture starts from nothing: what an interrupted earlier session left (connectors with their
offsets, the replication slot and publication, tables, topics, consumer groups) is removed first, then the
tables are created from ``schema/*.sql`` and the two connectors deployed through the project's capture code
(``connect-configs/`` of this folder, rendered with its ``local`` overlay). Everything is removed again at the
end. The stack's application user ``isthmus`` already holds what Debezium needs here: it owns the CRM database
(so the schema and the filtered publication are its own) and has the replication privileges, and on MariaDB
it has the replication grants on ``*.*`` and every privilege on ``isthmus\\_%`` databases (see
streams/stack/services/crm_db.py and erp_db.py), so no admin connection is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.pipeline import delete_topics_and_groups, drop_slot, remove_connector

from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.capture.deploy import deploy
from streams.capture.exceptions import CaptureError
from streams.flows.files import load_flow_files
from streams.stack.offer import stack_variables
from streams.stack.running import RunningStack
from streams.systems import Systems, load_systems

HERE = Path(__file__).resolve().parent
CRM, ERP = "rolodex", "ledger"
CRM_SCHEMA, ERP_DATABASE = "rolodex", "isthmus_ledger"
CONNECTORS = ("rolodex-source", "ledger-source")
SLOT = "isthmus_rolodex"
SCHEMA_HISTORY = "_isthmus.ledger.schema-history"


@dataclass(frozen=True, kw_only=True)
class SecondPair:
    stack: RunningStack
    systems: Systems
    #: The names of this folder's flows (flows/*.yaml): their consumer groups and their state topics' prefix.
    flows: tuple[str, ...]
    #: What the worker and sink processes need to run on this folder's configuration only.
    env: dict[str, str]

    def topic(self, system: str, table: str) -> str:
        return self.systems[system].topic(table)


def _say(line: str) -> None:
    print(f"second pair: {line}")


def _flow_names() -> tuple[str, ...]:
    return tuple(flow.name for flow in load_flow_files(HERE / "flows"))


def _remove_connectors(client: ConnectClient) -> None:
    for name in CONNECTORS:
        remove_connector(client, name, _say)


def _drop_databases(stack: RunningStack) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        drop_slot(conn, SLOT)
        conn.execute(f"DROP SCHEMA IF EXISTS {CRM_SCHEMA} CASCADE")
    with stack.connect_erp(database="", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{ERP_DATABASE}`")


def _delete_topics_and_groups(stack: RunningStack, flows: tuple[str, ...]) -> None:
    """Every topic and consumer group of the pair: CDC, schema history, commands, results, flow state."""
    owned = (f"{CRM}.", f"{ERP}.", SCHEMA_HISTORY, *(f"isthmus.{kind}.{system}" for kind in ("commands", "results")
                                                      for system in (CRM, ERP)), *(f"{flow}-" for flow in flows))
    delete_topics_and_groups(stack.settings.bootstrap_servers, topic_prefixes=owned,
                             groups=(*flows, f"isthmus-sink-{CRM}", f"isthmus-sink-{ERP}"), say=_say)


def _create_databases(stack: RunningStack) -> None:
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute((HERE / "schema" / f"{CRM}.sql").read_text(encoding="utf-8"))
    with stack.connect_erp(database="", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{ERP_DATABASE}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{ERP_DATABASE}`")
        text = (HERE / "schema" / f"{ERP}.sql").read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        for statement in filter(str.strip, code.split(";")):
            cursor.execute(statement)


def _deploy_connectors(stack: RunningStack, client: ConnectClient) -> None:
    config_set = configs.load(HERE / "connect-configs", env="local")
    variables = stack_variables(stack.settings, stack.secrets)
    for name in CONNECTORS:
        connector = config_set.render(name, variables)
        assert not connector.problems, connector.problems
        deploy(client, connector, say=_say, timeout=180)


def clean(stack: RunningStack, client: ConnectClient, flows: tuple[str, ...]) -> None:
    try:
        _remove_connectors(client)
    except CaptureError as exc:
        _say(f"could not remove the connectors: {exc}")
    _drop_databases(stack)
    _delete_topics_and_groups(stack, flows)


@pytest.fixture(scope="session")
def second_pair(stack: RunningStack) -> Iterator[SecondPair]:
    flows = _flow_names()
    systems = load_systems(HERE / "systems")
    with ConnectClient(stack.settings.connect_url) as client:
        clean(stack, client, flows)
        _create_databases(stack)
        try:
            _deploy_connectors(stack, client)
            yield SecondPair(stack=stack, systems=systems, flows=flows, env={
                "ISTHMUS_SYSTEMS_DIR": str(HERE / "systems"),
                "ISTHMUS_MAPPINGS_DIR": str(HERE / "mappings"),
                "ISTHMUS_FLOWS_DIR": str(HERE / "flows"),
            })
        finally:
            clean(stack, client, flows)
