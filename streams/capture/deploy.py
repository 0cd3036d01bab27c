"""Putting a connector config into Kafka Connect and waiting for it to run; resetting offsets.

A deploy compares first and only PUTs a config that differs from the deployed one, so deploying the
same files twice writes nothing to Connect's config topic and restarts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.capture.client import PAUSED, RUNNING, STOPPED, ConnectClient, ConnectorState, root_cause
from streams.capture.configs import LocalConnector
from streams.capture.diff import ConfigDiff, diff_configs
from streams.capture.exceptions import ConnectorFailed, ConnectorNotFound, ConnectorNotReady
from streams.capture.failures import known_failure, lost_position
from streams.capture.options import MARIADB, POSTGRES

Say = Callable[[str], None]
POLL_SECONDS = 0.5
#: How long Connect may keep reporting a connector's previous states after a restart or an update.
SETTLE_SECONDS = 3.0


@dataclass(frozen=True, kw_only=True)
class DeployResult:
    name: str
    #: ``created``, ``updated`` or ``unchanged``.
    outcome: str
    diff: ConfigDiff
    state: ConnectorState | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "outcome": self.outcome, "diff": self.diff.to_json(),
                "status": self.state.to_json() if self.state else None}


def summary(state: ConnectorState) -> str:
    """``connector RUNNING, tasks: 1 of 2 RUNNING, 1 FAILED (task 1)``: a count of tasks per state, RUNNING
    first, the ids of the tasks in any other state (the ones to look at or restart).

    Counts, not ids, lead: ``tasks: 0 RUNNING`` (task 0 running) was read as zero tasks running.
    """
    if not state.tasks:
        return f"connector {state.state}, tasks: none yet"
    by_state: dict[str, list[int]] = {}
    for task in sorted(state.tasks, key=lambda t: t.state != RUNNING):
        by_state.setdefault(task.state, []).append(task.id)
    parts: list[str] = []
    for name, ids in by_state.items():
        count = f"{len(ids)} of {len(state.tasks)}" if not parts else str(len(ids))
        which = "" if name == RUNNING else f" ({'task' if len(ids) == 1 else 'tasks'} {', '.join(map(str, ids))})"
        parts.append(f"{count} {name}{which}")
    return f"connector {state.state}, tasks: {', '.join(parts)}"


def deploy(client: ConnectClient, connector: LocalConnector, *, say: Say, wait: bool = True,
           timeout: float = 180.0) -> DeployResult:
    name = connector.name
    deployed = client.find_config(name)
    diff = diff_configs(name, connector.config, deployed)
    held = None
    if deployed is not None:
        before = client.status(name)
        held = before.state if before.state in (PAUSED, STOPPED) else None
    settle = 0.0
    if diff.unchanged:
        outcome = "unchanged"
        say(f"{name}: config unchanged, nothing to deploy")
    else:
        outcome = "created" if client.put_config(name, connector.config) else "updated"
        settle = SETTLE_SECONDS if outcome == "updated" else 0.0
        say(f"{name}: config {outcome} ({len(diff.changes)} key(s) differed)")
    if held:
        say(f"{name}: the connector is {held}; it stays so until `isthmus connectors resume {name}`")
        return DeployResult(name=name, outcome=outcome, diff=diff, state=client.status(name))
    if not wait:
        return DeployResult(name=name, outcome=outcome, diff=diff, state=None)
    state = wait_until(client, name, "running", lambda s: s.running, say=say, timeout=timeout, settle=settle)
    return DeployResult(name=name, outcome=outcome, diff=diff, state=state)


def wait_until(client: ConnectClient, name: str, wanted: str, done: Callable[[ConnectorState], bool], *,
               say: Say, timeout: float, fail_on_failed: bool = True, settle: float = 0.0) -> ConnectorState:
    """Poll the connector's status until ``done`` holds; a FAILED connector or task ends the wait.

    Right after a restart or a config update Connect still reports the states from before it for a
    moment; ``settle`` seconds of polling pass before any state counts, so an old RUNNING or FAILED
    is not taken for the outcome.
    """
    began = time.monotonic()
    deadline = began + max(timeout, settle)
    last = ""
    while True:
        try:
            state: ConnectorState | None = client.status(name)
        except ConnectorNotFound:
            state = None
        line = summary(state) if state else "not registered yet"
        if line != last:
            say(f"{name}: {line}")
            last = line
        settled = time.monotonic() - began >= settle
        if settled and state is not None and done(state):
            return state
        if settled and state is not None and fail_on_failed and state.failures:
            raise ConnectorFailed(failure_message(state))
        if time.monotonic() >= deadline:
            raise ConnectorNotReady(f"{name} was not {wanted} after {timeout:.0f}s (last: {line}); see "
                                    f"`isthmus connectors status {name}` and the Kafka Connect log")
        time.sleep(POLL_SECONDS)


def failure_message(state: ConnectorState) -> str:
    parts = [f"{state.name}: {what} is FAILED: {root_cause(trace)}\n{trace.rstrip()}" for what, trace in state.failures]
    lost = [found for _, trace in state.failures if (found := lost_position(trace)) is not None]
    if lost:
        return "\n".join([*parts, f"fix: {lost[0].what}; {lost[0].recovery(state.name)}"])
    known = [hint for _, trace in state.failures if (hint := known_failure(trace, state.name)) is not None]
    if known:
        return "\n".join([*parts, f"cause: {known[0]}"])
    fix = (f"fix: read the trace above, correct the connector's config and run "
           f"`isthmus connectors deploy {state.name}` (with `--configs <folder>` if it is not connect-configs/), "
           f"or retry with `isthmus connectors restart {state.name} --failed-only`")
    return "\n".join([*parts, fix])


def _all_in(state: str) -> Callable[[ConnectorState], bool]:
    def done(s: ConnectorState) -> bool:
        return s.state == state and all(t.state == state for t in s.tasks)
    return done


def pause(client: ConnectClient, name: str, *, say: Say, timeout: float = 60.0) -> ConnectorState:
    client.pause(name)
    return wait_until(client, name, "paused", _all_in(PAUSED), say=say, timeout=timeout)


def resume(client: ConnectClient, name: str, *, say: Say, timeout: float = 60.0) -> ConnectorState:
    client.resume(name)
    return wait_until(client, name, "running", lambda s: s.running, say=say, timeout=timeout)


def restart(client: ConnectClient, name: str, *, only_failed: bool, say: Say,
            timeout: float = 60.0) -> ConnectorState:
    client.restart(name, only_failed=only_failed)
    return wait_until(client, name, "running", lambda s: s.running, say=say, timeout=timeout,
                      settle=SETTLE_SECONDS)


def delete(client: ConnectClient, name: str, *, say: Say, timeout: float = 60.0) -> None:
    """Delete the connector and wait until Connect no longer reports it."""
    client.delete(name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = client.status(name)
        except ConnectorNotFound:
            say(f"{name}: deleted")
            return
        if time.monotonic() >= deadline:
            raise ConnectorNotReady(f"{name} was still reported after {timeout:.0f}s ({summary(state)}); "
                                    "see the Kafka Connect log")
        time.sleep(POLL_SECONDS)


def left_behind(name: str, config: dict[str, str] | None) -> str:
    """What deleting the connector ``name`` (deployed with ``config``) leaves behind, and what to do about it.
    Above all a PostgreSQL connector's replication slot: the server keeps every WAL segment from the slot's
    position until the slot is dropped, so a slot left for a connector that is gone for good fills the
    database's disk."""
    config = config or {}
    again = "deploy it again to continue where it stopped"
    if config.get("connector.class") == POSTGRES and config.get("slot.drop.on.stop", "").lower() != "true":
        slot, publication = config.get("slot.name", "debezium"), config.get("publication.name", "dbz_publication")
        where = (f"{config.get('database.hostname', '?')}:{config.get('database.port', '5432')}/"
                 f"{config.get('database.dbname', '?')}")
        return (f"{name}: deleted; its offsets and topics stay, and so does its replication slot {slot} on {where}: "
                f"the server keeps all WAL from the slot's position until the slot is dropped. {again.capitalize()}; "
                f"if it is gone for good, drop the slot there (SELECT pg_drop_replication_slot('{slot}');) and, "
                f"unless another connector uses it, the publication (DROP PUBLICATION {publication};)")
    if config.get("connector.class") == MARIADB:
        return (f"{name}: deleted; its offsets, topics and schema history topic stay ({again}, while the server "
                "still holds the binlogs from its position; else it must snapshot again: connect-configs/README.md, "
                '"Lost position: purged binlogs")')
    return f"{name}: deleted; its offsets and topics stay ({again})"


def reset_offsets(client: ConnectClient, name: str, *, say: Say, timeout: float = 180.0) -> str:
    """Stop the connector, delete its source offsets, resume it: it starts over (Debezium snapshots again)."""
    client.stop(name)
    say(f"{name}: stopping")
    wait_until(client, name, "stopped", lambda s: s.state == STOPPED and not s.tasks, say=say,
               timeout=timeout, fail_on_failed=False)
    message = client.delete_offsets(name)
    say(f"{name}: {message or 'offsets deleted'}")
    client.resume(name)
    wait_until(client, name, "running", lambda s: s.running, say=say, timeout=timeout)
    return message
