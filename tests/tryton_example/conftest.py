"""examples/tryton/ on the shared running stack: the reference CRM and Tryton, a real ERP the project did not
write, synced by the example's files alone.

Tryton is the stack's optional service ``tryton``: the session fixture starts it through the project's own
code (``StackManager.up(["tryton"])``: its virtual environment and database are built once and reused), and
stops it at the end only if this session started it (``ISTHMUS_KEEP_STACK=1`` keeps it). Because it is
optional it is started in every stack mode, ``external`` included. Then, as the example's README says, the
capture is prepared (``examples/tryton/capture.sql``) and the example's ``tryton-source`` connector deployed
through the project's capture code; the CRM's own ``crm-source`` is the stack's. What an interrupted earlier
session left (the connector with its offsets, the replication slot and publication, the example's topics,
consumer groups and flow state) is removed first, and again at the end.
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
from streams.stack.settings import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "examples" / "tryton"
CRM, ERP = "refcrm", "tryton"
CONNECTOR = "tryton-source"
SLOT = "isthmus_tryton"


@dataclass(frozen=True, kw_only=True)
class TrytonExample:
    stack: RunningStack
    #: The names of the example's flows: their consumer groups and their state topics' prefix.
    flows: tuple[str, ...]
    #: What the worker and sink processes need to run on the example's files only.
    env: dict[str, str]
    #: Tryton's JSON-RPC endpoint for the database ``tryton``.
    rpc_url: str


def _say(line: str) -> None:
    print(f"tryton example: {line}")


def _remove_connector(client: ConnectClient) -> None:
    remove_connector(client, CONNECTOR, _say)


def _drop_slot(stack: RunningStack) -> None:
    with stack.connect_crm(dbname=stack.settings.tryton_db_name, autocommit=True) as conn:
        drop_slot(conn, SLOT)


def _delete_topics_and_groups(stack: RunningStack, flows: tuple[str, ...]) -> None:
    owned = (f"{ERP}.", *(f"isthmus.{kind}.{system}" for kind in ("commands", "results") for system in (CRM, ERP)),
             *(f"{flow}-" for flow in flows))
    delete_topics_and_groups(stack.settings.bootstrap_servers, topic_prefixes=owned,
                             groups=(*flows, f"isthmus-sink-{CRM}", f"isthmus-sink-{ERP}"), say=_say)


def _clean(stack: RunningStack, client: ConnectClient, flows: tuple[str, ...]) -> None:
    try:
        _remove_connector(client)
    except CaptureError as exc:
        _say(f"could not remove the connector: {exc}")
    _drop_slot(stack)
    _delete_topics_and_groups(stack, flows)


@pytest.fixture(scope="session")
def tryton_example(tryton_stack: RunningStack) -> Iterator[TrytonExample]:
    stack = tryton_stack
    flows = tuple(flow.name for flow in load_flow_files(EXAMPLE / "flows"))
    with ConnectClient(stack.settings.connect_url) as client:
        _clean(stack, client, flows)
        with stack.connect_crm(dbname=stack.settings.tryton_db_name, autocommit=True) as conn:
            conn.execute((EXAMPLE / "capture.sql").read_text(encoding="utf-8"))
        try:
            connector = configs.load(EXAMPLE / "connect-configs", env="local").render(
                CONNECTOR, stack_variables(stack.settings, stack.secrets))
            assert not connector.problems, connector.problems
            deploy(client, connector, say=_say, timeout=180)
            rpc_url = f"{stack.settings.tryton_url}/{stack.settings.tryton_db_name}/rpc/"
            yield TrytonExample(stack=stack, flows=flows, rpc_url=rpc_url, env={
                "ISTHMUS_SYSTEMS_DIR": str(EXAMPLE / "systems"),
                "ISTHMUS_MAPPINGS_DIR": str(EXAMPLE / "mappings"),
                "ISTHMUS_FLOWS_DIR": str(EXAMPLE / "flows"),
            })
        finally:
            _clean(stack, client, flows)


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLE.rglob("*") if p.is_file())
