"""A batch endpoint whose items are answered without an HTTP status, as a new user's help desk answers them.

Deskly (made up here, as HelpHub was in the trial) takes ``POST /members/bulk`` and answers 200
``{"results": [{"ok": false, "error": "name: required"}, {"ok": true, "id": "mem_.."}]}``: no ``status`` per
item, and it refuses any field it does not know, the idempotency key too. The sink took every such item for a
transient failure (``BatchAnswerUnreadable``): all were sent again and again, the accepted ones too (duplicates
at an API that ignores keys), until the breaker opened and FailingAlone dead-lettered them. Now an item without
a status is its own answer, judged by the route's ``answers`` rules and otherwise applied; an item that cannot
be read is a permanent dead letter carrying it; and ``key_field: false`` sends no key in the items. Driven
through the real HTTP adapter and deliverer over httpx's in-memory transport (Deskly stands as the ERP, since
a target file names a system of systems/)."""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sink_support import deliver_in_memory

from streams.sinks.backoff import Backoff
from streams.sinks.config import load_target
from streams.sinks.config.model import HttpRoute, TargetConfig
from streams.sinks.delivery import Delivered, RetryPolicy
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /members
    body: {{name: name, email: email}}
    ids: {{member_id: id}}
{answers}    batch: {{method: POST, path: /members/bulk, max_items: 10, linger_ms: 20, items_field: members{key_field}}}
"""
ERROR_RULE = "    answers: {error: {when: {path: ok, equals: false}, message: error}}\n"
FIELDS = {"name", "email"}


@dataclass
class Deskly:
    """Deskly's bulk endpoint: each item answered by ``answer`` (default: its own check, as Deskly does);
    ``strict``: a field it does not know (the idempotency key) is refused."""

    answer: Callable[[dict[str, Any]], Any] | None = None
    strict: bool = False
    bulk: list[list[dict[str, Any]]] = field(default_factory=list)
    singles: int = 0

    def check(self, item: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(item) - FIELDS)
        if unknown and self.strict:
            return {"ok": False, "error": f"unknown field {unknown[0]}"}
        if not item.get("name"):
            return {"ok": False, "error": "name: required"}
        return {"ok": True, "id": f"mem_{item['email'].partition('@')[0]}"}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/members/bulk":
            self.singles += 1
            return httpx.Response(500, json={"error": "not expected here"})
        items = json.loads(request.content)["members"]
        self.bulk.append(items)
        return httpx.Response(200, json={"results": [(self.answer or self.check)(item) for item in items]})


def load(tmp_path: Path, *, answers: str = ERROR_RULE, key_field: str = "") -> TargetConfig:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(TARGET.format(answers=answers, key_field=key_field)), encoding="utf-8")
    return load_target(path)


def member(name: str, email: str) -> SinkCommand:
    return SinkCommand(command_id=email, idempotency_key=f"key-{email}", target="erp", operation="create",
                       entity_type="member", entity_key=email,
                       payload_type="isthmus.canonical.Account", payload={"name": name, "email": email})


def deliver_all(config: TargetConfig, desk: Deskly, *commands: SinkCommand) -> list[Delivered]:
    """The commands applied at the same time (so batched together); a transient failure is given up on soon."""
    policy = RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0), transient_deadline_s=0.3,
                         alone_attempts=2, alone_s=0)
    return deliver_in_memory(config, desk.handler, *commands, policy=policy, breaker=50)[0]


def test_items_without_a_status_are_judged_by_the_routes_answers_and_none_is_sent_again(tmp_path: Path) -> None:
    desk = Deskly()
    refused, accepted = deliver_all(load(tmp_path), desk, member("", "ann@x.test"), member("Bo", "bo@x.test"))

    assert len(desk.bulk) == 1 and desk.singles == 0  # one call; nothing retried, nothing sent alone
    assert isinstance(refused.outcome, Failed) and refused.outcome.kind == "permanent"
    assert refused.outcome.error_type == "TargetError" and "name: required" in refused.outcome.reason
    assert refused.outcome.answer == {"ok": False, "error": "name: required"}
    assert isinstance(accepted.outcome, Applied) and accepted.outcome.ids == {"member_id": "mem_bo"}
    assert (refused.attempts, accepted.attempts) == (1, 1)


def test_key_field_false_sends_no_key_to_an_api_that_refuses_unknown_fields(tmp_path: Path) -> None:
    keyless = load(tmp_path, key_field=", key_field: false")
    batch = keyless.route("isthmus.canonical.Account", "create")
    assert isinstance(batch, HttpRoute) and batch.batch is not None and batch.batch.key_field is None

    desk = Deskly(strict=True)
    done = deliver_all(keyless, desk, member("Ann", "ann@x.test"), member("Bo", "bo@x.test"))
    assert desk.bulk == [[{"name": "Ann", "email": "ann@x.test"}, {"name": "Bo", "email": "bo@x.test"}]]
    assert all(isinstance(d.outcome, Applied) for d in done)

    keyed = Deskly(strict=True)
    refused = deliver_all(load(tmp_path), keyed, member("Ann", "ann@x.test"))
    assert keyed.bulk[0] == [{"idempotency_key": "key-ann@x.test", "name": "Ann", "email": "ann@x.test"}]
    assert isinstance(refused[0].outcome, Failed) and "unknown field idempotency_key" in refused[0].outcome.reason


def test_key_field_must_be_a_field_name_or_false(tmp_path: Path) -> None:
    with pytest.raises(TargetConfigError, match="key_field: false"):
        load(tmp_path, key_field=", key_field: true")


def test_without_rules_an_item_without_a_status_is_applied_once_and_the_route_warned_of(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desk = Deskly(answer=lambda item: {"id": f"mem_{item['name']}"})
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        done = deliver_all(load(tmp_path, answers=""), desk, member("Ann", "ann@x.test"), member("Bo", "bo@x.test"))

    assert len(desk.bulk) == 1
    assert [d.outcome.ids for d in done if isinstance(d.outcome, Applied)] == [{"member_id": "mem_Ann"},
                                                                               {"member_id": "mem_Bo"}]
    warned = [r.getMessage() for r in caplog.records if "without a status" in r.getMessage()]
    assert len(warned) == 1 and "answers" in warned[0]


@pytest.mark.parametrize("result", ["accepted", None, {"status": True}, {"status": 2.5}])
def test_an_item_answer_that_cannot_be_read_is_dead_lettered_with_it_not_retried(tmp_path: Path,
                                                                                   result: Any) -> None:
    desk = Deskly(answer=lambda item: result)
    (done,) = deliver_all(load(tmp_path), desk, member("Ann", "ann@x.test"))

    assert len(desk.bulk) == 1 and done.attempts == 1
    assert isinstance(done.outcome, Failed) and done.outcome.kind == "permanent"
    assert done.outcome.error_type == "BatchAnswerUnreadable" and done.outcome.answer == result


WORD_RULE = "    answers: {error: {when: {path: status, equals: error}, message: message}}\n"


def test_an_item_status_that_is_a_word_is_read_by_the_routes_answers(tmp_path: Path) -> None:
    """HubDesk-like items: ``{"status": "ok", "id": ...}`` or ``{"status": "error", "message": ...}``: the route's
    rules read the word (it was dead-lettered as unreadable, the accepted items too)."""
    def answer(item: dict[str, Any]) -> dict[str, Any]:
        if item["name"]:
            return {"status": "ok", "id": f"mem_{item['name']}"}
        return {"status": "error", "message": "name: required"}

    desk = Deskly(answer=answer)
    refused, accepted = deliver_all(load(tmp_path, answers=WORD_RULE), desk, member("", "ann@x.test"),
                                    member("Bo", "bo@x.test"))

    assert len(desk.bulk) == 1 and desk.singles == 0
    assert isinstance(refused.outcome, Failed) and refused.outcome.error_type == "TargetError"
    assert "name: required" in refused.outcome.reason and refused.attempts == 1
    assert isinstance(accepted.outcome, Applied) and accepted.outcome.ids == {"member_id": "mem_Bo"}


def test_an_item_status_that_is_a_number_as_text_is_that_status(tmp_path: Path) -> None:
    desk = Deskly(answer=lambda item: {"status": "409", "body": {"error": "email taken"}}
                  if item["name"] == "Ann" else {"status": "201", "body": {"id": "mem_bo"}})
    taken, made = deliver_all(load(tmp_path, answers=""), desk, member("Ann", "ann@x.test"), member("Bo", "bo@x.test"))

    assert isinstance(made.outcome, Applied) and made.outcome.status == 201
    assert made.outcome.ids == {"member_id": "mem_bo"}
    assert isinstance(taken.outcome, Failed) and taken.outcome.error_type == "Http409"


def test_a_word_status_without_rules_is_dead_lettered_saying_which_rule_to_declare(tmp_path: Path) -> None:
    desk = Deskly(answer=lambda item: {"status": "done", "id": "mem_1"})
    (done,) = deliver_all(load(tmp_path, answers=""), desk, member("Ann", "ann@x.test"))

    assert len(desk.bulk) == 1 and done.attempts == 1
    assert isinstance(done.outcome, Failed) and done.outcome.kind == "permanent"
    assert done.outcome.error_type == "BatchAnswerUnreadable"
    assert done.outcome.answer == {"status": "done", "id": "mem_1"}
    assert all(said in done.outcome.reason for said in ("'done'", "equals: done", "answers"))
