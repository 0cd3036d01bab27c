"""Deleting what is not there: a deactivate (or cancel) whose record is already gone is applied as gone, never
dead-lettered and never created, when its route's ``gone`` rule reads the answer so (or an exact search found
none); a 404 that may be a wrong path stays a dead letter saying why. Loading (every problem with file, line and
fix), the classification (pure), and deliveries through the HTTP and JSON-RPC adapters and the deliverer against
in-memory fakes (httpx's MockTransport)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.jsonrpc.adapter import JsonRpcAdapter
from streams.sinks.adapters.sql import no_row
from streams.sinks.backoff import Backoff
from streams.sinks.breaker import CircuitBreaker
from streams.sinks.config import load_target
from streams.sinks.config.model import Condition, GoneRule, SqlRoute, TargetConfig
from streams.sinks.delivery import Delivered, Deliverer, RetryPolicy
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.gate import TargetGate
from streams.sinks.gone import as_gone, gone_text, unmet
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand, result_applied, result_gone, result_value

pytestmark = pytest.mark.unit

ACCOUNT = "isthmus.canonical.Account"
#: The fake's 404s name what they did not find, as the reference apps' do: the record, or the path.
BY_FIELD = "{status: [404, 410], when: {path: field, one_of: [account_id, crm_customer_number]}}"


def route(operation: str = "deactivate", *, path: str = "/accounts/{account_id}", gone: str | None = None,
          extra: str = "") -> str:
    return (f"  - payload_type: Account\n    operation: {operation}\n    method: DELETE\n    path: {path}\n"
            "    lookups:\n"
            '      account_id: {path: "/accounts/by-customer/{crm_customer_number}", take: account_id}\n'
            "    ids: [account_id]\n") + (f"    gone: {gone}\n" if gone is not None else "") + extra


def load(tmp_path: Path, *routes: str) -> TargetConfig:
    path = tmp_path / "erp.yaml"
    path.write_text("system: erp\nadapter: http\nroutes:\n" + "".join(routes), encoding="utf-8")
    return load_target(path)


def refused(tmp_path: Path, *routes: str) -> str:
    with pytest.raises(TargetConfigError) as caught:
        load(tmp_path, *routes)
    return str(caught.value)


# loading

@pytest.mark.parametrize(("gone", "line", "message"), [
    ("[429]", 11, "routes[0].gone: 429 never means a record is not there: 401, 403, 408, 425, 429 say the target is "
                 "busy or refuses Isthmus's credentials, and are retried; fix: remove 429 from gone"),
    ("[503]", 11, "routes[0].gone: [503] is not a status or list of statuses from 200 to 499; fix: write e.g. "
                 "gone: [404, 410]"),
    ("[200, 404]", 11, "routes[0].gone: gone takes every answer 200 for gone, successes included, so no "
                      "deactivation would ever be told from a missing record; fix: add when: the condition only "
                      "the target's answer for a missing record holds"),
    ("{}", 11, "routes[0].gone: gone has no rule; fix: give the statuses and/or the condition on the answer"),
    ("true", 11, "routes[0].gone: gone: true says nothing the default does not; fix: leave gone out for the "
                "default (410, and an exact search that finds none), write gone: false to dead-letter those"),
    ("{status: 404, whence: field}", 11, "routes[0].gone.whence: 'whence' is not a key of gone; fix: remove it, "
                                        "or use one of status, when"),
])
def test_a_wrong_gone_is_refused_with_file_line_and_fix(tmp_path: Path, gone: str, line: int, message: str) -> None:
    assert f"erp.yaml:{line}: {message}" in refused(tmp_path, route(gone=gone))


@pytest.mark.parametrize("operation", ["create", "update", "upsert"])
def test_gone_on_another_operation_is_refused(tmp_path: Path, operation: str) -> None:
    message = refused(tmp_path, route(operation, gone="[404]"))
    article = "an" if operation[0] in "aeiou" else "a"
    assert (f"erp.yaml:11: routes[0].gone: gone is for deactivate and cancel routes: {article}"
            f" {operation} whose record is not there did not do what it was sent for, and must fail visibly "
            "(dead-lettered with the target's answer); fix: remove gone from this route; declare it on the route's "
            "deactivate or cancel") in message


def test_gone_forms_and_the_default(tmp_path: Path) -> None:
    declared = load(tmp_path, route(gone=BY_FIELD), route("cancel", gone="404"))
    rule = declared.gone_rule(ACCOUNT, "deactivate")
    assert rule == GoneRule(statuses=(404, 410), when=(Condition(path="field", test="one_of",
                                                                 value=("account_id", "crm_customer_number")),),
                            declared=True, line=11)
    assert declared.gone_rule(ACCOUNT, "cancel") == GoneRule(statuses=(404,), declared=True, line=11 + 8)
    undeclared = load(tmp_path, route(), route("update"))
    assert undeclared.gone_rule(ACCOUNT, "deactivate") == GoneRule()
    assert undeclared.gone_rule(ACCOUNT, "deactivate").statuses == (410,)  # type: ignore[union-attr]
    assert undeclared.gone_rule(ACCOUNT, "update") is None
    assert load(tmp_path, route(gone="false")).gone_rule(ACCOUNT, "deactivate") is None
    only_when = load(tmp_path, route(gone="{when: {path: error, matches: not found}}"))
    assert only_when.gone_rule(ACCOUNT, "deactivate") == GoneRule(
        statuses=(), when=(Condition(path="error", test="matches", value="not found"),), declared=True, line=11)


# classification

def test_an_answer_is_gone_only_as_the_rule_reads_it() -> None:
    declared = GoneRule(statuses=(404, 410), when=(Condition(path="field", test="one_of", value=("account_id",)),))
    missing = Failed(kind="permanent", status=404, answer={"error": "no account", "field": "account_id"},
                     call="DELETE /accounts/7", reason="ERP answered 404 ...")
    wrong_path = Failed(kind="permanent", status=404, answer={"error": "no route", "field": "path"},
                        call="DELETE /acounts/7", reason="ERP answered 404 ...")
    assert gone_text(declared, missing, system="ERP", call="plan") == \
        'ERP answered 404 to DELETE /accounts/7: {"error":"no account","field":"account_id"}'
    assert gone_text(declared, wrong_path, system="ERP", call="plan") is None
    assert gone_text(GoneRule(), missing, system="ERP", call="plan") is None, "a bare 404 needs declaring"
    assert gone_text(GoneRule(), Failed(kind="permanent", status=410, call="DELETE /x", reason="r"), system="ERP",
                     call="plan") == "ERP answered 410 to DELETE /x: no body"
    assert gone_text(None, Failed(kind="permanent", status=410, reason="r"), system="ERP", call="plan") is None
    found_none = Failed(kind="permanent", reason="r", not_found="GET /x?code=A found no record of code 'A'")
    assert gone_text(GoneRule(), found_none, system="ERP", call="plan") == "GET /x?code=A found no record of code 'A'"
    # a rule of conditions only: any answer but a busy target's, the success that says "not found" under 200 too
    said = GoneRule(statuses=(), when=(Condition(path="error", test="matches", value="not found"),))
    assert gone_text(said, Applied(status=200, body={"error": "record not found"}, call="POST /rpc"),
                     system="ERP", call="plan") == 'ERP answered 200 to POST /rpc: {"error":"record not found"}'
    assert gone_text(said, Applied(status=200, body={"ok": True}), system="ERP", call="plan") is None
    assert gone_text(said, Failed(kind="transient", status=503, answer={"error": "not found"}, reason="r"),
                     system="ERP", call="plan") is None
    assert gone_text(said, Applied(status=409, body={"error": "not found"}, refused=True), system="ERP",
                     call="plan") is None


def test_a_gone_result_keeps_the_answer_and_says_so() -> None:
    failed = Failed(kind="permanent", status=404, answer={"error": "no account"}, call="DELETE /accounts/7",
                    reason="r")
    applied = as_gone(failed, "why")
    assert (applied.status, applied.gone, applied.call) == (404, "why", "DELETE /accounts/7")
    assert applied.body == {"error": "no account", "$gone": "why"} and applied.ids == {}
    assert as_gone(Failed(kind="permanent", reason="r", not_found="none"), "none").status == 404
    assert as_gone(Failed(kind="permanent", status=200, answer=["x"], reason="r"), "w").body == {
        "answer": ["x"], "$gone": "w"}
    command = SinkCommand(command_id="c", idempotency_key="k", target="erp", operation="deactivate",
                          entity_type="t", entity_key="C-1", payload_type=ACCOUNT, payload={})
    result = result_value(command, applied, attempts=1)
    assert result_gone(result) == "why" and not result_applied(result)
    assert result_gone({"response": json.dumps({"ok": 1})}) is None and result_gone({"response": None}) is None
    assert result_applied({"status": 200, "response": json.dumps({"account_id": 7})})


def test_a_dead_letter_that_may_be_gone_says_why_it_was_not_taken() -> None:
    failed = Failed(kind="permanent", status=404, answer={"field": "path"}, reason="ERP answered 404 to DELETE /x")
    declared = GoneRule(statuses=(404,), when=(Condition(path="field", test="equals", value="account_id"),))
    assert unmet(declared, failed, where="erp.yaml:9", system="ERP").reason == (
        "ERP answered 404 to DELETE /x; not taken for gone: the route's gone (erp.yaml:9) takes 404 only where field "
        "equals 'account_id', which this answer does not hold (a wrong path in the target file, or another record "
        "missing?)")
    assert unmet(GoneRule(), failed, where="erp.yaml:9", system="ERP").reason.startswith(
        "ERP answered 404 to DELETE /x; if ERP answers 404 when the record is already gone (the state this command "
        "asks for), say so on the route (erp.yaml:9): gone: [404, 410], best with when:")
    assert unmet(None, failed, where="erp.yaml:9", system="ERP") is failed
    assert unmet(GoneRule(), Failed(kind="permanent", status=422, reason="r"), where="w", system="ERP").reason == "r"


def test_a_sql_row_that_is_not_there_says_so() -> None:
    sql = SqlRoute(payload_type=ACCOUNT, operation="deactivate", action="delete", table="accounts",
                   key=("account_code",), columns={})
    failed = no_row(sql, {"account_code": "A1"})
    assert failed.not_found == "accounts has no row account_code='A1' to delete"
    assert failed.error_type == "NoRow" and "action: upsert" not in failed.reason


# deliveries

class FakeErp:
    """Accounts by id (``DELETE /accounts/{id}``), by CRM customer number (``GET /accounts/by-customer/{n}``) and
    by search (``GET /accounts?crm_customer_number=``, ``POST /accounts`` creates); a 404 names what it did not
    find (``field``): the record's field, or ``path`` for a path it does not serve."""

    def __init__(self, accounts: dict[int, str]) -> None:
        self.accounts = dict(accounts)  # account_id -> crm_customer_number
        self.calls: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if match := re.fullmatch(r"/accounts/by-customer/(.+)", path):
            found = [i for i, n in self.accounts.items() if n == match[1]]
            if not found:
                return httpx.Response(404, json={"error": f"no account of {match[1]}", "field": "crm_customer_number"})
            return httpx.Response(200, json={"account_id": found[0]})
        if match := re.fullmatch(r"/accounts/(\d+)", path):
            if request.method != "DELETE":
                return httpx.Response(405)
            if int(match[1]) not in self.accounts:
                return httpx.Response(404, json={"error": f"no account {match[1]}", "field": "account_id"})
            return httpx.Response(200, json={"account_id": int(match[1]), "active": False})
        if path == "/accounts" and request.method == "GET":
            number = request.url.params.get("crm_customer_number")
            return httpx.Response(200, json={"items": [{"account_id": i, "crm_customer_number": n}
                                                       for i, n in self.accounts.items() if n == number]})
        if path == "/accounts" and request.method == "POST":
            return httpx.Response(201, json={"account_id": 99})
        return httpx.Response(404, json={"error": f"no route {request.method} {path}", "field": "path"})


def account(number: str = "C-000001", account_id: int | None = None, operation: str = "deactivate") -> SinkCommand:
    return SinkCommand(command_id=f"cmd-{number}", idempotency_key=f"key-{number}", target="erp",
                       operation=operation, entity_type="t", entity_key=number, payload_type=ACCOUNT,
                       payload={"account_id": account_id, "account_code": "A" + number[2:],
                                "crm_customer_number": number, "name": "Ann"})


def deliver(config: TargetConfig, handler: Any, *commands: SinkCommand,
            adapter: str = "http") -> tuple[list[Delivered], Deliverer]:
    async def run() -> tuple[list[Delivered], Deliverer]:
        transport = httpx.MockTransport(handler)
        made: Any = (HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                                 transport=transport) if adapter == "http" else
                     JsonRpcAdapter(config, url="http://rpc.test/", timeout_s=5, max_connections=2, env={},
                                    transport=transport))
        deliverer = Deliverer(adapter=made, gate=TargetGate(CircuitBreaker(threshold=2, reset_s=0.01)),
                              config=config, rng=random.Random(1),
                              policy=RetryPolicy(backoff=Backoff(base=0.001, maximum=0.005, jitter=0)))
        try:
            return [await deliverer.deliver(c) for c in commands], deliverer
        finally:
            await made.close()

    return asyncio.run(run())


def test_a_deactivate_whose_record_is_gone_is_applied_as_gone_said_once_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    erp = FakeErp({7: "C-000007"})
    with caplog.at_level(logging.DEBUG, logger="isthmus.sink"):
        (by_lookup, by_id, there), deliverer = deliver(
            load(tmp_path, route(gone=BY_FIELD)), erp.handler, account("C-000001"), account("C-000002", 8),
            account("C-000007"))
    for delivered in (by_lookup, by_id):
        assert isinstance(delivered.outcome, Applied) and delivered.outcome.gone and delivered.attempts == 1
        assert delivered.outcome.status == 404 and delivered.outcome.ids == {}
    assert by_lookup.outcome.gone == ('ERP answered 404 to lookup account_id (GET /accounts/by-customer/C-000001): '
                                      '{"error":"no account of C-000001","field":"crm_customer_number"}')
    assert isinstance(by_id.outcome, Applied) and by_id.outcome.body["$gone"] == \
        'ERP answered 404 to DELETE /accounts/8: {"error":"no account 8","field":"account_id"}'
    assert isinstance(there.outcome, Applied) and not there.outcome.gone and there.outcome.status == 200
    assert deliverer.gone == {("Account", "deactivate"): 2}
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["sink erp: route Account deactivate (erp.yaml:4) found the record of C-000001 already gone, "
                     "the state the command asks for: " + by_lookup.outcome.gone + ". Applied as gone, nothing "
                     "written (its CommandResult's answer says so at $gone; counted in isthmus_sink_gone_total; said "
                     "once per route, each later one at DEBUG)"], infos


def test_a_404_for_a_wrong_path_stays_a_dead_letter_saying_why(tmp_path: Path) -> None:
    erp = FakeErp({7: "C-000007"})
    (declared,), _ = deliver(load(tmp_path, route(gone=BY_FIELD, path="/acounts/{account_id}")), erp.handler,
                             account("C-000007"))
    assert isinstance(declared.outcome, Failed) and declared.outcome.error_type == "Http404"
    assert "not taken for gone: the route's gone (erp.yaml:4) takes 404 only where field one_of ('account_id', " \
           "'crm_customer_number'), which this answer does not hold" in declared.outcome.reason
    (undeclared,), deliverer = deliver(load(tmp_path, route()), erp.handler, account("C-000001"))
    assert isinstance(undeclared.outcome, Failed) and undeclared.outcome.error_type == "LookupFailed"
    assert "say so on the route (erp.yaml:4): gone: [404, 410]" in undeclared.outcome.reason
    assert deliverer.gone == {}
    (off,), _ = deliver(load(tmp_path, route(gone="false")), erp.handler, account("C-000002", 8))
    assert isinstance(off.outcome, Failed) and "gone" not in off.outcome.reason


EXTERNAL = """\
    external_id:
      field: crm_customer_number
      search: {path: "/accounts?crm_customer_number={crm_customer_number}", found_id: items.*.account_id}
      update: {method: DELETE, path: "/accounts/{$id}"}
"""


def external_route(operation: str, gone: str | None = None) -> str:
    text = (f"  - payload_type: Account\n    operation: {operation}\n    method: POST\n    path: /accounts\n"
            "    body: {crm_customer_number: crm_customer_number, name: name}\n" + EXTERNAL)
    return text + (f"    gone: {gone}\n" if gone is not None else "")


def test_an_external_id_deactivate_whose_search_finds_none_never_creates(tmp_path: Path) -> None:
    erp = FakeErp({7: "C-000007"})
    (missing, there), deliverer = deliver(load(tmp_path, external_route("deactivate")), erp.handler,
                                          account("C-000001"), account("C-000007"))
    assert isinstance(missing.outcome, Applied) and missing.outcome.gone == (
        "GET /accounts?crm_customer_number={crm_customer_number} found no record of crm_customer_number 'C-000001'")
    assert isinstance(there.outcome, Applied) and there.outcome.body["upsert"] == "found, updated"
    assert "POST /accounts" not in erp.calls, "a deactivate never creates"
    assert deliverer.created_by_changes == 0 and deliverer.gone == {("Account", "deactivate"): 1}
    (off,), _ = deliver(load(tmp_path, external_route("deactivate", "false")), erp.handler, account("C-000001"))
    assert isinstance(off.outcome, Failed) and off.outcome.error_type == "ExternalIdNotFound"
    assert "POST /accounts" not in erp.calls
    (update,), _ = deliver(load(tmp_path, external_route("update")), erp.handler,
                           account("C-000001", operation="update"))
    assert isinstance(update.outcome, Applied) and update.outcome.body["upsert"] == "created" and not \
        update.outcome.gone, "an update still creates (warned and counted as before)"


def test_a_lookup_match_that_finds_none_is_gone_unless_more_pages_may_hold_it(tmp_path: Path) -> None:
    text = route(extra="").replace(
        'account_id: {path: "/accounts/by-customer/{crm_customer_number}", take: account_id}',
        'account_id: {path: "/accounts?crm_customer_number={crm_customer_number}", take: items.*.account_id, '
        "match: {crm_customer_number: crm_customer_number}}")
    config = load(tmp_path, text)
    erp = FakeErp({7: "C-000007"})
    (gone,), _ = deliver(config, erp.handler, account("C-000001"))
    assert isinstance(gone.outcome, Applied) and gone.outcome.gone.startswith(
        "lookup account_id (GET /accounts?crm_customer_number=C-000001) found no record with crm_customer_number")

    def paged(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [{"account_id": 3, "crm_customer_number": "C-000003"}],
                                         "next": "/accounts?page=2"})

    (more,), _ = deliver(config, paged, account("C-000001"))
    assert isinstance(more.outcome, Failed) and more.outcome.error_type == "LookupNotFound"


TRYTON = """\
system: erp
adapter: jsonrpc
jsonrpc: {url: "http://rpc.test/", version: "1.0"}
routes:
  - payload_type: Account
    operation: deactivate
    method: model.party.party.write
    params: [[account_id], {active: {value: false}}, {}]
    gone: {when: {path: error.1.0, matches: "that don't exist"}}
"""


def test_a_json_rpc_error_that_says_the_record_is_gone_is_applied_as_gone(tmp_path: Path) -> None:
    path = tmp_path / "erp.yaml"
    path.write_text(TRYTON, encoding="utf-8")
    config = load_target(path)

    def tryton(request: httpx.Request) -> httpx.Response:
        party = json.loads(request.content)["params"][0][0]
        if party == 12:
            return httpx.Response(200, json={"id": 1, "error": [
                "AccessError", ['You are trying to write to records "12" of "Party" that don\'t exist.', ""]]})
        if party == 13:
            return httpx.Response(200, json={"id": 1, "error": ["UserError", ["The party is locked.", ""]]})
        return httpx.Response(200, json={"id": 1, "result": None})

    (gone, locked, written), deliverer = deliver(config, tryton, account("C-000012", 12), account("C-000013", 13),
                                                 account("C-000014", 14), adapter="jsonrpc")
    assert isinstance(gone.outcome, Applied) and gone.outcome.gone == (
        'ERP answered model.party.party.write with an error: AccessError: You are trying to write to records "12" of '
        "\"Party\" that don't exist.")
    assert isinstance(locked.outcome, Failed) and locked.outcome.error_type == "RpcError"
    assert isinstance(written.outcome, Applied) and not written.outcome.gone
    assert deliverer.gone == {("Account", "deactivate"): 1}
