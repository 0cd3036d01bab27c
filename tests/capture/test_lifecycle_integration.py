"""deploy failures, pause, resume, restart, offsets (show and reset) and delete, on a connector of the
test's own.

The connector is crm-source with its own name, topic prefix, slot and publication, capturing
crm.products only, so the shared crm-source and erp-source are never disturbed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.events import Event, end_positions, read_events

from streams.capture.client import ConnectClient
from streams.capture.exceptions import ConnectorNotFound
from streams.cli.main import main
from streams.stack.running import RunningStack

from .conftest import delete_topics_of, drop_slot_when_released, run_cli


@dataclass(frozen=True, kw_only=True)
class Scratch:
    name: str
    prefix: str
    slot: str
    sku: str
    root: Path

    @property
    def topic(self) -> str:
        return f"{self.prefix}.crm.products"

    def set_options(self, options: dict[str, Any]) -> None:
        path = self.root / "connectors" / f"{self.name}.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["config"].update(options)
        path.write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture
def scratch(stack: RunningStack, connect: ConnectClient, config_root: Path) -> Iterator[Scratch]:
    token = secrets.token_hex(4)
    made = Scratch(name=f"isthmus-test-{token}", prefix=f"itest{token}", slot=f"itest_{token}",
                   sku=f"LIFE-{token}", root=config_root)
    document = yaml.safe_load((config_root / "connectors" / "crm-source.yaml").read_text(encoding="utf-8"))
    (config_root / "connectors" / f"{made.name}.yaml").write_text(
        yaml.safe_dump({**document, "name": made.name}), encoding="utf-8")
    made.set_options({
        "topic.prefix": made.prefix, "slot.name": made.slot, "publication.name": made.slot,
        "table.include.list": ["crm.products", "crm.debezium_signal"],
    })
    with stack.connect_crm() as conn:
        conn.execute("INSERT INTO crm.products (sku, name, list_price) VALUES (%s, %s, %s)",
                     (made.sku, "Lifecycle test", Decimal("2.00")))
    yield made
    if connect.find_config(made.name) is not None:
        connect.delete(made.name)
    with stack.connect_crm() as conn:
        conn.execute("DELETE FROM crm.products WHERE sku = %s", (made.sku,))
        conn.execute(f'DROP PUBLICATION IF EXISTS "{made.slot}"')
    drop_slot_when_released(stack, made.slot)
    delete_topics_of(stack, made.prefix)


def snapshot_reads(sku: str) -> Callable[[list[Event]], bool]:
    def done(events: list[Event]) -> bool:
        return any(e.op == "r" and e.key == {"sku": sku} for e in events)
    return done


def test_lifecycle_and_offsets_reset(scratch: Scratch, connect: ConnectClient, stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers
    configs = ("--configs", str(scratch.root))

    code, document = run_cli("connectors", "deploy", scratch.name, *configs)
    assert code == 0, document
    assert [(d["name"], d["outcome"]) for d in document["deployed"]] == [(scratch.name, "created")]
    first = read_events(bootstrap, scratch.topic, {}, snapshot_reads(scratch.sku))
    assert snapshot_reads(scratch.sku)(first)

    scratch.set_options({"heartbeat.interval.ms": 5000})
    code, diff = run_cli("connectors", "diff", scratch.name, *configs)
    assert diff["connectors"] == [{"name": scratch.name, "state": "changed", "changes": [
        {"key": "heartbeat.interval.ms", "kind": "change", "local": "5000", "deployed": "10000"}]}]
    code, document = run_cli("connectors", "deploy", scratch.name, *configs)
    assert code == 0 and [d["outcome"] for d in document["deployed"]] == ["updated"]
    assert connect.get_config(scratch.name)["heartbeat.interval.ms"] == "5000"
    assert connect.status(scratch.name).running

    offsets: list[dict[str, Any]] = []
    for _ in range(60):
        code, shown = run_cli("connectors", "offsets", scratch.name)
        offsets = shown["offsets"]
        if any("lsn" in (entry.get("offset") or {}) for entry in offsets):
            break
        time.sleep(0.5)
    assert code == 0
    assert [entry["partition"] for entry in offsets] == [{"server": scratch.prefix}]

    code, paused = run_cli("connectors", "pause", scratch.name, *configs)
    assert (code, paused) == (0, {"pause": [scratch.name]})
    state = connect.status(scratch.name)
    assert [state.state, *(t.state for t in state.tasks)] == ["PAUSED", "PAUSED"]
    code, _ = run_cli("connectors", "resume", scratch.name, *configs)
    assert code == 0 and connect.status(scratch.name).running
    code, restarted = run_cli("connectors", "restart", scratch.name, *configs)
    assert code == 0 and restarted["only_failed"] is False
    assert [s["state"] for s in restarted["restarted"]] == ["RUNNING"]

    since = end_positions(bootstrap, scratch.topic)
    code, reset = run_cli("connectors", "offsets", scratch.name, "--reset")
    assert code == 0 and reset["reset"] is True
    again = read_events(bootstrap, scratch.topic, since, snapshot_reads(scratch.sku))
    assert snapshot_reads(scratch.sku)(again), "no new snapshot after the offsets were reset"
    assert connect.status(scratch.name).running

    code, deleted = run_cli("connectors", "delete", scratch.name, *configs)
    assert code == 0 and deleted["delete"] == [scratch.name]
    # the slot stays and holds the server's WAL: the command names it and how to drop it
    assert f"pg_drop_replication_slot('{scratch.slot}')" in deleted["left_behind"][scratch.name]
    with stack.connect_crm() as conn:
        assert conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (scratch.slot,)).fetchone()
    with pytest.raises(ConnectorNotFound, match=scratch.name):
        connect.status(scratch.name)


def test_a_task_that_fails_fails_the_deploy_and_shows_its_trace(
        scratch: Scratch, connect: ConnectClient, capsys: pytest.CaptureFixture[str]) -> None:
    # Valid to Connect's validation, but the task cannot start: the publication does not exist.
    scratch.set_options({"publication.autocreate.mode": "disabled",
                         "publication.name": f"{scratch.slot}_absent"})
    configs = ("--configs", str(scratch.root))

    code, document = run_cli("connectors", "deploy", scratch.name, *configs)

    assert code == 1
    failed = document["failed"]
    assert failed["name"] == scratch.name
    assert "task 0 is FAILED" in failed["error"] and "Publication autocreation is disabled" in failed["error"]
    assert [t["state"] for t in failed["status"]["tasks"]] == ["FAILED"]
    assert "PostgresReplicationConnection" in failed["status"]["tasks"][0]["trace"]

    code, again = run_cli("connectors", "restart", scratch.name, "--failed-only", *configs)
    assert code == 1 and "Publication autocreation is disabled" in again["failed"]["error"]

    capsys.readouterr()
    assert main(["connectors", "status", scratch.name, *configs]) == 0
    shown = capsys.readouterr().out
    assert f"{scratch.name}  RUNNING" in shown and "0:FAILED" in shown
    assert "Publication autocreation is disabled" in shown and "--failed-only" in shown
