"""Two test sessions on one local stack (`make test` runs a second beside the main one): the one that started
the stack stops it, and only after the other session has ended."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import pytest

from streams.stack import harness, manager
from streams.stack.running import RunningStack

pytestmark = pytest.mark.unit


class FakeManager:
    """A stack manager whose ``up`` starts the stack the first time only, and which records ``down``."""

    is_up = False
    events: ClassVar[list[str]] = []

    def __init__(self, settings: object) -> None:
        self.settings = settings

    def up(self) -> bool:
        started = not FakeManager.is_up
        FakeManager.is_up = True
        return started

    def running(self) -> RunningStack:
        return object()  # type: ignore[return-value]

    def down(self) -> None:
        FakeManager.events.append("down")
        FakeManager.is_up = False


def test_the_session_that_started_the_stack_stops_it_after_the_session_beside_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ISTHMUS_HOME", str(tmp_path))
    monkeypatch.delenv("ISTHMUS_KEEP_STACK", raising=False)
    monkeypatch.setattr(manager, "StackManager", FakeManager)
    FakeManager.is_up, FakeManager.events = False, []
    first, second = harness.stack_for_tests("local"), harness.stack_for_tests("local")
    first.__enter__()
    second.__enter__()
    ended = threading.Thread(target=first.__exit__, args=(None, None, None))
    ended.start()
    ended.join(timeout=1)
    assert ended.is_alive() and FakeManager.events == [], "the starter waits for the session beside it"
    FakeManager.events.append("second ended")
    second.__exit__(None, None, None)
    ended.join(timeout=10)
    assert not ended.is_alive()
    assert FakeManager.events == ["second ended", "down"]
