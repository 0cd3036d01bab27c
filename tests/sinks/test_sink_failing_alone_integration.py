"""A command failing alone against a real HTTP target and Kafka: one account the target answers, every time, with
HTTP 200 and a ``TemporaryError`` "unknown company" (an error the target file calls transient), while it applies
every other. The sink dead-letters that one with ``FailingAlone`` once it failed alone enough, and every offset
commits, the 30 applied behind it in their partitions included: nothing is left for a restart to send again
(a new user's target, which ignored Idempotency-Key, applied such re-sent commands over newer edits)."""

from __future__ import annotations

import re
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sink_support import (
    InProcessSink,
    account_payload,
    command,
    customer_number,
    dead_letters_for,
    fresh_topics,
    produce,
    results_for,
)
from support.waiting import eventually

from reference.common.server import ThreadedServer
from streams.stack.running import RunningStack

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /accounts
    body: {crm_customer_number: crm_customer_number, name: name}
    ids: {account_id: result.account_id}
    answers:
      error:
        when: error
        message: error.1
        transient: {path: error.0, equals: TemporaryError}
      success: result
"""
HEALTHY = 30


class Companies:
    """A target that knows no company of ``poisoned``: its calls, by customer number."""

    def __init__(self, poisoned: str) -> None:
        self.poisoned = poisoned
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.url = ""


@pytest.fixture
def companies(run: int) -> Iterator[Companies]:
    target = Companies(customer_number(run, 0))
    app = FastAPI(title="companies")

    @app.post("/accounts")
    async def create(request: Request) -> JSONResponse:
        number = (await request.json())["crm_customer_number"]
        with target.lock:
            target.calls[number] += 1
            created = len(target.calls)
        if number == target.poisoned:
            return JSONResponse({"result": None, "error": ["TemporaryError", "unknown company"]})
        return JSONResponse({"result": {"account_id": created}, "error": None})

    with ThreadedServer(app) as server:
        target.url = server.url
        yield target


def test_a_command_failing_alone_is_dead_lettered_and_every_offset_commits(
        stack: RunningStack, run: int, tmp_path: Path, companies: Companies) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "erp.yaml").write_text(textwrap.dedent(TARGET), encoding="utf-8")
    numbers = [customer_number(run, i) for i in range(HEALTHY + 1)]
    commands = [command(target="erp", operation="create", payload_type="Account", entity_key=n,
                        payload=account_payload(n)) for n in numbers]
    topics, env = fresh_topics(stack, "alone")
    produce(stack, topics.commands, commands)  # the poisoned one first: every partition's later offsets wait on it
    healthy = {c["command_id"] for c in commands[1:]}
    with InProcessSink("erp", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(targets), "ISTHMUS_SINK_BASE_URL": companies.url,
                               "ISTHMUS_SINK_RETRY_BASE_S": "0.05", "ISTHMUS_SINK_RETRY_MAX_S": "0.5",
                               "ISTHMUS_SINK_FAILING_ALONE_ATTEMPTS": "3",
                               "ISTHMUS_SINK_FAILING_ALONE_S": "3"}) as sink:
        worker = sink.worker
        eventually("every offset committed", lambda: worker.offsets.tracked == 0
                   and sum(worker.committed_offsets.values()) == len(commands), timeout=60,
                   context=lambda: f"{worker._summary_text()}")
        stats = worker.stats.as_dict()
    results: list[dict[str, Any]] = results_for(stack, topics.results, healthy)
    letters = dead_letters_for(stack, topics.dlq, {companies.poisoned})

    assert len(results) == HEALTHY and {r["status"] for r in results} == {200}
    assert (stats["applied"], stats["dead_lettered"], stats["dead_letters_committed"]) == (HEALTHY, 1, 1)
    assert all(companies.calls[n] == 1 for n in numbers[1:]), "each applied once: nothing re-sent"
    [letter] = [r.value for r in letters]
    assert letter is not None and letter["error_type"] == "FailingAlone" and letter["attempts"] >= 3
    assert letter["attempts"] == companies.calls[companies.poisoned]
    reason = letter["reason"]
    applied = re.search(r"failed transiently while ERP applied (\d+) other command\(s\), so the cause is this "
                        r"command, not an outage", reason)
    assert applied is not None and 1 <= int(applied.group(1)) <= HEALTHY, reason
    assert "the last: ERP answered 200 to POST /accounts with an error worth retrying: unknown company" in reason
    assert reason.endswith("then replay it: isthmus topics dlq replay")
