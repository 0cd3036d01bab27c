"""A route with a batch endpoint (targets/erp.yaml: Account create -> POST /accounts/batch): many commands
applied at once go out together, each is judged on its own item (an invalid one is dead-lettered, the others
applied), and the same commands sent again are answered from the ERP's idempotency table."""

from __future__ import annotations

from typing import Any

import pymysql
from sink_support import (
    SinkProcess,
    account_payload,
    command,
    customer_number,
    dead_letters_for,
    erp_rows,
    fresh_topics,
    produce,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack

ACCOUNTS = 60


def _drain(stack: RunningStack, env: dict[str, str], results_topic: str, ids: set[str],
           expected: int) -> list[dict[str, Any]]:
    sink = SinkProcess(stack, "erp", env, name="batch")
    try:
        found: list[dict[str, Any]] = eventually(f"{expected} results on {results_topic}",
                        lambda: (lambda got: got if len(got) >= expected else None)(
                            results_for(stack, results_topic, ids)), timeout=120)
        return found
    finally:
        log = sink.log()
        assert sink.stop() == 0, log[-4000:]
        assert "/accounts/batch" in log


def test_batched_account_creates_are_applied_once_each_and_a_bad_item_alone_is_dead_lettered(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "batch")
    numbers = [customer_number(run, i) for i in range(ACCOUNTS + 1)]
    good = [command(target="erp", operation="create", payload_type="Account", entity_key=n,
                    payload=account_payload(n)) for n in numbers[:ACCOUNTS]]
    bad = command(target="erp", operation="create", payload_type="Account", entity_key=numbers[-1],
                  payload={**account_payload(numbers[-1]), "payment_terms": "WHENEVER"})
    ids = {c["command_id"] for c in good}

    produce(stack, topics.commands, [*good[:30], bad, *good[30:]])
    first = _drain(stack, env, topics.results, ids, ACCOUNTS)

    assert len(first) == ACCOUNTS and not any(r["replayed"] for r in first)
    assert all(r["assigned_ids"]["crm_customer_number"] == r["entity_key"] for r in first)
    rows = erp_rows(erp_db, "SELECT crm_customer_number FROM accounts WHERE crm_customer_number LIKE %s",
                    numbers[0][:-4] + "%")
    assert sorted(r["crm_customer_number"] for r in rows) == numbers[:ACCOUNTS]
    [dead] = dead_letters_for(stack, topics.dlq, {numbers[-1]})
    assert dead.value is not None and dead.value["error_type"] == "Http422" and "payment_terms" in dead.value["reason"]

    produce(stack, topics.commands, good[:10])
    again = _drain(stack, env, topics.results, ids, ACCOUNTS + 10)

    replayed = [r for r in again if r["replayed"]]
    assert len(replayed) == 10 and {r["command_id"] for r in replayed} == {c["command_id"] for c in good[:10]}
    assert len(erp_rows(erp_db, "SELECT 1 FROM accounts WHERE crm_customer_number LIKE %s",
                        numbers[0][:-4] + "%")) == ACCOUNTS
