"""Updates through an ``external_id`` route, as a new user's phonebook API took them (httpx's in-memory
transport, a fake phonebook whose ``?email=`` matches by substring and answers pages of three): ``only_changed``
filters the update's body as a plain route's (never a create's); an update whose search finds nothing creates,
which the deliverer warns of and counts; a search that does not send the external id is warned of at load; and
a search's ``max_pages`` bounds its paging."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from phonebook import FakePhonebook
from sink_support import deliver_in_memory

from streams.sinks.config import load_target
from streams.sinks.config.model import HttpRoute, TargetConfig
from streams.sinks.delivery import Delivered, Deliverer
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

ROUTE = """\
  - payload_type: Account
    operation: {operation}
    method: POST
    path: /api/contacts
    body: {{ref: account_code, name: name, email: email, phone: phone}}
    only_changed: true
    ids: {{uid: $id}}
    external_id:
      field: account_code
      search:
        path: {search}
        found_id: items.*.uid
        match: ref
        next: cursor
        next_param: cursor
      update:
        method: PATCH
        path: /api/contacts/{{$id}}
        body: {{ref: account_code, name: name, email: email, phone: {{from: phone, keep_null: true}}}}
      created_id: contact.uid
"""
BY_EMAIL = "/api/contacts?email={email}"
BY_REF = "/api/contacts?ref={account_code}"


def target_text(search: str = BY_EMAIL) -> str:
    return ("system: erp\nadapter: http\nroutes:\n" + ROUTE.format(operation="create", search=search)
            + ROUTE.format(operation="update", search=search))


def load(tmp_path: Path, text: str) -> TargetConfig:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_target(path)


def account(operation: str, email: str, *, changed: tuple[str, ...] = (), code: str = "AC1") -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation=operation,
                       entity_type="t", entity_key=code, payload_type="isthmus.canonical.Account",
                       payload={"account_code": code, "name": "Ann", "email": email, "phone": None},
                       changed_fields=changed)


def deliver(config: TargetConfig, book: FakePhonebook, command: SinkCommand) -> tuple[Delivered, Deliverer]:
    (delivered,), deliverer = deliver_in_memory(config, book.handler, command)
    return delivered, deliverer


def ann() -> dict[str, Any]:
    return {"uid": "ct_0", "ref": "AC1", "name": "Ann", "email": "ann@example.com", "phone": "+49 1"}


def test_only_changed_filters_the_update_of_an_external_id_route(tmp_path: Path) -> None:
    book = FakePhonebook([ann()])
    delivered, _ = deliver(load(tmp_path, target_text()), book, account("update", "ann@example.com",
                                                                        changed=("name",)))
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.body["upsert"] == "found, updated"
    assert book.calls() == ["GET /api/contacts", "PATCH /api/contacts/ct_0"]
    assert book.sent() == [{"name": "Ann"}], "only the changed field: the phone is not cleared"
    assert book.contacts[0]["phone"] == "+49 1"


def test_an_update_listing_no_changed_fields_and_a_create_send_the_whole_body(tmp_path: Path) -> None:
    config = load(tmp_path, target_text())
    book = FakePhonebook([ann()])
    deliver(config, book, account("update", "ann@example.com"))
    assert book.sent() == [{"ref": "AC1", "name": "Ann", "email": "ann@example.com", "phone": None}]
    fresh = FakePhonebook([])
    delivered, _ = deliver(config, fresh, account("create", "bob@example.com", changed=("name",), code="AC2"))
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.body["upsert"] == "created"
    assert fresh.sent() == [{"ref": "AC2", "name": "Ann", "email": "bob@example.com"}]


def test_an_update_whose_search_finds_nothing_creates_and_is_warned_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    book = FakePhonebook([ann()])
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        config = load(tmp_path, target_text())
        delivered, deliverer = deliver(config, book, account("update", "ann@new.example", changed=("email",)))
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.body["upsert"] == "created"
    assert len(book.contacts) == 2, "the duplicate the warning is about"
    assert deliverer.created_by_changes == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert ("sink erp: route Account update (erp.yaml:24) created a new record for AC1: its search GET "
            "/api/contacts?email=ann%40new.example found none, so if the record it was to update exists (found by "
            "a field that changed), it now exists twice. Make the external_id search filter by account_code, "
            "which does not change (counted in isthmus_sink_created_by_changes_total)") in warnings, warnings


def test_a_create_that_creates_is_not_counted(tmp_path: Path) -> None:
    delivered, deliverer = deliver(load(tmp_path, target_text()), FakePhonebook([]),
                                   account("create", "ann@example.com"))
    assert isinstance(delivered.outcome, Applied) and delivered.outcome.body["upsert"] == "created"
    assert deliverer.created_by_changes == 0


def test_a_search_that_does_not_send_the_external_id_is_warned_of_at_load_for_changes_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        config = load(tmp_path, target_text())
    assert [(w.line, w.field) for w in config.warnings] == [(34, "routes[1].external_id.search.path")]
    text = str(config.warnings[0])
    assert ("the search (GET /api/contacts?email={email}) does not send the external id account_code, so an update "
            "command that changes what it searches by cannot find the record and creates a second one") in text
    assert "fix: search by the external id where the API can (e.g. ?account_code={account_code})" in text
    assert [r.getMessage() for r in caplog.records] == [f"target file {config.warnings[0]}"]
    assert load(tmp_path, target_text(BY_REF)).warnings == ()


def test_max_pages_bounds_the_search_and_its_error_says_how_to_raise_it(tmp_path: Path) -> None:
    many = [{"uid": f"ct_{n}", "ref": f"AC{n}", "name": "x", "email": f"{n}ann@example.com", "phone": None}
            for n in range(10)]
    config = load(tmp_path, target_text().replace("next_param: cursor", "next_param: cursor\n        max_pages: 2"))
    route = config.route("isthmus.canonical.Account", "update")
    assert isinstance(route, HttpRoute) and route.external_id is not None
    assert route.external_id.search.max_pages == 2
    book = FakePhonebook(list(many))
    delivered, _ = deliver(config, book, account("update", "ann@example.com"))
    assert isinstance(delivered.outcome, Failed) and delivered.outcome.error_type == "SearchTooLong"
    assert delivered.outcome.reason == (
        "the external id's search (GET /api/contacts?email=ann%40example.com) still names a next page after 2 "
        "pages (6 records); make the search narrower (filter by the external id exactly), or raise max_pages (now "
        "2) in the external_id.search of route Account update (erp.yaml:25), then replay the dead letter")
    assert book.calls() == ["GET /api/contacts", "GET /api/contacts"]
    default = FakePhonebook(list(many))
    delivered, _ = deliver(load(tmp_path, target_text()), default, account("update", "ann@example.com"))
    assert isinstance(delivered.outcome, Applied) and len(default.requests) == 5, "4 pages, then the create"


def test_max_pages_is_a_whole_number_of_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(TargetConfigError) as raised:
        load(tmp_path, target_text().replace("next_param: cursor", "next_param: cursor\n        max_pages: 0", 1))
    assert "routes[0].external_id.search.max_pages: max_pages must be a whole number of at least 1, got 0" in \
        str(raised.value)
