"""The JSON-RPC adapter's pure logic: params templates, the login state machine, error replies, the external-id
upsert decision and the target file's checks; its calls over httpx's in-memory transport (a fake Tryton that
only answers what these tests need). The real Tryton is exercised by test_sink_jsonrpc_integration.py."""

from __future__ import annotations

import asyncio
import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.jsonrpc import JsonRpcAdapter, LoginRefused, plugin
from streams.sinks.adapters.jsonrpc.config import Credential, JsonRpcOptions, JsonRpcRoute, LoginSpec, ObjectTemplate
from streams.sinks.adapters.jsonrpc.envelope import read_error, read_reply, request
from streams.sinks.adapters.jsonrpc.session import LoginFailed, Session, session_header
from streams.sinks.adapters.jsonrpc.templates import render
from streams.sinks.adapters.registry import default_registry
from streams.sinks.adapters.upsert import decide
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.config.model import Constant, FromField
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.environment import SinkEnvironment
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.gate import TargetGate
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand
from streams.sinks.runner import build_adapter

HERE = Path(__file__).resolve().parent
TRYTON = load_target(HERE / "tryton" / "targets" / "tryton.yaml", writable=["tryton"])
ENV = {"ISTHMUS_TRYTON_PASSWORD": "pw"}


def account(operation: str, code: str | None = "C1", name: str = "Acme") -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="tryton", operation=operation,
                       entity_type="t", entity_key="C1", payload_type="isthmus.canonical.Account",
                       payload={"account_code": code, "name": name, "email": None})


# the plugin


def test_jsonrpc_is_a_registered_plugin_whose_section_becomes_the_options() -> None:
    assert default_registry().get("jsonrpc") is plugin
    assert TRYTON.adapter == "jsonrpc" and isinstance(TRYTON.options, JsonRpcOptions)
    assert TRYTON.options.version == "1.0" and TRYTON.options.transient_errors == ("ConcurrencyException",)
    assert TRYTON.http is None and TRYTON.sql is None
    route = TRYTON.route("isthmus.canonical.Account", "create")
    assert isinstance(route, JsonRpcRoute) and route.line == 21
    assert route.ids == {"tryton_party_id": "$id"} and route.answers is None
    assert route.plan() == ("model.party.party.search by account_code, model.party.party.create if none, else "
                            "model.party.party.write")


def test_build_adapter_builds_it_through_the_registry_with_the_endpoint_from_the_environment() -> None:
    environment = SinkEnvironment.from_env({"ISTHMUS_SINK_BASE_URL": "http://tryton:8000/db/rpc/", **ENV})
    rpc = build_adapter(TRYTON, environment)
    try:
        assert isinstance(rpc, JsonRpcAdapter) and rpc.url == "http://tryton:8000/db/rpc/"  # Tryton needs the slash
    finally:
        asyncio.run(rpc.close())
    with pytest.raises(TargetConfigError, match=r"no URL for tryton's JSON-RPC endpoint; fix: set jsonrpc\.url"):
        build_adapter(TRYTON, SinkEnvironment.from_env(ENV))


# templates


def test_params_template_renders_nested_lists_and_objects_from_the_payload() -> None:
    route = TRYTON.route("isthmus.canonical.Account", "create")
    assert route is not None and route.external_id is not None
    payload = {"account_code": "C1", "name": "Acme"}
    assert render(route.params, payload) == [[{"name": "Acme", "code": "C1"}], {}]
    assert render(route.external_id.search.params, payload) == [
        [["code", "=", "C1"], ["active", "in", [True, False]]], 0, 2, None, {}]
    assert render(route.external_id.update.params, payload, {"$id": 7}) == [[7], {"name": "Acme"}, {}]


def test_a_null_is_left_out_of_an_object_but_keeps_its_place_in_a_list() -> None:
    template = ObjectTemplate(fields={"name": FromField(path="name"), "mail": FromField(path="email"),
                                      "kept": FromField(path="email", keep_null=True), "n": Constant(value=1)})
    assert render(template, {"name": "A", "email": None}) == {"name": "A", "kept": None, "n": 1}
    route = TRYTON.route("isthmus.canonical.Account", "create")
    assert route is not None
    assert render(route.params, {"account_code": None, "name": "A"}) == [[{"name": "A"}], {}]


# the login state machine


LOGIN = LoginSpec(method="common.db.login", params=Constant(value=[]), user=Credential(constant="admin"),
                  password=Credential(env="P"), scheme="Session", token="{$user}:{result.0}:{result.1}",
                  encode="base64")


def test_session_header_is_tryton_s_base64_of_user_id_and_session() -> None:
    header = session_header(LOGIN, "admin", [1, "abc", None])
    assert header == "Session " + base64.b64encode(b"admin:1:abc").decode()
    with pytest.raises(ValueError, match=r"result\.1"):
        session_header(LOGIN, "admin", [1])


def test_concurrent_calls_with_an_expired_session_log_in_once() -> None:
    answers = iter([[1, "first"], [1, "second"], [1, "third"]])

    async def login() -> Any:
        await asyncio.sleep(0.01)
        return next(answers)

    async def scenario() -> tuple[int, list[int], str]:
        session = Session(LOGIN, user="admin", login=login)
        seen = await asyncio.gather(*(session.current() for _ in range(5)))
        assert {generation for generation, _ in seen} == {1}
        await asyncio.gather(*(session.expired(1) for _ in range(5)))  # five calls refused with generation 1
        generation, header = await session.current()
        return session.logins, [generation], header["Authorization"]

    logins, generations, header = asyncio.run(scenario())
    assert logins == 2 and generations == [2]
    assert header == "Session " + base64.b64encode(b"admin:1:second").decode()


def test_a_refused_login_raises_and_leaves_no_session() -> None:
    async def login() -> Any:
        return Failed(kind="permanent", status=401, reason="refused")

    async def scenario() -> None:
        session = Session(LOGIN, user="admin", login=login)
        with pytest.raises(LoginFailed, match="refused"):
            await session.current()
        with pytest.raises(LoginFailed):
            await session.current()  # tries again, no stale header kept
        assert session.logins == 2

    asyncio.run(scenario())


# replies and errors


def test_requests_of_version_1_hold_only_id_method_and_params() -> None:
    assert set(request("1.0", 3, "m", [])) == {"id", "method", "params"}
    assert request("2.0", 3, "m", [])["jsonrpc"] == "2.0"


def test_an_error_under_http_200_is_a_permanent_failure_with_the_target_s_message() -> None:
    answer = {"id": 1, "error": ["UserError", ["The code on party must be unique.", "", None]]}
    failed = read_reply(answer, system="TRYTON", method="model.party.party.create", transient_names=())
    assert isinstance(failed, Failed) and failed.kind == "permanent" and failed.status == 200
    assert failed.reason == ("TRYTON answered model.party.party.create with an error: UserError: The code on "
                             "party must be unique.")
    assert read_reply({"id": 1, "result": [4]}, system="T", method="m", transient_names=()).result == [4]


def test_an_error_named_transient_is_retried() -> None:
    answer = {"id": 1, "error": ["ConcurrencyException", ["Records were modified in the meanwhile", ""]]}
    failed = read_reply(answer, system="T", method="m", transient_names=("ConcurrencyException",))
    assert isinstance(failed, Failed) and failed.kind == "transient"


def test_error_shapes_of_tryton_and_json_rpc_2() -> None:
    assert read_error(["'nme'", "Traceback ..."]).text() == "'nme'"
    error = read_error({"code": -32602, "message": "Invalid params", "data": {"message": "no field x"}})
    assert (error.name, error.message) == ("-32602", "Invalid params: no field x")
    unreadable = read_reply({"id": 1}, system="T", method="m", transient_names=())
    assert isinstance(unreadable, Failed) and "neither result nor error" in unreadable.reason


# the upsert decision


def test_upsert_decision_from_the_search_result() -> None:
    # The adapter reads its found path in {"result": <the search's result>}.
    assert decide({"result": []}, "result").action == "create"
    assert decide({"result": [5]}, "result").action == "update" and decide({"result": [5]}, "result").record_id == 5
    assert decide({"result": [{"id": 5, "code": "C1"}]}, "result").record_id == 5
    assert decide({"result": [5, 6]}, "result").action == "ambiguous"
    assert decide({"result": {"records": [9]}}, "result.records").record_id == 9


# the target file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_target_file_names_each_problem_of_a_jsonrpc_section(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        system: tryton
        adapter: jsonrpc
        jsonrpc:
          version: "1.0"
          batch: {max_items: 5}
          login: {method: common.db.login, params: [$user, {password: hunter2}], user: admin, password: s3cret}
        routes:
          - payload_type: Account
            operation: create
            method: model.party.party.create
            params: [[{name: nmae, code: $id}]]
            external_id: {field: account_code}
        """)
    with pytest.raises(TargetConfigError) as raised:
        load_target(path, writable=["tryton"])
    text = str(raised.value)
    for expected in ("t.yaml:5: jsonrpc.batch: JSON-RPC 1.0 has no batch arrays",
                     "jsonrpc.login.params[1].password: 'hunter2' is not a value the login can send",
                     "jsonrpc.login.password: a password must never be written in a target file",
                     "routes[0].params[0][0].name: the payload has no field 'nmae'",
                     "routes[0].params[0][0].code: $id is not a reference here",
                     "routes[0].external_id: external_id has no search"):
        assert expected in text, text


# the adapter over an in-memory transport


class FakeTryton:
    """Answers login, search, create and write like Tryton, and counts the parties by code."""

    def __init__(self) -> None:
        self.parties: dict[int, dict[str, Any]] = {}
        self.sessions = {"s1"}
        self.methods: list[str] = []
        self.expire_next = False
        self.lose_create_answer = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        method, params = body["method"], body["params"]
        self.methods.append(method)
        if method == "common.db.login":
            if params != ["admin", {"password": "pw"}]:
                return httpx.Response(401)
            session = f"s{len(self.methods)}"
            self.sessions.add(session)
            return httpx.Response(200, json={"id": body["id"], "result": [1, session, None]})
        _, _, session = base64.b64decode(request.headers["Authorization"].split()[1]).decode().split(":")
        if self.expire_next or session not in self.sessions:
            self.expire_next = False
            self.sessions.discard(session)
            return httpx.Response(401)
        if method == "model.party.party.search":
            code = params[0][0][2]
            return self._ok(body, [i for i, p in self.parties.items() if p["code"] == code])
        if method == "model.party.party.create":
            values = params[0][0]
            if any(p["code"] == values.get("code") for p in self.parties.values()):
                return self._ok(body, None, error=["UserError", ["The code on party must be unique.", "", None]])
            new = len(self.parties) + 1
            self.parties[new] = dict(values)
            if self.lose_create_answer:
                self.lose_create_answer = False
                raise httpx.ReadTimeout("lost", request=request)
            return self._ok(body, [new])
        if method == "model.party.party.write":
            for record in params[0]:
                self.parties[record].update(params[1])
            return self._ok(body, None)
        return httpx.Response(403)

    @staticmethod
    def _ok(body: dict[str, Any], result: Any, error: Any = None) -> httpx.Response:
        return httpx.Response(200, json={"id": body["id"], **({"error": error} if error else {"result": result})})


def adapter(fake: FakeTryton, env: dict[str, str] | None = None) -> JsonRpcAdapter:
    return JsonRpcAdapter(TRYTON, url="http://tryton/db/rpc/", timeout_s=5, max_connections=4,
                          env=ENV if env is None else env, transport=httpx.MockTransport(fake.handler))


def test_a_retry_after_a_lost_create_answer_finds_the_party_it_made() -> None:
    fake = FakeTryton()

    async def scenario() -> list[Any]:
        rpc = adapter(fake)
        await rpc.start()
        fake.lose_create_answer = True
        first = await rpc.attempt(account("create", name="Acme"))
        second = await rpc.attempt(account("create", name="Acme Ltd"))
        await rpc.close()
        return [first, second]

    first, second = asyncio.run(scenario())
    assert isinstance(first, Failed) and first.kind == "transient"
    assert isinstance(second, Applied) and second.ids == {"tryton_party_id": "1"}
    assert second.body["upsert"] == "found, updated"
    assert fake.parties == {1: {"name": "Acme Ltd", "code": "C1"}}


def test_a_create_that_loses_the_race_searches_again_and_updates() -> None:
    fake = FakeTryton()
    original = fake.handler

    def racing(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["method"] == "model.party.party.create" and not fake.parties:
            fake.parties[1] = {"name": "Other writer", "code": "C1"}  # created between our search and create
        return original(request)

    fake.handler = racing  # type: ignore[method-assign]

    async def scenario() -> Any:
        rpc = adapter(fake)
        outcome = await rpc.attempt(account("create"))
        await rpc.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Applied), outcome
    assert outcome.body["upsert"] == "found after a concurrent create, updated"
    assert fake.parties == {1: {"name": "Acme", "code": "C1"}}


def test_an_expired_session_logs_in_again_once_and_the_call_is_sent_again() -> None:
    fake = FakeTryton()

    async def scenario() -> Any:
        rpc = adapter(fake)
        await rpc.start()
        fake.expire_next = True
        outcome = await rpc.attempt(account("upsert"))
        await rpc.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Applied)
    assert fake.methods == ["common.db.login", "model.party.party.create", "common.db.login",
                            "model.party.party.create"]


def test_wrong_credentials_stop_the_worker_at_start() -> None:
    async def scenario() -> None:
        rpc = adapter(FakeTryton(), env={"ISTHMUS_TRYTON_PASSWORD": "wrong"})
        try:
            await rpc.start()
        finally:
            await rpc.close()

    with pytest.raises(LoginRefused, match="refused the login"):
        asyncio.run(scenario())


def test_a_command_without_its_external_id_is_dead_lettered() -> None:
    async def scenario() -> Any:
        rpc = adapter(FakeTryton())
        outcome = await rpc.attempt(account("create", code=None))
        await rpc.close()
        return outcome

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Failed) and outcome.error_type == "ExternalIdMissing"


def test_json_rpc_2_batch_arrays_carry_concurrent_calls_and_answer_each_by_id(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        system: shop
        adapter: jsonrpc
        jsonrpc: {version: "2.0", batch: {max_items: 10, linger_ms: 20}}
        routes:
          - {payload_type: Account, operation: upsert, method: party.save, params: {code: account_code},
             ids: {party: result.id}}
        """)
    config = load_target(path, writable=["shop"])
    arrays: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls = json.loads(request.content)
        assert isinstance(calls, list) and all(c["jsonrpc"] == "2.0" for c in calls)
        arrays.append(len(calls))
        replies = [{"jsonrpc": "2.0", "id": c["id"], "result": {"id": c["params"]["code"]}} for c in calls
                   if c["params"]["code"] != "bad"]
        replies += [{"jsonrpc": "2.0", "id": c["id"], "error": {"code": -32000, "message": "bad code"}}
                    for c in calls if c["params"]["code"] == "bad"]
        return httpx.Response(200, json=list(reversed(replies)))

    async def scenario() -> list[Any]:
        rpc = JsonRpcAdapter(config, url="http://shop/rpc", timeout_s=5, max_connections=4, env={},
                             transport=httpx.MockTransport(handler))
        outcomes = await asyncio.gather(*(rpc.attempt(account("upsert", code=c)) for c in ("A", "B", "bad")))
        await rpc.close()
        return list(outcomes)

    first, second, bad = asyncio.run(scenario())
    assert arrays == [3]
    assert isinstance(first, Applied) and first.ids == {"party": "A"}
    assert isinstance(second, Applied) and second.ids == {"party": "B"}
    assert isinstance(bad, Failed) and bad.kind == "permanent" and "-32000: bad code" in bad.reason


# the JSON-RPC error reply and the generic answers rules


RULED = """\
system: tryton
adapter: jsonrpc
jsonrpc: {version: "1.0"}
routes:
  - payload_type: Account
    operation: upsert
    method: model.party.party.create
    params: [[{name: name, code: account_code}], {}]
    ids: {tryton_party_id: result.0}
    answers:
      error:
        when: {path: result, absent: true}
        transient: {path: result, absent: true}
      success: result.0
"""


def ruled(tmp_path: Path, handler: Any) -> Delivered:
    config = load_target(write(tmp_path, RULED), writable=["tryton"])

    async def run() -> Delivered:
        rpc = JsonRpcAdapter(config, url="http://tryton/db/rpc/", timeout_s=5, max_connections=4, env={},
                             transport=httpx.MockTransport(handler))
        deliverer = Deliverer(adapter=rpc, gate=TargetGate(CircuitBreaker(threshold=100, reset_s=0.01)),
                              config=config, policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0),
                                                                transient_deadline_s=0.5))
        try:
            return await deliverer.deliver(account("upsert"))
        finally:
            await rpc.close()

    return asyncio.run(run())


def test_a_json_rpc_error_reply_is_judged_once_by_the_adapter_not_again_by_answers_rules(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": json.loads(request.content)["id"],
                                         "error": ["UserError", ["The code on party must be unique.", ""]]})

    delivered = ruled(tmp_path, handler)
    # The rule's transient condition holds for this reply too (it has no result), yet the adapter's reading stands.
    assert delivered.attempts == 1
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and outcome.error_type == "RpcError"
    assert outcome.reason == "TRYTON answered model.party.party.create with an error: UserError: The code on party " \
                             "must be unique."


def test_answers_rules_of_a_jsonrpc_route_read_its_result(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": json.loads(request.content)["id"], "result": []})

    delivered = ruled(tmp_path, handler)
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and outcome.error_type == "TargetError"
    assert "without what its answers.success expects (result.0 present)" in outcome.reason


def test_answers_rules_over_the_error_reply_are_refused_pointing_at_transient_errors(tmp_path: Path) -> None:
    text = RULED.replace("when: {path: result, absent: true}", "when: error").replace(
        "transient: {path: result, absent: true}", "message: error.1")
    with pytest.raises(TargetConfigError) as raised:
        load_target(write(tmp_path, text), writable=["tryton"])
    assert "t.yaml:11: routes[0].answers.error: a JSON-RPC error reply is read by the adapter itself" in \
        str(raised.value)
    assert "name retryable errors in jsonrpc.transient_errors" in str(raised.value)


def test_an_update_whose_search_finds_nothing_creates_and_is_counted_as_over_http(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = (HERE / "tryton" / "targets" / "tryton.yaml").read_text(encoding="utf-8")
    create = text.index("  - payload_type: Account\n    operation: create")
    route = text[create:text.index("\n\n", create)].replace("operation: create", "operation: update")
    config = load_target(write(tmp_path, f"{text}\n{route}\n"), writable=["tryton"])
    fake = FakeTryton()

    async def run() -> tuple[Delivered, int]:
        rpc = JsonRpcAdapter(config, url="http://tryton/db/rpc/", timeout_s=5, max_connections=4, env=ENV,
                             transport=httpx.MockTransport(fake.handler))
        deliverer = Deliverer(adapter=rpc, gate=TargetGate(CircuitBreaker(threshold=100, reset_s=0.01)),
                              config=config, policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        await rpc.start()
        try:
            return await deliverer.deliver(account("update")), deliverer.created_by_changes
        finally:
            await rpc.close()

    with caplog.at_level("WARNING", logger="isthmus.sink"):
        delivered, created = asyncio.run(run())
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.body["upsert"] == "created"
    assert created == 1 and fake.parties == {1: {"name": "Acme", "code": "C1"}}
    warned = [r.getMessage() for r in caplog.records if "created a new record for C1" in r.getMessage()]
    assert warned and "(model.party.party.search by account_code, model.party.party.create if none" in warned[0]
