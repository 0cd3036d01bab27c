"""A target that requires optimistic concurrency (a new user's register API, as Microsoft Graph, Azure or any
JSON:API with versions): a write must carry the record's current ``ETag`` as ``If-Match`` (428 without it, 412
when stale), or its ``version`` in the body (409 when stale). A real HTTP server on loopback, driven by the real
HTTP adapter and deliverer.

Before routes could declare a ``precondition`` the sink sent no ``If-Match``, and the user's 530 PATCH updates were
dead-lettered with ``REGISTER answered 428 to PATCH /accounts/reg_173: {"ok":false,"error":"If-Match required"}``
and nothing saying what to do. Now the route reads the version (a GET of its path, its lookup's answer, or the
record its external id's search found), carries it, reads it again after a concurrent change, and a 428 on a
route without one says how to declare it."""

from __future__ import annotations

import hashlib
import json
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sink_support import deliver_over_http

from reference.common.server import ThreadedServer
from streams.sinks.config import load_target
from streams.sinks.delivery import Delivered
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

ETAG_ROUTE = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PATCH
    path: /accounts/{account_id}
    body: {name: name}
"""
IF_MATCH = """\
    precondition:
      read: {header: ETag}
      send: {header: If-Match}
      retries: 2
"""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    if_match: str | None
    key: str | None
    body: Any


@dataclass
class Register:
    """The register's accounts (id -> record with ``version``), what it was sent, and the faults to play:
    ``races``: reads after which another writer changes the record before the sink writes; ``lost``: writes
    applied whose answer is lost (a 503 instead)."""

    accounts: dict[str, dict[str, Any]]
    races: int = 0
    lost: int = 0
    seen: list[Seen] = field(default_factory=list)
    keys: dict[str, tuple[str, int, Any]] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, record: dict[str, Any]) -> dict[str, Any]:
        answer = dict(record)
        if self.races:
            self.races -= 1
            record.update(phone=f"+41 {record['version']}", version=record["version"] + 1)  # the other writer
        return answer

    def calls(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.seen]

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method != "GET"]


def tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]


def register_app(api: Register) -> FastAPI:
    """``GET /accounts/{id}`` (with ``ETag: "<version>"``), ``GET /accounts?code=``, ``PATCH /accounts/{id}``
    (``If-Match`` required) and ``PUT /accounts/{id}`` (``version`` in the body required, 409 when stale); every
    write honours ``Idempotency-Key`` as the reference apps do: checked first, a stored answer replayed, the same
    key with another body refused with 422, only successes stored."""
    app = FastAPI(title="register")

    @app.get("/accounts/{account_id}")
    async def one(account_id: str) -> JSONResponse:
        with api.lock:
            api.seen.append(Seen("GET", f"/accounts/{account_id}", None, None, None))
            record = api.accounts.get(account_id)
            if record is None:
                return JSONResponse({"ok": False, "error": "no such account"}, status_code=404)
            answer = api.read(record)
        return JSONResponse(answer, headers={"ETag": f'"{answer["version"]}"'})

    @app.get("/accounts")
    async def search(code: str) -> JSONResponse:
        with api.lock:
            api.seen.append(Seen("GET", "/accounts", None, None, None))
            found = [api.read(r) for r in api.accounts.values() if r["code"].startswith(code)]  # loosely, by prefix
        return JSONResponse({"items": found})

    @app.api_route("/accounts/{account_id}", methods=["PATCH", "PUT"])
    async def write(account_id: str, request: Request) -> JSONResponse:
        raw = await request.body()
        body = json.loads(raw)
        key, if_match = request.headers.get("Idempotency-Key"), request.headers.get("If-Match")
        hashed = hashlib.sha256(raw).hexdigest()
        with api.lock:
            api.seen.append(Seen(request.method, f"/accounts/{account_id}", if_match, key, body))
            if key in api.keys:
                stored_hash, status, answer = api.keys[key]
                if stored_hash != hashed:
                    return JSONResponse({"ok": False, "error": "Idempotency-Key was already used with a different "
                                         "body"}, status_code=422)
                return JSONResponse(answer, status_code=status, headers={"Idempotency-Key-Status": "replayed"})
            record = api.accounts[account_id]
            if request.method == "PATCH":
                if if_match is None:
                    return JSONResponse({"ok": False, "error": "If-Match required"}, status_code=428)
                if str(record["version"]) not in tags(if_match):
                    return JSONResponse({"ok": False, "error": f"stale: the account is at {record['version']}"},
                                        status_code=412)
            else:
                if "version" not in body:
                    return JSONResponse({"ok": False, "error": "version required"}, status_code=428)
                if body["version"] != record["version"]:
                    return JSONResponse({"ok": False, "error": "stale version"}, status_code=409)
            record.update({k: v for k, v in body.items() if k != "version"}, version=record["version"] + 1)
            answer = dict(record)
            if key is not None:
                api.keys[key] = (hashed, 200, answer)
            if api.lost:
                api.lost -= 1
                return JSONResponse({"ok": False, "error": "gateway timeout"}, status_code=503)
        return JSONResponse(answer, headers={"ETag": f'"{answer["version"]}"'})

    return app


@pytest.fixture
def api() -> Iterator[Register]:
    register = Register(accounts={"7": {"id": 7, "code": "AC7", "name": "Ann", "phone": None, "version": 3},
                                  "8": {"id": 8, "code": "AC77", "name": "Bob", "phone": None, "version": 9}})
    with ThreadedServer(register_app(register)) as server:
        register.url = server.url
        yield register


def rename(account_id: int | None = 7) -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="update",
                       entity_type="Account", entity_key="C-000007", payload_type="isthmus.canonical.Account",
                       payload={"account_id": account_id, "account_code": "AC7", "name": "Ann Renamed"})


def deliver(tmp_path: Path, target: str, api: Register, command: SinkCommand | None = None) -> Delivered:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(target), encoding="utf-8")
    return deliver_over_http(load_target(path), api.url, command or rename())


def test_the_write_carries_the_etag_it_read_as_if_match(tmp_path: Path, api: Register) -> None:
    delivered = deliver(tmp_path, ETAG_ROUTE + IF_MATCH, api)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert api.calls() == ["GET /accounts/7", "PATCH /accounts/7"]
    assert api.writes()[0].if_match == '"3"' and api.writes()[0].key == "key-1"
    assert api.accounts["7"]["name"] == "Ann Renamed" and api.accounts["7"]["version"] == 4


def test_a_concurrent_change_is_answered_412_read_again_and_the_write_applied(tmp_path: Path, api: Register) -> None:
    api.races = 1  # another writer changes the account between the sink's first read and its write
    delivered = deliver(tmp_path, ETAG_ROUTE + IF_MATCH, api)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert delivered.attempts == 2
    assert api.calls() == ["GET /accounts/7", "PATCH /accounts/7", "GET /accounts/7", "PATCH /accounts/7"]
    assert [w.if_match for w in api.writes()] == ['"3"', '"4"']
    assert api.accounts["7"] == {"id": 7, "code": "AC7", "name": "Ann Renamed", "phone": "+41 3", "version": 5}


def test_a_record_changing_on_every_read_is_dead_lettered_after_the_routes_retries(tmp_path: Path,
                                                                                   api: Register) -> None:
    api.races = 10
    delivered = deliver(tmp_path, ETAG_ROUTE + IF_MATCH, api)
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.error_type == "StaleVersion" and outcome.status == 412
    assert len(api.writes()) == 3  # the first write and the precondition's 2 retries
    assert outcome.reason.startswith('ERP answered 412 to PATCH /accounts/7: {"ok":false,"error":"stale: the account '
                                     'is at 6"} (the write carried header If-Match "5", read from header ETag of '
                                     'GET /accounts/7: the record changed in between); still stale after 2 re-reads '
                                     'of the version (precondition.retries: 2 on route Account update (erp.yaml:4))')
    assert api.accounts["7"]["name"] == "Ann"


def test_a_428_on_a_route_without_a_precondition_dead_letters_saying_how_to_declare_one(tmp_path: Path,
                                                                                        api: Register) -> None:
    delivered = deliver(tmp_path, ETAG_ROUTE, api)
    outcome = delivered.outcome
    assert isinstance(outcome, Failed) and outcome.kind == "permanent" and delivered.attempts == 1
    assert outcome.error_type == "PreconditionRequired" and outcome.status == 428
    assert outcome.reason.startswith('ERP answered 428 to PATCH /accounts/7: {"ok":false,"error":"If-Match '
                                     'required"}; the target requires a precondition: it takes this write only with '
                                     'the version of the record it holds (optimistic concurrency), and route Account '
                                     'update (erp.yaml:4) declares none. Fix: declare where the version is read and '
                                     'where the write carries it, e.g. precondition: {read: {header: ETag}, send: '
                                     '{header: If-Match}}')
    assert outcome.reason.endswith("then replay the dead letter")
    assert api.calls() == ["PATCH /accounts/7"]


def test_a_lost_answer_is_replayed_by_the_targets_idempotency_table_not_written_twice(tmp_path: Path,
                                                                                      api: Register) -> None:
    api.lost = 1  # the write is applied and its answer lost: the retry reads the version the write made
    delivered = deliver(tmp_path, ETAG_ROUTE + IF_MATCH, api)
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.replayed, delivered.outcome
    assert [(w.if_match, w.key) for w in api.writes()] == [('"3"', "key-1"), ('"4"', "key-1")]
    assert api.accounts["7"]["version"] == 4  # written once


BODY_VERSION = """system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PUT
    path: /accounts/{account_id}
    lookups:
      account_id: {path: "/accounts?code={account_code}", take: items.*.id, match: {code: account_code}}
    body: {name: name}
    precondition: {read: {field: version}, from: {lookup: account_id}, send: {field: version}, stale: 409}
"""


def test_a_body_version_from_the_lookups_match_is_read_again_after_a_409(tmp_path: Path, api: Register) -> None:
    api.races = 2  # the search answers both accounts its prefix matches: AC7's version changes after the read
    delivered = deliver(tmp_path, BODY_VERSION, api)
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert api.calls() == ["GET /accounts", "PUT /accounts/7", "GET /accounts", "PUT /accounts/7"]
    assert [(w.body, w.key) for w in api.writes()] == [({"name": "Ann Renamed", "version": 3}, "key-1.v3"),
                                                       ({"name": "Ann Renamed", "version": 4}, "key-1.v4")]
    assert api.accounts["7"]["version"] == 5 and api.accounts["8"]["name"] == "Bob"


def test_a_lost_answer_of_a_body_version_write_is_written_again_under_that_versions_key(tmp_path: Path,
                                                                                      api: Register) -> None:
    """The retry reads the version its own write made; under the command's key alone its body (another version)
    would be refused with 422 and the command dead-lettered. The lookup is made although the payload has the id:
    its answer holds the version."""
    api.lost = 1
    delivered = deliver(tmp_path, BODY_VERSION, api, rename(account_id=7))
    assert isinstance(delivered.outcome, Applied) and not delivered.outcome.replayed, delivered.outcome
    assert api.calls() == ["GET /accounts", "PUT /accounts/7", "GET /accounts", "PUT /accounts/7"]
    assert [w.key for w in api.writes()] == ["key-1.v3", "key-1.v4"]
    assert api.accounts["7"]["name"] == "Ann Renamed" and api.accounts["7"]["version"] == 5


def test_an_external_id_update_carries_the_found_records_version(tmp_path: Path, api: Register) -> None:
    api.races = 2
    delivered = deliver(tmp_path, """        system: erp
        adapter: http
        routes:
          - payload_type: Account
            operation: update
            method: POST
            path: /accounts
            body: {code: account_code, name: name}
            external_id:
              field: account_code
              search: {path: "/accounts?code={account_code}", found_id: items.*.id, match: code}
              update: {method: PATCH, path: "/accounts/{$id}", body: {name: name}}
            precondition: {read: {field: version}, from: search, send: {header: If-Match}}
        """, api, rename(account_id=None))
    assert isinstance(delivered.outcome, Applied), delivered.outcome
    assert api.calls() == ["GET /accounts", "PATCH /accounts/7", "GET /accounts", "PATCH /accounts/7"]
    assert [(w.if_match, w.key) for w in api.writes()] == [("3", None), ("4", None)]
    assert api.accounts["7"]["name"] == "Ann Renamed" and api.accounts["8"]["name"] == "Bob"
