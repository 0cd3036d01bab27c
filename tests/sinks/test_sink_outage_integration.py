"""A target that fails: 60 s of 503 (the issue's outage), answers lost after the write. Afterwards every
command is applied exactly once, in order, and none is lost."""

from __future__ import annotations

from typing import Any

import pymysql
from sink_support import (
    SinkProcess,
    account_workload,
    assert_applied_exactly_once,
    fault,
    fresh_topics,
    produce,
    results_for,
    wait_for,
)

from streams.stack.running import RunningStack

OUTAGE_S = 60


def test_a_60_second_outage_then_recovery_applies_every_command_exactly_once(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "outage")
    numbers, commands = account_workload(run, entities=20, updates=3)
    ids = {c["command_id"] for c in commands}
    with fault(stack, "erp", {"mode": "outage", "seconds": OUTAGE_S}):
        produce(stack, topics.commands, commands)
        sink = SinkProcess(stack, "erp", env, name="outage")
        try:
            wait_for("every result after the outage", lambda: len(results_for(stack, topics.results, ids)) ==
                     len(ids), timeout=OUTAGE_S + 180, every=2)
        finally:
            assert sink.stop() == 0, sink.log()[-4000:]
    log = sink.log()
    assert "ERP answered 503" in log and "circuit breaker open" in log and "circuit breaker closed" in log
    results = assert_applied_exactly_once(stack, erp_db, topics, numbers, commands, updates=3)
    assert max(r["attempts"] for r in results) >= 2


def test_answers_lost_after_the_write_are_answered_from_the_idempotency_table(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "lost")
    numbers, commands = account_workload(run, entities=6, updates=2)
    ids = {c["command_id"] for c in commands}
    with fault(stack, "erp", {"mode": "error", "status": 502, "phase": "after", "count": 5}):
        produce(stack, topics.commands, commands)
        sink = SinkProcess(stack, "erp", env, name="lost")
        try:
            wait_for("every result", lambda: len(results_for(stack, topics.results, ids)) == len(ids), timeout=120)
        finally:
            assert sink.stop() == 0, sink.log()[-4000:]
    results = assert_applied_exactly_once(stack, erp_db, topics, numbers, commands, updates=2)
    replayed = [r for r in results if r["replayed"]]
    assert len(replayed) == 5 and all(r["attempts"] >= 2 for r in replayed)
