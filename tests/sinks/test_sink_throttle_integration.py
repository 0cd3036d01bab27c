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
    command,
    customer_number,
    erp_rows,
    fault,
    fresh_topics,
    produce,
    read_all,
    recording_proxy,
    results_for,
    wait_for,
)

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
    with recording_proxy(stack.settings.erp_api_url) as (proxy_url, exchanges), \
            fault(stack, "erp", {"mode": "throttle", "retry_after": RETRY_AFTER, "count": STORM}):
        produce(stack, topics.commands, commands)
        with InProcessSink("erp", {**env, "ISTHMUS_SINK_BASE_URL": proxy_url, "ISTHMUS_SINK_RETRY_BASE_S": "0.05"}):
            results = wait_for("every result", lambda: (lambda got: got if len(got) == len(ids) else None)(
                results_for(stack, topics.results, ids)), timeout=180)

    throttled = [e for e in exchanges if e.status == 429]
    assert throttled, "the storm reached the sink"
    assert all(e.retry_after == str(RETRY_AFTER) for e in throttled)
    by_key: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in sorted(exchanges, key=lambda e: e.arrived):
        if exchange.key is not None:
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
