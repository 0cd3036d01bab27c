"""The ``ids`` check of a create route with ``external_id`` reads the create's answer, never the search's.

A new user's help desk creates asynchronously (202 ``{"ok": true, "job_id": ...}``) and the route names
``ids: {job_id: job_id}``. When a create is sent again (a sink restart re-sends what was uncommitted), the search
finds the record and the route leaves it as it is: the command's answer is the search's, which holds no
``job_id``, and the sink warned "records no id at job_id ... top-level keys: data, next_cursor, $id, upsert. Fix
the path in the route's ids", of a path that is right. Now a found record left as it is is not checked; a create
whose answer lacks the path still is. Made-up desk over httpx's in-memory transport, through the real HTTP adapter
and deliverer."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sink_support import deliver_in_memory

from streams.sinks.config import load_target
from streams.sinks.delivery import Delivered, Deliverer
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /tickets
    body: {ref: account_code, name: name}
    ids: {job_id: job_id, queue: queue}
    external_id:
      field: account_code
      search: {path: "/tickets?ref={account_code}", found_id: data.*.id, match: ref, next: next_cursor,
               next_param: cursor}
      created_id: job_id
"""


def deliver(tmp_path: Path, handler: Handler) -> tuple[Delivered, Deliverer]:
    path = tmp_path / "erp.yaml"
    path.write_text(textwrap.dedent(TARGET), encoding="utf-8")
    config = load_target(path)
    command = SinkCommand(command_id="c1", idempotency_key="key-1", target="erp", operation="create",
                          entity_type="t", entity_key="AC1", payload_type="isthmus.canonical.Account",
                          payload={"account_code": "AC1", "name": "Ann"})

    (delivered,), deliverer = deliver_in_memory(config, handler, command)
    return delivered, deliverer


def desk(*, found: bool, created: dict[str, object]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            data = [{"id": "t_1", "ref": "AC1", "name": "Ann"}] if found else []
            return httpx.Response(200, json={"data": data, "next_cursor": None})
        return httpx.Response(202, json=created)

    return handler


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "records no id" in r.getMessage()]


def test_a_found_record_left_as_it_is_is_not_warned_of(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        done, deliverer = deliver(tmp_path, desk(found=True, created={"ok": True, "job_id": "j_1"}))

    assert isinstance(done.outcome, Applied) and done.outcome.body["upsert"] == "found"
    assert deliverer.ids_not_found == 0 and warnings_of(caplog) == []


def test_a_create_is_read_for_its_ids_and_warned_of_when_they_are_not_there(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    done, deliverer = deliver(tmp_path, desk(found=False, created={"ok": True, "job_id": "j_1", "queue": "q1"}))
    assert isinstance(done.outcome, Applied) and done.outcome.ids == {"job_id": "j_1", "queue": "q1"}
    assert deliverer.ids_not_found == 0

    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        done, deliverer = deliver(tmp_path, desk(found=False, created={"ok": True, "job_id": "j_1"}))
    assert deliverer.ids_not_found == 1
    (warned,) = warnings_of(caplog)
    assert "records no id at queue (queue)" in warned
    assert "the answer of POST /tickets has nothing there" in warned


def test_a_create_whose_answer_lacks_the_created_id_is_dead_lettered_not_warned_of(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The new record's id (created_id) missing from the create's answer is no wrong ids path: the target may have
    made nothing (an error under 2xx), so the command fails with what to do, and no ids warning blames the path."""
    with caplog.at_level(logging.WARNING, logger="isthmus.sink"):
        done, deliverer = deliver(tmp_path, desk(found=False, created={"ok": True}))
    assert isinstance(done.outcome, Failed) and done.outcome.error_type == "CreatedIdMissing"
    assert "without the new record's id at job_id (created_id of route Account create, " in done.outcome.reason
    assert deliverer.ids_not_found == 0 and warnings_of(caplog) == []
