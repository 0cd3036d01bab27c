"""SIGKILL of the sink worker mid-batch, several times: no command applied twice, none lost, and the results
topic (read committed) holds exactly one result per command."""

from __future__ import annotations

from typing import Any

import pymysql
from sink_support import (
    SinkProcess,
    account_workload,
    assert_applied_exactly_once,
    erp_rows,
    fault,
    fresh_topics,
    produce,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack

KILLS = 4
UPDATES = 5


def test_sigkill_mid_batch_several_times_loses_and_duplicates_nothing(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "sigkill")
    numbers, commands = account_workload(run, entities=30, updates=UPDATES)
    keys = [c["idempotency_key"] for c in commands]
    ids = {c["command_id"] for c in commands}

    def applied() -> int:
        rows = erp_rows(erp_db, f"SELECT COUNT(*) AS n FROM idempotency_keys WHERE idem_key IN "
                                f"({', '.join(['%s'] * len(keys))})", *keys)
        return int(rows[0]["n"])

    produce(stack, topics.commands, commands)
    # Slow writes (every write held 150 ms) keep calls in flight when the kill comes.
    with fault(stack, "erp", {"mode": "latency", "ms": 150, "count": 100_000}):
        for kill in range(1, KILLS + 1):
            sink = SinkProcess(stack, "erp", env, name=f"sigkill-{kill}")
            mark = len(commands) * kill // (KILLS + 1)
            try:
                eventually(f"{mark} writes applied before kill {kill}", lambda mark=mark: applied() >= mark,
                         timeout=120, every=0.1)
                assert sink.alive(), sink.log()[-4000:]
            finally:
                sink.kill()
            assert applied() < len(commands), "the kill came before the end of the batch"
        sink = SinkProcess(stack, "erp", env, name="sigkill-last")
        try:
            eventually("every result", lambda: len(results_for(stack, topics.results, ids)) == len(ids),
                     timeout=180, every=1)
        finally:
            assert sink.stop() == 0, sink.log()[-4000:]
    results = assert_applied_exactly_once(stack, erp_db, topics, numbers, commands, updates=UPDATES)
    assert len(results) == len(commands)
