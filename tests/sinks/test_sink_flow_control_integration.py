"""Flow control of a running worker: at most ``max_in_flight`` records fetched and uncommitted (fetching
pauses), at most ``concurrency`` calls at once; SIGTERM abandons calls that do not finish in the grace time,
uncommitted, and a restart applies them once."""

from __future__ import annotations

from typing import Any

import pymysql
from sink_support import (
    InProcessSink,
    SinkProcess,
    account_workload,
    assert_applied_exactly_once,
    fault,
    fresh_topics,
    produce,
    recording_proxy,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack

MAX_IN_FLIGHT = 6
CONCURRENCY = 2


def test_fetching_pauses_at_the_in_flight_bound_and_calls_stay_under_the_concurrency(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "bounds")
    numbers, commands = account_workload(run, entities=10, updates=2)
    ids = {c["command_id"] for c in commands}
    produce(stack, topics.commands, commands)
    with recording_proxy(stack.settings.erp_api_url) as proxy, \
            fault(stack, "erp", {"mode": "latency", "ms": 60, "count": 100_000}), \
            InProcessSink("erp", {**env, "ISTHMUS_SINK_BASE_URL": proxy.url,
                                  "ISTHMUS_SINK_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
                                  "ISTHMUS_SINK_CONCURRENCY": str(CONCURRENCY)}) as sink:
        eventually("every result", lambda: len(results_for(stack, topics.results, ids)) == len(ids), timeout=120)
    assert sink.worker.stats.max_uncommitted == MAX_IN_FLIGHT, "the backlog filled the bound and no more"
    writes = proxy.writes()
    overlap = max(sum(1 for other in writes if other.arrived <= e.arrived < other.answered) for e in writes)
    assert overlap <= CONCURRENCY
    assert_applied_exactly_once(stack, erp_db, topics, numbers, commands, updates=2)


def test_sigterm_abandons_unfinished_calls_uncommitted_and_a_restart_applies_them_once(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "sigterm")
    numbers, commands = account_workload(run, entities=3, updates=0)
    ids = {c["command_id"] for c in commands}
    produce(stack, topics.commands, commands)
    env = {**env, "ISTHMUS_SINK_STOP_GRACE_S": "0.5"}
    with recording_proxy(stack.settings.erp_api_url) as proxy, \
            fault(stack, "erp", {"mode": "latency", "ms": 4000, "count": 1_000_000}):
        sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_BASE_URL": proxy.url}, name="sigterm")
        try:
            eventually("3 writes held by the ERP", lambda: proxy.writes_arrived() == 3, timeout=60, every=0.1)
        finally:
            code = sink.stop()
    assert code == 0 and "abandoned 3 call(s) uncommitted" in sink.log(), sink.log()[-3000:]
    assert results_for(stack, topics.results, ids) == []
    again = SinkProcess(stack, "erp", env, name="sigterm-restart")
    try:
        eventually("every result after the restart", lambda: len(results_for(stack, topics.results, ids)) == 3,
                 timeout=60)
    finally:
        assert again.stop() == 0
    assert_applied_exactly_once(stack, erp_db, topics, numbers, commands, updates=0)
