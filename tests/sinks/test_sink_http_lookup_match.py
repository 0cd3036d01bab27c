"""A route's lookup over a search that matches loosely: with ``match`` only the answer's item holding the
payload's value exactly is taken (none: not found, several: ambiguous), and a ``take`` that reads a list's
first item without ``match`` is refused at load. Over httpx's in-memory transport, a fake phonebook whose
``?email=`` matches by substring, as a new user's API did (it PATCHed joann@'s contact for ann@'s)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from phonebook import FakePhonebook

from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.config import load_target
from streams.sinks.config.model import HttpRoute, TargetConfig
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.outcomes import Applied, Attempt, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: update
    method: PATCH
    path: /api/contacts/{uid}
    lookups:
      uid:
        path: "/api/contacts?email={email}"
        take: items.*.uid
        match: {email: email}
    body: {name: name, email: email}
"""


def contact(uid: str, email: str, ref: str = "AC1") -> dict[str, Any]:
    return {"uid": uid, "email": email, "ref": ref, "name": uid}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def rename(email: str = "ann@example.com") -> SinkCommand:
    return SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="update",
                       entity_type="t", entity_key="C-1", payload_type="isthmus.canonical.Account",
                       payload={"account_code": "AC1", "email": email, "name": "Ann Renamed"})


def attempt(config: TargetConfig, book: FakePhonebook, command: SinkCommand) -> Attempt:
    async def run() -> Attempt:
        adapter = HttpAdapter(config, base_url="http://book.test", timeout_s=5, max_connections=2, env={},
                              transport=httpx.MockTransport(book.handler))
        try:
            return await adapter.attempt(command)
        finally:
            await adapter.close()

    return asyncio.run(run())


def test_the_exact_match_is_patched_not_the_first_contact_the_loose_search_answers(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, TARGET))
    route = config.route("isthmus.canonical.Account", "update")
    assert isinstance(route, HttpRoute) and route.lookups["uid"].match == {"email": "email"}
    book = FakePhonebook([contact("ct_joann", "joann@example.com"), contact("ct_ann", "ann@example.com")])
    outcome = attempt(config, book, rename())
    assert isinstance(outcome, Applied), outcome
    assert book.calls() == ["GET /api/contacts", "PATCH /api/contacts/ct_ann"]


def test_no_exact_match_waits_for_the_record_then_fails_as_not_found_without_writing(tmp_path: Path) -> None:
    """The record's own command may be applied a moment later (another flow's): retried for the lookup's wait_s
    (60 s unless the file says), then dead-lettered (a new user's users went out before their organisations and
    thousands were dead-lettered at once)."""
    book = FakePhonebook([contact("ct_joann", "joann@example.com")])
    outcome = attempt(load_target(write(tmp_path, TARGET)), book, rename())
    assert isinstance(outcome, Failed) and outcome.kind == "transient", outcome
    assert (outcome.error_type, outcome.wait_s) == ("LookupNotFound", 60.0)
    assert outcome.reason == ("lookup uid (GET /api/contacts?email=ann%40example.com) found no record with email "
                              "'ann@example.com' exactly (1 other record it answered left aside); retried for up to "
                              "60 s (wait_s of lookups.uid in erp.yaml) in case its create is applied meanwhile "
                              "(another flow's command, a parent's): create it first, or send uid in the payload, "
                              "then replay the dead letter")
    assert book.calls() == ["GET /api/contacts"]
    waiting = load_target(write(tmp_path, TARGET.replace("match: {email: email}",
                                                          "match: {email: email}\n        wait_s: 5")))
    outcome = attempt(waiting, book, rename())
    assert isinstance(outcome, Failed) and outcome.wait_s == 5.0


class PagedBook(FakePhonebook):
    """A phonebook whose answers name their next page ``next_cursor``, as a new user's API did."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        answer = super().handler(request)
        body = answer.json()
        return httpx.Response(answer.status_code, json={"items": body["items"], "next_cursor": body["cursor"]})


def test_a_lookup_whose_answer_names_more_pages_fails_at_once_saying_it_reads_one(tmp_path: Path) -> None:
    book = PagedBook([contact(f"ct_{n}", f"jo{n}ann@example.com") for n in range(4)])
    outcome = attempt(load_target(write(tmp_path, TARGET)), book, rename())
    assert isinstance(outcome, Failed) and outcome.kind == "permanent", outcome
    assert "on the one page it reads, and the answer names more (next_cursor: " in outcome.reason
    assert "make the lookup's path filter by email exactly" in outcome.reason


def test_several_exact_matches_fail_as_ambiguous_without_guessing(tmp_path: Path) -> None:
    book = FakePhonebook([contact("ct_a", "ann@example.com"), contact("ct_joann", "joann@example.com"),
                          contact("ct_b", "ann@example.com")])
    outcome = attempt(load_target(write(tmp_path, TARGET)), book, rename())
    assert isinstance(outcome, Failed) and outcome.error_type == "LookupAmbiguous", outcome
    assert "found 2 records with email 'ann@example.com' exactly (['ct_a', 'ct_b']) (1 other record" in \
        outcome.reason
    assert book.calls() == ["GET /api/contacts"]


def test_every_match_field_must_hold_and_items_without_one_are_not_trusted(tmp_path: Path) -> None:
    config = load_target(write(tmp_path, TARGET.replace("match: {email: email}",
                                                        "match: {email: email, ref: account_code}")))
    book = FakePhonebook([contact("ct_other", "ann@example.com", ref="AC9"), contact("ct_ann", "ann@example.com")])
    outcome = attempt(config, book, rename())
    assert isinstance(outcome, Applied) and book.calls()[-1] == "PATCH /api/contacts/ct_ann", outcome
    blind = FakePhonebook([{"uid": "ct_ann", "email": "ann@example.com"}])
    unchecked = attempt(config, blind, rename())
    assert isinstance(unchecked, Failed) and unchecked.error_type == "LookupUnchecked", unchecked
    assert "answered 1 of 1 records without email, ref (they carry email, uid)" in unchecked.reason
    assert blind.calls() == ["GET /api/contacts"]


def test_a_take_of_a_lists_first_item_without_match_is_refused_at_load_with_its_line_and_fix(
        tmp_path: Path) -> None:
    text = TARGET.replace("take: items.*.uid\n        match: {email: email}\n", "take: items.0.uid\n")
    with pytest.raises(TargetConfigError) as raised:
        load_target(write(tmp_path, text))
    message = str(raised.value)
    assert "(1 problem)" in message, message
    assert ("erp.yaml:11: routes[0].lookups.uid.take: take items.0.uid reads an item of a list the answer holds, "
            "and the lookup names no match, so the first record answered would be taken whatever it is") in message
    assert "fix: read each item and name the item's fields that must equal the payload's: take: items.*.uid, " \
           "match: {<item field>: <payload field>}" in message


def test_match_needs_a_take_of_each_item_and_payload_fields_that_exist(tmp_path: Path) -> None:
    text = TARGET.replace("take: items.*.uid", "take: items.0.uid").replace("{email: email}", "{email: mail}")
    with pytest.raises(TargetConfigError) as raised:
        load_target(write(tmp_path, text))
    message = str(raised.value)
    assert ("erp.yaml:11: routes[0].lookups.uid.take: take items.0.uid does not read each item of a list, so "
            "match has nothing to compare; fix: write take: items.*.uid") in message, message
    assert "erp.yaml:12: routes[0].lookups.uid.match.email: " in message and "'mail'" in message
