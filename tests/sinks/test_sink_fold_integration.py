"""Updates of one entity waiting behind another in a running sink are folded into the last: one call with the
latest state and the changed fields of all, a result for each (streams/sinks/folding.py). A new user's hot rows
(updated 30 times a second) gave the ERP every intermediate value, one call each, and it fell 25 minutes behind."""

from __future__ import annotations

from typing import Any

import pymysql
from sink_support import (
    InProcessSink,
    customer_number,
    erp_rows,
    fault,
    fresh_topics,
    produce,
    read_all,
    recording_proxy,
    results_for,
)
from support.commands import account_payload, command
from support.waiting import eventually

from streams.stack.running import RunningStack

UPDATES = 12


def _workload(run: int) -> tuple[str, str, list[dict[str, Any]]]:
    """Two accounts, each created then updated UPDATES times (credit limit 1.00, 2.00, ...; the name once, in the
    fourth): the first's updates come from an entity flow (folded), the second's from a flow that reads its results
    (a document flow's: each sent)."""
    folded, kept = customer_number(run, 0), customer_number(run, 1)
    commands: list[dict[str, Any]] = []
    for number, reads in ((folded, False), (kept, None)):
        commands.append(command(target="erp", operation="create", payload_type="Account", entity_key=number,
                                payload=account_payload(number), reads_refusals=reads))
        for step in range(1, UPDATES + 1):
            name = "Renamed once" if step >= 4 else "Test account"
            changed = ["credit_limit", "name"] if step == 4 else ["credit_limit"]
            commands.append(command(target="erp", operation="update", payload_type="Account", entity_key=number,
                                    payload=account_payload(number, name=name, credit_limit=f"{step}.00"),
                                    changed=changed, reads_refusals=reads))
    return folded, kept, commands


def test_an_entitys_waiting_updates_go_as_one_with_a_result_each(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "fold")
    folded, kept, commands = _workload(run)
    produce(stack, topics.commands, commands)
    ids = {c["command_id"] for c in commands}
    # each create takes a while at the ERP, so every update of its entity is fetched and waits behind it
    with recording_proxy(stack.settings.erp_api_url) as proxy, \
            fault(stack, "erp", {"mode": "latency", "ms": 1500, "count": 2}), \
            InProcessSink("erp", {**env, "ISTHMUS_SINK_BASE_URL": proxy.url}) as sink:
        eventually("a result for every command", lambda: len(results_for(stack, topics.results, ids)) == len(ids),
                   timeout=120)
    rows = {r["crm_customer_number"]: r for r in erp_rows(
        erp_db, "SELECT crm_customer_number, name, credit_limit, version FROM accounts WHERE crm_customer_number "
                "IN (%s, %s)", folded, kept)}
    # both end at the last values, the name too (carried by the fourth update only)
    assert {n: (r["name"], f"{r['credit_limit']:.2f}") for n, r in rows.items()} == {
        folded: ("Renamed once", f"{UPDATES}.00"), kept: ("Renamed once", f"{UPDATES}.00")}
    assert rows[kept]["version"] == 1 + UPDATES, "a flow that reads its results gets each update sent"
    assert rows[folded]["version"] == 2, f"the waiting updates went as one: {len(proxy.writes())} writes"
    assert sink.worker.stats.folded == UPDATES - 1
    results = {r["command_id"]: r for r in results_for(stack, topics.results, ids)}
    last = next(c for c in reversed(commands) if c["entity_key"] == folded)
    carried = [r for r in results.values() if r["entity_key"] == folded and r["operation"] == "update"
               and r["command_id"] != last["command_id"]]
    assert len(carried) == UPDATES - 1 and all(r["status"] == results[last["command_id"]]["status"] for r in carried)
    assert all(last["command_id"] in (r["response"] or "") for r in carried)
    assert read_all(stack, topics.dlq, "DeadLetter") == []
