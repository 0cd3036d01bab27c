"""A success whose answer reads like an error, on a route with no ``answers.error`` rule, is warned of.

A new user's API answered 10% of its writes ``200 {"ok": false, "error": "... try later"}`` without making them;
the target file had no ``answers`` rule, so the sink counted each applied and 23 writes were lost without a word.
The sink cannot know such a body means failure (the route says nothing), but it says once per route that it
counted one applied, with the rule to declare. Made-up API over httpx's in-memory transport, through the real HTTP
adapter and deliverer."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import httpx
import pytest
from sink_support import deliver_in_memory

from streams.sinks.config import load_target
from streams.sinks.delivery import Deliverer
from streams.sinks.outcomes import Applied, Attempt, Failed, error_shaped
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PATCH
    path: /clients/{account_code}
    body: {name: name}
"""
RULE = """\
    answers:
      error: {when: {path: ok, equals: false}, message: error}
"""


def command(number: int) -> SinkCommand:
    return SinkCommand(command_id=f"c{number}", idempotency_key=f"key-{number}", target="erp", operation="update",
                       entity_type="t", entity_key=f"AC{number}", payload_type="isthmus.canonical.Account",
                       payload={"account_code": f"AC{number}", "name": "Ann"})


def deliver(tmp_path: Path, text: str, body: dict[str, object], count: int = 1) -> tuple[list[Attempt], Deliverer]:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    done, deliverer = deliver_in_memory(load_target(path), lambda request: httpx.Response(200, json=body),
                                        *(command(n) for n in range(count)))
    return [d.outcome for d in done], deliverer


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reads like an error" in r.getMessage()]


def test_an_error_shaped_success_is_counted_and_warned_of_once_per_route(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        outcomes, deliverer = deliver(tmp_path, TARGET, {"ok": False, "error": "backend unavailable, try later"}, 3)
    assert all(isinstance(o, Applied) for o in outcomes)
    assert deliverer.error_shaped == 3
    (warned,) = warnings_of(caplog)
    assert warned.startswith("sink erp: route Account update (erp.yaml:")
    assert ('counted applied an answer that reads like an error: ERP answered 200 to PATCH /clients/AC' in warned)
    assert "answers: {error: {when: {path: ok, equals: false}, message: error}}" in warned


def test_a_plain_success_or_a_route_with_a_rule_is_not_warned_of(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        (plain,), deliverer = deliver(tmp_path, TARGET, {"ok": True, "error": None, "id": 7})
        (ruled,), _ = deliver(tmp_path, TARGET + RULE, {"ok": False, "error": "backend unavailable"})
    assert isinstance(plain, Applied) and deliverer.error_shaped == 0
    assert isinstance(ruled, Failed) and ruled.reason.endswith("with an error: backend unavailable")
    assert warnings_of(caplog) == []


def test_the_rule_suggested_fits_the_answer() -> None:
    assert error_shaped({"success": False}) == "{when: {path: success, equals: false}}"
    assert error_shaped({"errors": [{"code": 12}]}) == "{when: errors, message: errors}"
    assert error_shaped({"data": {"id": 1}, "errors": []}) is None
    assert error_shaped(["not", "a", "mapping"]) is None
