"""A target that fails: 60 s of 503 (the issue's outage), answers lost after the write. Afterwards every
command is applied exactly once, in order, and none is lost."""

from __future__ import annotations

from typing import Any

import pymysql
from sink_support import (
    SinkProcess,
    account_workload,
    api,
    assert_applied_exactly_once,
    fault,
    fresh_topics,
    produce,
    recording_proxy,
    results_for,
)
from support.waiting import eventually

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
            eventually("every result after the outage", lambda: len(results_for(stack, topics.results, ids)) ==
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
    # Writes are applied and their answers replaced by 502 until five of this test's own writes (seen by the
    # proxy; the fault switch is shared by every client of the stack) lost their answer.
    with recording_proxy(stack.settings.erp_api_url) as proxy, api(stack, "erp") as erp:
        with fault(stack, "erp", {"mode": "error", "status": 502, "phase": "after", "count": 1_000_000}):
            produce(stack, topics.commands, commands)
            sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_BASE_URL": proxy.url}, name="lost")
            try:
                eventually("5 lost answers", lambda: len({e.key for e in proxy.writes(502)}) >= 5, timeout=60)
                erp.delete("/_faults")
                eventually("every result", lambda: len(results_for(stack, topics.results, ids)) == len(ids),
                         timeout=120)
            finally:
                assert sink.stop() == 0, sink.log()[-4000:]
        lost = {e.key for e in proxy.writes(502)}
    results = assert_applied_exactly_once(stack, erp_db, topics, numbers, commands, updates=2)
    assert {r["idempotency_key"] for r in results if r["replayed"]} == lost
