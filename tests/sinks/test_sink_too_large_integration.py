"""A command larger than the sink may produce, refused by its target, against a real HTTP target and Kafka.

A new user's SaaS answered 413 to an organisation create whose ``notes`` (PostgreSQL TEXT) were 1.7 MB. The sink
dead-lettered it, but the dead letter carried the whole command, over the sink producer's 1 MiB: every commit
failed (``MessageSizeTooLargeError``) and was retried for ever, nothing more was committed for any entity, and a
restart sent every uncommitted command again (duplicates at an API that ignores idempotency keys).

Here the made-up ``helpdesk`` answers 413 to a body over 1 MB. The dead letter is written within the sink's bound,
without the command's value but with its reason, its command's fields and an excerpt; every other command is
applied and committed; a second sink started on the same topics sends nothing again."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sink_support import (
    CREATED_TOPICS,
    InProcessSink,
    Topics,
    account_payload,
    command,
    customer_number,
    dead_letters_for,
    produce,
    results_for,
)
from support.waiting import eventually

from reference.common.server import ThreadedServer
from streams.kafka.deadletters import VALUE_EXCERPT_HEADER, value_left_out
from streams.kafka.sizes import DEFAULT_MAX_REQUEST_SIZE, record_size
from streams.kafka.topics import TopicSpec, ensure_topics
from streams.sinks.bounded import COMMAND_HEADER
from streams.sinks.topics import COMMAND_PARTITIONS
from streams.sinks.worker import SinkWorker
from streams.stack.running import RunningStack

TARGET = """\
system: erp
adapter: http
routes:
  - payload_type: Account
    operation: create
    method: POST
    path: /orgs
    body: {ref: crm_customer_number, name: name}
    ids: {account_id: id}
"""
#: The largest body the made-up target takes, as a SaaS caps a document.
BODY_LIMIT = 1_000_000
#: The commands topic takes what the flows may write with ISTHMUS_WORKER_MAX_REQUEST_SIZE raised (the user's case).
COMMANDS_LIMIT = 4 * 1024 * 1024
HEALTHY = 20


class Helpdesk:
    """A made-up SaaS: ``POST /orgs`` creates, 413 to a body over :data:`BODY_LIMIT`; its calls by ``ref``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.url = ""


@pytest.fixture
def helpdesk() -> Iterator[Helpdesk]:
    target = Helpdesk()
    app = FastAPI(title="helpdesk")

    @app.post("/orgs")
    async def create(request: Request) -> JSONResponse:
        body = await request.body()
        ref = json.loads(body)["ref"]
        with target.lock:
            target.calls[ref] += 1
            made = sum(target.calls.values())
        if len(body) > BODY_LIMIT:
            return JSONResponse({"error": f"request body {len(body)} bytes, over {BODY_LIMIT}"}, status_code=413)
        return JSONResponse({"id": made}, status_code=201)

    with ThreadedServer(app) as server:
        target.url = server.url
        yield target


def _topics(stack: RunningStack) -> tuple[Topics, dict[str, str]]:
    """Topics of the test's own: the commands topic takes 4 MiB records, the results and dead-letter topics the
    brokers' default (1048588 bytes)."""
    tag = f"large.{uuid.uuid4().hex[:8]}"
    topics = Topics(commands=f"test.sink.commands.{tag}", results=f"test.sink.results.{tag}",
                    dlq=f"test.sink.dlq.{tag}")
    CREATED_TOPICS.extend([topics.commands, topics.results, topics.dlq])
    asyncio.run(ensure_topics(stack.settings.bootstrap_servers, [
        TopicSpec(name=topics.commands, partitions=COMMAND_PARTITIONS,
                  config=(("max.message.bytes", str(COMMANDS_LIMIT)),)),
        TopicSpec(name=topics.results, partitions=COMMAND_PARTITIONS),
        TopicSpec(name=topics.dlq, partitions=1)]))
    return topics, {**topics.env(), "ISTHMUS_SINK_GROUP_ID": f"test-sink-{tag}",
                    "ISTHMUS_SINK_TRANSACTIONAL_ID": f"test-sink-{tag}"}


def _all_committed(worker: SinkWorker, count: int) -> bool:
    return worker.offsets.tracked == 0 and sum(worker.committed_offsets.values()) >= count


def test_a_dead_letter_too_large_is_written_bounded_and_the_sink_goes_on(
        stack: RunningStack, run: int, tmp_path: Path, helpdesk: Helpdesk) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "erp.yaml").write_text(textwrap.dedent(TARGET), encoding="utf-8")
    numbers = [customer_number(run, i) for i in range(HEALTHY + 2)]
    huge = numbers[0]
    notes = "Long notes. " * 150_000  # 1.8 MB, as the user's TEXT column
    commands = [command(target="erp", operation="create", payload_type="Account", entity_key=n,
                        payload=account_payload(n, name=notes if n == huge else f"Org {n}")) for n in numbers[:-1]]
    topics, env = _topics(stack)
    # the huge one first: every later offset of its partition waits on it
    produce(stack, topics.commands, commands, max_request_size=COMMANDS_LIMIT)
    env = {**env, "ISTHMUS_SINK_TARGETS_DIR": str(targets), "ISTHMUS_SINK_BASE_URL": helpdesk.url}
    with InProcessSink("erp", env) as sink:
        worker = sink.worker
        eventually("every offset committed", lambda: _all_committed(worker, len(commands)), timeout=60,
                   context=worker._summary_text)
        stats = worker.stats.as_dict()
        bounded = dict(worker.too_large)
    assert (stats["applied"], stats["dead_lettered"], stats["dead_letters_committed"]) == (HEALTHY, 1, 1)
    assert stats["commit_failures"] == 0, "no commit failed: the dead letter was made within the bound"
    assert bounded == {("dead letter", "setting"): 1}
    results = results_for(stack, topics.results, {c["command_id"] for c in commands[1:]})
    assert len(results) == HEALTHY and {r["status"] for r in results} == {201}

    [read] = dead_letters_for(stack, topics.dlq, {huge})
    letter = read.value
    assert letter is not None and letter["error_type"] and letter["value"] is None
    raw = next(value for offset, value in read_raw(stack, topics.dlq) if offset == read.offset)
    assert record_size(read.key, raw, list(read.headers)) <= DEFAULT_MAX_REQUEST_SIZE
    assert value_left_out(letter) is not None and value_left_out(letter) > DEFAULT_MAX_REQUEST_SIZE
    reason = letter["reason"]
    assert "413" in reason, reason
    assert (f"is left out of this dead letter, which cannot hold it within {DEFAULT_MAX_REQUEST_SIZE} bytes "
            "(ISTHMUS_SINK_MAX_REQUEST_SIZE)") in reason, reason
    headers = {h["key"]: h["value"] for h in letter["headers"]}
    kept = json.loads(headers[COMMAND_HEADER])
    assert (kept["command_id"], kept["entity_key"], kept["operation"]) == (commands[0]["command_id"], huge, "create")
    assert kept["left_out"] == {"name": len(json.dumps(notes))} and "name" not in json.loads(kept["payload"])
    assert 0 < len(headers[VALUE_EXCERPT_HEADER]) <= 2048

    # a second sink on the same topics: nothing is sent again; a new command is applied
    late = command(target="erp", operation="create", payload_type="Account", entity_key=numbers[-1],
                   payload=account_payload(numbers[-1]))
    with InProcessSink("erp", env) as again:
        produce(stack, topics.commands, [late])
        eventually("the late command committed", lambda: _all_committed(again.worker, 1)
                   and again.worker.stats.applied == 1, timeout=60, context=again.worker._summary_text)
        assert again.worker.stats.dead_lettered == 0
    assert all(helpdesk.calls[n] == 1 for n in numbers), {n: c for n, c in helpdesk.calls.items() if c != 1}


def read_raw(stack: RunningStack, topic: str) -> list[tuple[int, bytes]]:
    """(offset, value) of every record of the one-partition ``topic``."""
    from support.topics import records_to_end

    return [(r.offset, r.value) for r in records_to_end(stack.settings.bootstrap_servers, [topic])
            if r.value is not None]
