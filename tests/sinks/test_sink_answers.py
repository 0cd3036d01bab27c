"""Answers read as they are meant: a route's answer rules turn an error under HTTP 200 into a failure
(permanent with the target's message, or transient when the rule says so), for any adapter; lookups by any
method with a body; ids read from anywhere in the answer."""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.answers import judge
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.config.model import AnswerRules, Condition, ErrorRule, HttpRoute, TargetConfig
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

# A REST-ish API that answers its errors with 200 and {"error": [<type>, <message>]}, finds by POST.
TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PATCH
    path: /accounts/{account_id}
    lookups:
      account_id:
        method: POST
        path: /accounts/search
        body: {code: account_code, active: {value: true}}
        take: result.*.id
        match: {code: account_code}
    body: {name: name}
    ids: {account_id: result.id, code: result.code}
    answers:
      error:
        when: error
        message: error.1
        transient: {path: error.0, one_of: [ConcurrencyException, TimeoutError]}
      success: result
"""

COMMAND = SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="update", entity_type="t",
                      entity_key="C-000001", payload_type="isthmus.canonical.Account",
                      payload={"account_id": None, "account_code": "AC1", "name": "Acme"})
RULES = AnswerRules(error=ErrorRule(when=(Condition(path="error"),), message="error.1",
                                    transient=(Condition(path="error.0", test="one_of",
                                                         value=("ConcurrencyException",)),)),
                    success=(Condition(path="result"),))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load_target(path)
    return str(caught.value)


def test_answer_rules_ids_and_post_lookups_load_as_typed_values(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, TARGET))
    route = config.route("isthmus.canonical.Account", "update")
    assert isinstance(route, HttpRoute)
    assert route.ids == {"account_id": "result.id", "code": "result.code"}
    assert route.lookups["account_id"].method == "POST" and route.lookups["account_id"].take == "result.*.id"
    assert route.lookups["account_id"].body is not None and set(route.lookups["account_id"].body) == {"code",
                                                                                                   "active"}
    assert route.lookups["account_id"].match == {"code": "account_code"}
    assert route.answers is not None and route.answers.line == 17
    assert route.answers.error == ErrorRule(
        when=(Condition(path="error"),), message="error.1",
        transient=(Condition(path="error.0", test="one_of", value=("ConcurrencyException", "TimeoutError")),))
    assert route.answers.success == (Condition(path="result"),)


def test_every_documented_test_of_a_condition_loads_present_and_absent_included(tmp_path: Path) -> None:
    conditions = "[{path: error, present: true}, {path: ok, equals: false}, {path: result, absent: true}]"
    config = load_target(write(tmp_path, TARGET.replace("        when: error\n", f"        when: {conditions}\n")))
    route = config.route("isthmus.canonical.Account", "update")
    assert isinstance(route, HttpRoute) and route.answers is not None and route.answers.error is not None
    assert route.answers.error.when == (Condition(path="error"), Condition(path="ok", test="equals", value=False),
                                        Condition(path="result", test="absent"))


def test_the_list_form_of_ids_still_reads_each_at_its_own_name(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, TARGET.replace("ids: {account_id: result.id, code: result.code}",
                                                        "ids: [account_id, code]")))
    route = config.route("isthmus.canonical.Account", "update")
    assert route is not None and route.ids == {"account_id": "account_id", "code": "code"}


def test_bad_answer_rules_and_lookups_are_refused_with_their_lines(tmp_path: Path) -> None:
    text = (TARGET.replace("when: error", "when: {path: error, equals: 1, present: true}")
            .replace("message: error.1", "message: 'error[1]'")
            .replace("one_of: [ConcurrencyException, TimeoutError]", "matches: '(unclosed'")
            .replace("method: POST", "method: GET")
            .replace("ids: {account_id: result.id, code: result.code}", "ids: {account_id: 'result id'}"))
    message = refused(write(tmp_path, text))
    assert "erp.yaml:19: routes[0].answers.error.when: a condition has one test, got present, equals; fix: split " \
           "it into a list of conditions" in message
    assert "erp.yaml:20: routes[0].answers.error.message: 'error[1]' is not a valid message" in message
    assert "erp.yaml:21: routes[0].answers.error.transient.matches: '(unclosed' is not a regular expression" \
        in message
    assert "erp.yaml:12: routes[0].lookups.account_id.body: a GET sends no body; fix: remove body, or set " \
           "method: POST" in message
    assert "erp.yaml:16: routes[0].ids.account_id: 'result id' is not a path into the answer" in message


def test_an_error_under_200_is_a_permanent_failure_with_the_targets_message() -> None:
    outcome = judge(RULES, Applied(status=200, body={"error": ["UserError", "The code must be unique."]}),
                    system="ERP", call="POST /rpc")
    assert outcome == Failed(kind="permanent", status=200, answer={"error": ["UserError", "The code must be unique."]},
                             error_type="TargetError",
                             reason="ERP answered 200 to POST /rpc with an error: The code must be unique.")


def test_an_error_the_rule_calls_transient_is_retried_whatever_its_status() -> None:
    body = {"error": ["ConcurrencyException", "Records were modified in the meanwhile"]}
    outcome = judge(RULES, Applied(status=200, body=body), system="ERP", call="POST /rpc")
    assert isinstance(outcome, Failed) and outcome.kind == "transient"
    assert outcome.reason == "ERP answered 200 to POST /rpc with an error worth retrying: Records were modified " \
                             "in the meanwhile"
    as_400 = judge(RULES, Failed(kind="permanent", status=400, answer=body, reason="400"), system="ERP", call="x")
    assert isinstance(as_400, Failed) and as_400.kind == "transient" and as_400.reason == "400"


def test_a_2xx_without_what_success_expects_is_permanent_and_a_good_one_is_applied() -> None:
    missing = judge(RULES, Applied(status=200, body={"id": 1}), system="ERP", call="POST /rpc")
    assert isinstance(missing, Failed) and missing.kind == "permanent"
    assert missing.reason == 'ERP answered 200 to POST /rpc without what its answers.success expects (result ' \
                             'present): {"id":1}'
    good = Applied(status=200, body={"result": 5, "error": None})
    assert judge(RULES, good, system="ERP", call="POST /rpc") is good
    refused_409 = Applied(status=409, body={"error": ["x", "y"]}, refused=True)
    assert judge(RULES, refused_409, system="ERP", call="POST /rpc") is refused_409


@pytest.mark.parametrize(("condition", "body", "expected"), [
    (Condition(path="ok", test="equals", value=False), {"ok": False}, True),
    (Condition(path="ok", test="equals", value=False), {"ok": True}, False),
    (Condition(path="result", test="absent"), {"result": None}, True),
    (Condition(path="faults.0.code", test="matches", value="^E4"), {"faults": [{"code": "E404"}]}, True),
    (Condition(path="faults.0.code", test="matches", value="^E4"), {"faults": []}, False),
])
def test_conditions(condition: Condition, body: Any, expected: bool) -> None:
    rules = AnswerRules(error=ErrorRule(when=(condition,)))
    assert isinstance(judge(rules, Applied(status=200, body=body), system="S", call="c"), Failed) is expected


class Scripted:
    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def attempt(self, command: SinkCommand) -> Attempt:
        self.calls += 1
        return self.answers.pop(0)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def describe(self) -> str:
        return "scripted"


def deliver(adapter: Scripted, refusals: tuple[str, ...] = ()) -> Delivered:
    route = HttpRoute(payload_type=COMMAND.payload_type, operation="update", method="POST", path="/rpc", body=None,
                      answers=RULES, refusals=refusals)
    config = TargetConfig(path=Path("erp.yaml"), system="erp", adapter="http", http=None, sql=None,
                          routes={(route.payload_type, route.operation): route})

    async def run() -> Delivered:
        deliverer = Deliverer(adapter=adapter, gate=TargetGate(CircuitBreaker(threshold=100, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        return await deliverer.deliver(COMMAND)

    return asyncio.run(run())


def test_the_deliverer_dead_letters_an_error_under_200_and_retries_a_transient_one_for_any_adapter() -> None:
    delivered = deliver(Scripted(Applied(status=200, body={"error": ["UserError", "Missing party"]})))
    assert isinstance(delivered.outcome, Failed) and delivered.outcome.kind == "permanent"
    assert delivered.attempts == 1 and delivered.outcome.reason.endswith("with an error: Missing party")
    busy = Applied(status=200, body={"error": ["ConcurrencyException", "busy"]})
    applied = Applied(status=200, body={"result": 7})
    delivered = deliver(Scripted(busy, busy, applied))
    assert delivered.outcome is applied and delivered.attempts == 3 and delivered.retries_after_transient == 2


def attempt(config: TargetConfig, answer: Any) -> tuple[Attempt, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)  # type: ignore[no-any-return]

    async def run() -> Attempt:
        adapter = HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(handle))
        try:
            return await adapter.attempt(COMMAND)
        finally:
            await adapter.close()

    return asyncio.run(run()), seen


def test_a_post_lookup_sends_its_body_and_the_answer_ids_are_read_from_deep_in_the_body(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, TARGET))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/accounts/search":
            return httpx.Response(200, json={"result": [{"id": 41, "code": "AC1"}], "error": None})
        return httpx.Response(200, json={"result": {"id": 41, "code": "AC1"}})

    outcome, seen = attempt(config, answer)
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/accounts/search"), ("PATCH", "/accounts/41")]
    assert json.loads(seen[0].content) == {"code": "AC1", "active": True} and "Idempotency-Key" not in seen[0].headers
    assert json.loads(seen[1].content) == {"name": "Acme"}
    assert isinstance(outcome, Applied) and outcome.ids == {"account_id": "41", "code": "AC1"}


def test_a_lookup_answered_with_an_error_under_200_carries_the_targets_message(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, TARGET))
    outcome, seen = attempt(config, lambda request: httpx.Response(
        200, json={"error": ["AccessError", "You are not allowed to read accounts"]}))
    assert len(seen) == 1 and isinstance(outcome, Failed) and outcome.kind == "permanent"
    assert outcome.error_type == "LookupFailed"
    assert "lookup account_id (POST /accounts/search) found nothing: ERP answered 200 to lookup account_id " \
           "(POST /accounts/search) with an error: You are not allowed to read accounts" in outcome.reason
    outcome, _ = attempt(config, lambda request: httpx.Response(200, json={"error": ["TimeoutError", "slow"]}))
    assert isinstance(outcome, Failed) and outcome.kind == "transient"



def test_answers_without_a_rule_are_refused_even_after_an_earlier_problem(tmp_path: Path) -> None:
    text = TARGET.replace("system: erp", "system: sap")
    start = text.index("    answers:")
    message = refused(write(tmp_path, text[:start] + "    answers: {}\n"))
    assert "erp.yaml:1: system: 'sap' is not a system" in message
    assert "erp.yaml:17: routes[0].answers: answers has no rule; fix: add error:" in message


def test_a_business_refusal_answered_under_200_is_a_refusal_when_the_route_declares_its_field() -> None:
    """A new user's ERP answered a blocked customer's order 200 {"error": [...], "field": "kunde_id"}: a business
    answer the orders flow holds on, not a dead letter, once the route's refusals name the field."""
    blocked = Applied(status=200, body={"error": ["UserError", "Kunde gesperrt"], "field": "kunde_id"})
    delivered = deliver(Scripted(blocked), refusals=("kunde_id",))
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.refused
    assert delivered.outcome.body["field"] == "kunde_id" and delivered.attempts == 1
    other = deliver(Scripted(blocked), refusals=("account_id",))
    assert isinstance(other.outcome, Failed) and other.outcome.kind == "permanent", "another field: dead-lettered"
