"""A 429 storm: the ERP throttles with Retry-After; the sink waits at least that long before it sends the
same command again (measured by a recording proxy in front of the real API), and nothing is lost."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pymysql
from sink_support import (
    Exchange,
    InProcessSink,
    account_payload,
    api,
    command,
    customer_number,
    erp_rows,
    fault,
    fresh_topics,
    produce,
    read_all,
    recording_proxy,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack

RETRY_AFTER = 2
STORM = 15


def test_retry_after_is_honoured_in_a_429_storm_and_nothing_is_lost(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "throttle")
    numbers = [customer_number(run, i) for i in range(12)]
    commands = []
    for number in numbers:
        commands.append(command(target="erp", operation="create", payload_type="Account", entity_key=number,
                                payload=account_payload(number, credit_limit="10.00")))
        commands.append(command(target="erp", operation="update", payload_type="Account", entity_key=number,
                                payload=account_payload(number, credit_limit="20.00"), changed=["credit_limit"]))
    ids = {c["command_id"] for c in commands}
    # The fault switch is shared by every client of the stack, so the storm lasts until this test's own
    # calls (seen by the proxy) took STORM throttled answers, whoever else writes meanwhile.
    with recording_proxy(stack.settings.erp_api_url) as proxy, \
            fault(stack, "erp", {"mode": "throttle", "retry_after": RETRY_AFTER, "count": 1_000_000}), \
            api(stack, "erp") as erp:
        produce(stack, topics.commands, commands)
        with InProcessSink("erp", {**env, "ISTHMUS_SINK_BASE_URL": proxy.url, "ISTHMUS_SINK_RETRY_BASE_S": "0.05"}):
            eventually(f"{STORM} throttled writes", lambda: len(proxy.writes(429)) >= STORM, timeout=120)
            erp.delete("/_faults")
            results = eventually("every result", lambda: (lambda got: got if len(got) == len(ids) else None)(
                results_for(stack, topics.results, ids)), timeout=180)

    throttled = proxy.writes(429)
    assert all(e.retry_after == str(RETRY_AFTER) for e in throttled)
    by_key: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in sorted(proxy.writes(), key=lambda e: e.arrived):
        assert exchange.key is not None
        by_key[exchange.key].append(exchange)
    gaps = [later.arrived - earlier.answered for calls in by_key.values()
            for earlier, later in itertools.pairwise(calls) if earlier.status == 429]
    assert len(gaps) == len(throttled), "every throttled write was sent again"
    assert min(gaps) >= RETRY_AFTER, f"a retry came {min(gaps):.3f} s after a 429 asking for {RETRY_AFTER} s"

    assert len(results) == len(commands) and {r["idempotency_key"] for r in results} == {
        c["idempotency_key"] for c in commands}
    assert max(r["attempts"] for r in results) >= 2
    keys = erp_rows(erp_db, f"SELECT idem_key FROM idempotency_keys WHERE idem_key IN "
                            f"({', '.join(['%s'] * len(commands))})", *[c["idempotency_key"] for c in commands])
    assert len(keys) == len(commands)
    rows = erp_rows(erp_db, f"SELECT crm_customer_number, credit_limit, version FROM accounts WHERE "
                            f"crm_customer_number IN ({', '.join(['%s'] * len(numbers))})", *numbers)
    assert sorted((r["crm_customer_number"], str(r["credit_limit"]), r["version"]) for r in rows) == [
        (n, "20.00", 2) for n in numbers]
    assert read_all(stack, topics.dlq, "DeadLetter") == []
