"""Every command a flow run through LocalRun emits must be of a kind its FlowSpec declares (``FlowSpec.sends``),
the declaration ``isthmus mappings validate`` checks the target files' routes against: the autouse fixture of
tests/conftest.py checks each run's commands after each feed and tick, so a flow that sends a kind it does not
declare fails the test that makes it send one, instead of passing validation and being dead-lettered (NoRoute)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.commands import COMMAND_SCHEMA
from streams.flows.engine.local import LocalRun
from streams.sinks.topics import COMMAND_ID_HEADER


@functools.cache
def _store() -> SchemaStore:
    return SchemaStore.from_directory()


def undeclared(run: LocalRun, start: int = 0) -> list[str]:
    """The commands ``run`` emitted from ``start`` on whose (target, payload type, operation) its flow does not
    declare; none when the flow declares nothing (a plugin's, a test's own)."""
    declared = {(s.target, s.payload_type, s.operation) for s in run.flow.sends}
    if not declared:
        return []
    found = []
    for out in run.context.emitted[start:]:
        if out.value is None or not any(name == COMMAND_ID_HEADER for name, _ in out.headers):
            continue
        command = _store().decode(out.value, COMMAND_SCHEMA).value
        kind = (command["target"], command["payload_type"], command["operation"])
        if kind not in declared:
            found.append(f"{kind} (declared: {sorted(declared)})")
    return found


def _checked(method: Callable[..., Any], *, awaited: bool) -> Callable[..., Any]:
    def after(run: LocalRun, start: int) -> None:
        wrong = undeclared(run, start)
        assert not wrong, f"flow {run.flow.name} sent commands its FlowSpec.sends does not declare: {wrong}"

    if awaited:
        @functools.wraps(method)
        async def feed(run: LocalRun, *args: Any, **kwargs: Any) -> Any:
            start = len(run.context.emitted)
            result = await method(run, *args, **kwargs)
            after(run, start)
            return result
        return feed

    @functools.wraps(method)
    def tick(run: LocalRun, *args: Any, **kwargs: Any) -> Any:
        start = len(run.context.emitted)
        result = method(run, *args, **kwargs)
        after(run, start)
        return result
    return tick


def check_declared_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check every LocalRun's commands against its flow's declaration while a test runs."""
    monkeypatch.setattr(LocalRun, "feed", _checked(LocalRun.feed, awaited=True))
    monkeypatch.setattr(LocalRun, "tick", _checked(LocalRun.tick, awaited=False))
