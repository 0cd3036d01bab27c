"""External-id upsert on HTTP routes: the shared decision (``streams.sinks.adapters.upsert``), the route's
``external_id`` checks at load, and the adapter's calls over httpx's in-memory transport (a fake ERP that keeps
accounts by customer number and answers a second create 409). The real reference ERP is exercised by
test_sink_http_upsert_integration.py."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.adapters.upsert import Created, Decision, Searched, decide, found_ids, upsert
from streams.sinks.config import load_target
from streams.sinks.config.model import HttpExternalId, HttpRoute
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

HERE = Path(__file__).resolve().parent
UPSERT = load_target(HERE / "upsert" / "erp.yaml")


def account(number: str | None = "C-000001", name: str = "Acme") -> SinkCommand:
    payload = {"account_id": None, "account_code": "AC1", "crm_customer_number": number, "name": name,
               "email": None, "billing_address": {"line1": "1 Road", "city": "Shanghai", "postal_code": None,
                                                  "country": "CN"}, "payment_terms": "NET30"}
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="create",
                       entity_type="t", entity_key=str(number), payload_type="isthmus.canonical.Account",
                       payload=payload)


# the decision


def test_found_ids_read_every_item_of_a_list_where_the_path_says_star() -> None:
    page = {"items": [{"account_id": 7, "name": "A"}], "next_after": None}
    assert found_ids(page, "items.*.account_id") == (7,)
    assert found_ids({"items": []}, "items.*.account_id") == ()
    assert found_ids({"hits": {"ids": [3, 4]}}, "hits.ids") == (3, 4)
    assert found_ids({"account_id": 9}, "account_id") == (9,)
    assert found_ids({"items": [{"id": 2}]}, "items") == (2,)
    assert found_ids({}, "items.*.account_id") == ()
    assert decide(page, "items.*.account_id") == Decision(action="update", record_id=7, found=(7,))
    assert decide({"items": [{"account_id": 7}, {"account_id": 8}]}, "items.*.account_id").action == "ambiguous"


class Scripted:
    """UpsertCalls that answer from lists, recording the calls made."""

    def __init__(self, searches: list[Any], create: Any, found_id: str = "ids") -> None:
        self.searches, self.create_answer, self.made, self.found_id = searches, create, [], found_id

    async def search(self) -> Searched | Failed:
        self.made.append("search")
        found = self.searches.pop(0)
        return found if isinstance(found, Failed) else Searched(decision=decide(found, self.found_id), answer=found)

    async def create(self) -> Created | Failed:
        self.made.append("create")
        return self.create_answer  # type: ignore[no-any-return]

    async def update(self, record_id: Any) -> Any:
        self.made.append(f"update {record_id}")
        return {"updated": record_id}

    def is_duplicate(self, failed: Failed) -> bool:
        return failed.status == 409


def run_upsert(calls: Scripted, *, value: Any = "C1", updates: bool = True) -> Any:
    return asyncio.run(upsert(calls, system="ERP", field="code", value=value, call="POST /x", search_call="GET /x",
                              updates=updates))


def test_the_upsert_protocol_decides_every_step_from_the_answers() -> None:
    lost = Failed(kind="conflict", status=409, reason="taken")
    made = Scripted([{"ids": []}], Created(answer={"id": 1}, record_id=1))
    assert run_upsert(made).action == "created" and made.made == ["search", "create"]

    found = Scripted([{"ids": [4]}], None)
    done = run_upsert(found)
    assert (done.action, done.record_id, done.answer) == ("found, updated", 4, {"updated": 4})
    assert found.made == ["search", "update 4"]
    assert run_upsert(Scripted([{"ids": [4]}], None), updates=False).action == "found"

    raced = Scripted([{"ids": []}, {"ids": [5]}], lost)
    assert run_upsert(raced).action == "found after a concurrent create, updated"
    assert raced.made == ["search", "create", "search", "update 5"]

    # A 409 that is not about this id (the second search finds none) is the create's own failure.
    own = run_upsert(Scripted([{"ids": []}, {"ids": []}], lost))
    assert isinstance(own, Failed) and (own.kind, own.status) == ("conflict", 409)
    assert own.reason.startswith("taken (and GET /x finds no record of code 'C1'") and "found_id" in own.reason

    # A found_id that reads a list by a name would find nothing in every answer, and create duplicates.
    misread = Scripted([{"ids": [{"id": 7}]}], None, found_id="ids.id")
    misread_failed = run_upsert(misread)
    assert isinstance(misread_failed, Failed) and misread_failed.error_type == "FoundIdMisread"
    assert "ids is a list of 1, which the path ids.id reads by the name 'id'; write ids.*.id" in misread_failed.reason
    assert misread.made == ["search"]
    other = Failed(kind="permanent", status=422, reason="bad")
    assert run_upsert(Scripted([{"ids": []}], other)) is other

    twice = run_upsert(Scripted([{"ids": [1, 2]}], None))
    assert isinstance(twice, Failed) and twice.error_type == "ExternalIdAmbiguous" and "[1, 2]" in twice.reason
    missing = Scripted([], None)
    assert run_upsert(missing, value="").error_type == "ExternalIdMissing" and missing.made == []


# the target file


def write(tmp_path: Path, route: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text("system: erp\nadapter: http\nroutes:\n" + textwrap.indent(textwrap.dedent(route), "  "),
                    encoding="utf-8")
    return path


def test_an_external_id_route_loads_with_its_search_update_and_duplicate_rule() -> None:
    route = UPSERT.route("isthmus.canonical.Account", "create")
    assert isinstance(route, HttpRoute) and isinstance(route.external_id, HttpExternalId)
    spec = route.external_id
    assert spec.field == "crm_customer_number" and spec.search.method == "GET"
    assert spec.search.found_id == "items.*.account_id" and spec.update is not None
    assert spec.duplicate is not None and spec.duplicate.statuses == (409,)
    assert route.plan() == ("GET /accounts?crm_customer_number={crm_customer_number} by crm_customer_number, "
                            "POST /accounts if none, else PATCH /accounts/{$id}")


def test_a_deactivate_route_s_plan_says_a_record_not_found_is_gone(tmp_path: Path) -> None:
    """A deactivate never creates: its plan (`isthmus sink --check`) said "POST /invoices if none"."""
    path = write(tmp_path, """\
        - payload_type: Account
          operation: deactivate
          method: POST
          path: /invoices
          external_id:
            field: account_code
            search: {path: "/invoices?number={account_code}", found_id: "items.*.id", match: number}
            update: {method: POST, path: "/invoices/{$id}/void"}
        """)
    route = load_target(path).route("isthmus.canonical.Account", "deactivate")
    assert isinstance(route, HttpRoute)
    assert route.plan() == ("GET /invoices?number={account_code} by account_code, gone if none, "
                            "else POST /invoices/{$id}/void")


def test_each_problem_of_an_external_id_is_named_with_its_line_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        - payload_type: Account
          operation: create
          method: POST
          path: /accounts
          body: {name: name}
          batch: {method: POST, path: /accounts/batch}
          external_id:
            field: crm_customer_numbr
            search:
              path: /accounts/{$id}
              body: {name: name}
              found_id: items..id
              not_found: 200
            update:
              path: /accounts/{$id}
              body: {name: nmae}
            duplicate: {}
        - payload_type: Account
          operation: update
          method: PATCH
          path: /accounts/x
          external_id: {field: name}
        """)
    with pytest.raises(TargetConfigError) as raised:
        load_target(path)
    text = str(raised.value)
    for expected in ("erp.yaml:11: routes[0].external_id.field: the payload has no field 'crm_customer_numbr'",
                     "erp.yaml:13: routes[0].external_id.search.path: the payload has no field '$id'",
                     "erp.yaml:14: routes[0].external_id.search.body: a GET sends no body",
                     "routes[0].external_id.search.found_id: 'items..id' is not a valid found_id",
                     "routes[0].external_id.search.not_found: 200 is not a status",
                     "routes[0].external_id.update.method: method is missing",
                     "routes[0].external_id.update.body.name: the payload has no field 'nmae'",
                     "routes[0].external_id.duplicate: duplicate has no rule",
                     "routes[0].batch: a route with external_id searches before each create, so it cannot batch",
                     "routes[1].external_id: external_id has no search"):
        assert expected in text, text
    assert "routes[0].external_id.update.path" not in text, "the update may read $id"


# the adapter over a fake ERP


class FakeErp:
    """Accounts by customer number: GET /accounts?crm_customer_number=, POST /accounts (409 naming the field for
    a number it has), PATCH /accounts/{id}."""

    def __init__(self) -> None:
        self.accounts: dict[int, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.lose_create_answer = False
        self.before_create: Any = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            number = request.url.params["crm_customer_number"]
            items = [{"account_id": i, **a} for i, a in self.accounts.items() if a["crm_customer_number"] == number]
            return httpx.Response(200, json={"items": items, "next_after": None})
        body = json.loads(request.content)
        if request.method == "POST":
            if self.before_create is not None:
                self.before_create()
            if any(a["crm_customer_number"] == body["crm_customer_number"] for a in self.accounts.values()):
                return httpx.Response(409, json={"error": "taken", "field": "crm_customer_number", "fix": "patch"})
            new = len(self.accounts) + 1
            self.accounts[new] = dict(body)
            if self.lose_create_answer:
                self.lose_create_answer = False
                raise httpx.ReadTimeout("lost", request=request)
            return httpx.Response(201, json={"account_id": new, **body})
        account_id = int(request.url.path.rsplit("/", 1)[1])
        self.accounts[account_id].update(body)
        return httpx.Response(200, json={"account_id": account_id, **self.accounts[account_id]})


def test_body_payload_is_offered_only_where_it_is_taken(tmp_path: Path) -> None:
    # an update's body: payload was refused with a fix that said to write exactly that
    path = write(tmp_path, """\
        - payload_type: Account
          operation: create
          method: POST
          path: /accounts
          body: [name]
          external_id:
            field: crm_customer_number
            search: {path: "/accounts?crm_customer_number={crm_customer_number}", found_id: items.*.account_id}
            update: {method: PATCH, path: "/accounts/{$id}", body: payload}
        """)
    with pytest.raises(TargetConfigError) as raised:
        load_target(path)
    problems = {line.split(": ", 2)[1]: line for line in str(raised.value).splitlines() if ": routes[0]" in line}
    assert "or body: payload" in problems["routes[0].body"]
    update = problems["routes[0].external_id.update.body"]
    assert "must be a mapping of request field to payload field" in update and "body: payload" not in update


def attempts(fake: FakeErp, *commands: SinkCommand) -> list[Attempt]:
    async def run() -> list[Attempt]:
        adapter = HttpAdapter(UPSERT, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(fake.handler))
        try:
            return [await adapter.attempt(c) for c in commands]
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_a_retry_after_a_lost_create_answer_finds_the_account_it_made_and_sends_no_idempotency_key() -> None:
    fake = FakeErp()
    fake.lose_create_answer = True
    first, second = attempts(fake, account(name="Acme"), account(name="Acme Ltd"))
    assert isinstance(first, Failed) and first.kind == "transient"
    assert isinstance(second, Applied), second
    assert second.body["upsert"] == "found, updated" and second.ids == {"account_id": "1", "account_code": "AC1"}
    assert [a["name"] for a in fake.accounts.values()] == ["Acme Ltd"]
    assert [f"{r.method} {r.url.path}" for r in fake.requests] == [
        "GET /accounts", "POST /accounts", "GET /accounts", "PATCH /accounts/1"]
    assert all("idempotency-key" not in r.headers for r in fake.requests)


def test_a_create_answers_with_the_new_id_and_a_lost_race_searches_again_and_updates() -> None:
    fake = FakeErp()
    created, = attempts(fake, account("C-000002"))
    assert isinstance(created, Applied) and created.status == 201
    assert created.body["upsert"] == "created" and created.body["$id"] == 1 and created.ids["account_id"] == "1"

    def other_writer() -> None:  # between our search and our create
        if not any(a["crm_customer_number"] == "C-000001" for a in fake.accounts.values()):
            fake.accounts[2] = {"crm_customer_number": "C-000001", "name": "Other writer"}

    fake.before_create = other_writer
    raced, = attempts(fake, account("C-000001"))
    assert isinstance(raced, Applied), raced
    assert raced.body["upsert"] == "found after a concurrent create, updated" and raced.ids["account_id"] == "2"
    assert len(fake.accounts) == 2 and fake.accounts[2]["name"] == "Acme"


def test_a_conflict_the_duplicate_rule_does_not_name_stays_the_create_s_failure(tmp_path: Path) -> None:
    text = (HERE / "upsert" / "erp.yaml").read_text().replace("one_of: [crm_customer_number, account_code]",
                                                              "equals: account_code")
    path = tmp_path / "erp.yaml"
    path.write_text(text)
    config = load_target(path)
    fake = FakeErp()
    fake.before_create = lambda: fake.accounts.setdefault(9, {"crm_customer_number": "C-000001", "name": "x"})

    async def run() -> Attempt:
        adapter = HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(fake.handler))
        try:
            return await adapter.attempt(account())
        finally:
            await adapter.close()

    outcome = asyncio.run(run())
    assert isinstance(outcome, Failed) and outcome.status == 409
    assert [r.method for r in fake.requests] == ["GET", "POST"]


def test_a_search_status_named_not_found_means_none(tmp_path: Path) -> None:
    text = (HERE / "upsert" / "erp.yaml").read_text().replace(
        "path: /accounts?crm_customer_number={crm_customer_number}\n        found_id: items.*.account_id",
        "path: /accounts/by-customer/{crm_customer_number}\n        found_id: account_id\n        not_found: [404]")
    path = tmp_path / "erp.yaml"
    path.write_text(text)
    config = load_target(path)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "GET":
            return httpx.Response(404, json={"error": "no account", "field": "crm_customer_number"})
        return httpx.Response(201, json={"account_id": 3, "account_code": "AC1"})

    async def run() -> Attempt:
        adapter = HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(handler))
        try:
            return await adapter.attempt(account())
        finally:
            await adapter.close()

    outcome = asyncio.run(run())
    assert isinstance(outcome, Applied) and outcome.body["upsert"] == "created", outcome
    assert seen == ["GET /accounts/by-customer/C-000001", "POST /accounts"]


def test_an_error_under_200_names_the_call_that_failed_not_the_route_s_plan(tmp_path: Path) -> None:
    """A target answering 200 {"ok": false, "error": ...}: the create's and the update's refusals each name their
    own call, with the target's words."""
    text = (HERE / "upsert" / "erp.yaml").read_text() + (
        "    answers:\n      error: {when: {path: ok, equals: false}, message: error}\n")
    path = tmp_path / "erp.yaml"
    path.write_text(text)
    config = load_target(path)
    have: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            number = request.url.params["crm_customer_number"]
            return httpx.Response(200, json={"ok": True, "items": [{"account_id": have[number],
                                                                     "crm_customer_number": number}]
                                             if number in have else []})
        return httpx.Response(200, json={"ok": False, "error": f"name too long ({request.method})"})

    async def run(command: SinkCommand) -> Attempt:
        adapter = HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(handler))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    created = asyncio.run(run(account("C-000001", name="x" * 60)))
    assert isinstance(created, Failed) and created.kind == "permanent"
    assert created.reason == "ERP answered 200 to POST /accounts with an error: name too long (POST)"
    have["C-000002"] = 7
    updated = asyncio.run(run(account("C-000002", name="x" * 60)))
    assert isinstance(updated, Failed) and updated.kind == "permanent"
    assert updated.reason == "ERP answered 200 to PATCH /accounts/7 with an error: name too long (PATCH)"


def test_a_create_answered_success_without_the_new_id_is_no_success() -> None:
    """A target that answers an error under 200 (`{"ok": false, ...}`) and makes nothing, on a route with no
    `answers` rule: the create's answer has no id at created_id, so it is dead-lettered saying why and what to do,
    never counted applied (it was: the record was never made, and nothing said so but a warning about ids)."""
    fake = FakeErp()
    refusing = fake.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            fake.requests.append(request)
            return httpx.Response(200, json={"ok": False, "error": "backend unavailable, try later"})
        return refusing(request)

    async def run() -> Attempt:
        adapter = HttpAdapter(UPSERT, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(handler))
        try:
            return await adapter.attempt(account("C-000003"))
        finally:
            await adapter.close()

    outcome = asyncio.run(run())
    assert isinstance(outcome, Failed), outcome
    assert (outcome.kind, outcome.error_type, outcome.status) == ("permanent", "CreatedIdMissing", 200)
    assert outcome.reason.startswith("ERP answered 200 to POST /accounts without the new record's id at account_id "
                                     "(created_id of route Account create, ")
    assert "top-level keys: ok, error" in outcome.reason
    assert "answers.error" in outcome.reason and "isthmus topics dlq replay" in outcome.reason
    assert fake.accounts == {}


class LaggingErp(FakeErp):
    """A FakeErp whose search shows an account only ``lag`` seconds after it was made (an eventually consistent
    search index), whose first create is applied and then answered 500, and which refuses a second account of
    a customer number (409) only when ``unique``."""

    def __init__(self, lag: float, *, unique: bool) -> None:
        super().__init__()
        self.lag, self.unique, self.made_at, self.fail_first_create = lag, unique, {}, True

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            number = request.url.params["crm_customer_number"]
            now = time.monotonic()
            items = [{"account_id": i, **a} for i, a in self.accounts.items()
                     if a["crm_customer_number"] == number and now - self.made_at[i] >= self.lag]
            return httpx.Response(200, json={"items": items, "next_after": None})
        body = json.loads(request.content)
        if request.method == "POST":
            if self.unique and any(a["crm_customer_number"] == body["crm_customer_number"]
                                   for a in self.accounts.values()):
                return httpx.Response(409, json={"error": "taken", "field": "crm_customer_number"})
            new = len(self.accounts) + 1
            self.accounts[new], self.made_at[new] = dict(body), time.monotonic()
            if self.fail_first_create:
                self.fail_first_create = False
                return httpx.Response(500, json={"error": "internal server error"})
            return httpx.Response(201, json={"account_id": new, **body})
        account_id = int(request.url.path.rsplit("/", 1)[1])
        self.accounts[account_id].update(body)
        return httpx.Response(200, json={"account_id": account_id, **self.accounts[account_id]})


def lagging_attempts(fake: LaggingErp, config: Any, *commands: SinkCommand, restart: bool = False) -> list[Attempt]:
    """Each command's attempt through one adapter, or (``restart``) each through a new one: a sink restarted."""
    async def run() -> list[Attempt]:
        done: list[Attempt] = []
        adapter = None
        for command in commands:
            if adapter is None or restart:
                if adapter is not None:
                    await adapter.close()
                adapter = HttpAdapter(config, base_url="http://erp.test", timeout_s=5, max_connections=2, env={},
                                      transport=httpx.MockTransport(fake.handler))
            done.append(await adapter.attempt(command))
        assert adapter is not None
        await adapter.close()
        return done

    return asyncio.run(run())


def with_lag(tmp_path: Path, lag: float | None, *, duplicate: bool) -> Any:
    text = (HERE / "upsert" / "erp.yaml").read_text()
    if not duplicate:
        text = text.replace(
            "      duplicate: {status: 409, when: {path: field, one_of: [crm_customer_number, account_code]}}\n", "")
    if lag is not None:
        text = text.replace("found_id: items.*.account_id\n", f"found_id: items.*.account_id\n        lag_s: {lag}\n")
    path = tmp_path / "erp.yaml"
    path.write_text(text)
    return load_target(path)


def test_a_retried_create_waits_out_the_search_s_lag_and_finds_the_record_it_made(tmp_path: Path) -> None:
    """Applied, answered 500, retried at once: a search that shows new records 0.3 s late found nothing and the
    retry made a second account (a new user's SaaS API without idempotency keys or a unique key: 8 duplicate rows
    in a trial). With lag_s the retry searches only once the lag has passed since the create, and updates it."""
    for lag, accounts in ((None, 2), (0.4, 1)):
        fake = LaggingErp(lag=0.3, unique=False)
        first, second = lagging_attempts(fake, with_lag(tmp_path, lag, duplicate=False), account("C-000009"),
                                         account("C-000009"))
        assert isinstance(first, Failed) and first.kind == "transient", first
        assert isinstance(second, Applied), second
        assert len(fake.accounts) == accounts, (lag, fake.accounts)
    assert second.body["upsert"] == "found, updated"


def test_a_duplicate_refusal_waits_out_the_search_s_lag_before_searching_again(tmp_path: Path) -> None:
    """The sink restarted after a create the target applied (no note of it): the new sink's search finds nothing
    yet, its create is refused as a duplicate, and the search again right after still finds nothing. Without
    lag_s that is a dead letter whose reason now names the lag; with it, the search waits and finds the record."""
    fake = LaggingErp(lag=0.3, unique=True)
    first, second = lagging_attempts(fake, with_lag(tmp_path, None, duplicate=True), account("C-000009"),
                                     account("C-000009"), restart=True)
    assert isinstance(first, Failed) and first.kind == "transient", first
    assert isinstance(second, Failed) and second.status == 409, second
    assert "an eventually consistent search): say how long in the route's external_id.search, lag_s" in second.reason

    fake = LaggingErp(lag=0.3, unique=True)
    first, second = lagging_attempts(fake, with_lag(tmp_path, 0.4, duplicate=True), account("C-000009"),
                                     account("C-000009"), restart=True)
    assert isinstance(second, Applied), second
    assert second.body["upsert"] == "found after a concurrent create, updated" and len(fake.accounts) == 1


def test_a_search_lag_is_checked_at_load(tmp_path: Path) -> None:
    text = (HERE / "upsert" / "erp.yaml").read_text().replace("found_id: items.*.account_id\n",
                                                              "found_id: items.*.account_id\n        lag_s: -1\n")
    path = tmp_path / "erp.yaml"
    path.write_text(text)
    with pytest.raises(TargetConfigError) as raised:
        load_target(path)
    assert ("routes[0].external_id.search.lag_s: lag_s must be a number of seconds from 0 to 300, got -1"
            in str(raised.value))
