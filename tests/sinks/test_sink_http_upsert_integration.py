"""External-id upsert on an HTTP route against the real reference ERP, written to by real ``isthmus sink``
workers through tests/sinks/upsert/erp.yaml: its account create is "search by CRM customer number, then create
or update" and sends no Idempotency-Key, so the ERP's key handling plays no part (it applies an unkeyed write as
it comes, as an API that ignores keys would). A sink SIGKILLed after its create reached the ERP, before its
offset commit, finds the account on its retry instead of making a second; two sinks creating the same customer
numbers at once make one account each, the loser of each race reading the ERP's 409 as "it exists now"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pymysql
from pairing_proxy import pairing_proxy
from sink_support import (
    SinkProcess,
    account_payload,
    command,
    customer_number,
    dead_letters_for,
    erp_rows,
    fresh_topics,
    produce,
    read_all,
    results_for,
)
from support.waiting import eventually

from streams.stack.running import RunningStack

TARGETS = Path(__file__).resolve().parent / "upsert"


def running(*sinks: SinkProcess) -> bool:
    """False while every sink runs; a sink that exited fails the test at once with its log."""
    for sink in sinks:
        assert sink.alive(), sink.log()[-4000:]
    return False


def account_command(number: str, name: str) -> dict[str, Any]:
    return command(target="erp", operation="create", payload_type="Account", entity_key=number,
                   payload=account_payload(number, name=name))


def accounts(erp_db: pymysql.connections.Connection[Any], number: str) -> list[dict[str, Any]]:
    return erp_rows(erp_db, "SELECT account_id, name FROM accounts WHERE crm_customer_number = %s", number)


def test_a_sigkilled_sink_s_retry_finds_the_account_it_made(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    number = customer_number(run, 0)
    topics, env = fresh_topics(stack, "http-upsert-kill")
    env["ISTHMUS_SINK_TARGETS_DIR"] = str(TARGETS)
    created = account_command(number, "Killed before commit")
    produce(stack, topics.commands, [created])
    # Commits only every 10 minutes: the create reaches the ERP, the offset is never committed before the kill.
    sink = SinkProcess(stack, "erp", {**env, "ISTHMUS_SINK_COMMIT_INTERVAL_MS": "600000"}, name="http-upsert-kill")
    try:
        eventually("the account in the ERP", lambda: accounts(erp_db, number) or running(sink), timeout=120,
                 every=0.2)
        assert results_for(stack, topics.results, {created["command_id"]}) == [], "killed before the commit"
    finally:
        sink.kill()
    again = SinkProcess(stack, "erp", env, name="http-upsert-kill-again")
    try:
        results = eventually("the result", lambda: results_for(stack, topics.results, {created["command_id"]})
                           or running(again), timeout=120)
    finally:
        assert again.stop() == 0, again.log()[-4000:]
    rows = accounts(erp_db, number)
    assert len(rows) == 1, "the retry found the account instead of making a second"
    assert len(results) == 1 and json.loads(results[0]["response"])["upsert"] == "found, updated", results
    assert results[0]["assigned_ids"]["account_id"] == str(rows[0]["account_id"])
    # Once-only came from the search, not from the ERP's idempotency table: the route sent no key.
    assert erp_rows(erp_db, "SELECT idem_key FROM idempotency_keys WHERE idem_key = %s",
                    created["idempotency_key"]) == []


def account_create(method: str, path: str, body: Any) -> str | None:
    """The customer number of an account create, the key the proxy pairs."""
    return str(body["crm_customer_number"]) if method == "POST" and path == "/accounts" else None


def test_two_sinks_creating_the_same_customer_numbers_at_once_make_one_account_each(
        stack: RunningStack, run: int, erp_db: pymysql.connections.Connection[Any]) -> None:
    numbers = [customer_number(run, i) for i in range(20)]
    first_topics, first_env = fresh_topics(stack, "http-upsert-race-a")
    second_topics, second_env = fresh_topics(stack, "http-upsert-race-b")
    produce(stack, first_topics.commands, [account_command(n, "From sink A") for n in numbers])
    produce(stack, second_topics.commands, [account_command(n, "From sink B") for n in numbers])
    with pairing_proxy(stack.settings.erp_api_url, account_create) as (url, met):
        extra = {"ISTHMUS_SINK_TARGETS_DIR": str(TARGETS), "ISTHMUS_SINK_BASE_URL": url}
        sinks = [SinkProcess(stack, "erp", {**first_env, **extra}, name="http-upsert-race-a"),
                 SinkProcess(stack, "erp", {**second_env, **extra}, name="http-upsert-race-b")]
        try:
            for topics in (first_topics, second_topics):
                eventually(f"{len(numbers)} results on {topics.results}",
                         lambda topics=topics: len(_all_results(stack, topics.results)) >= len(numbers)
                         or running(*sinks), timeout=180, every=1)
        finally:
            for sink in sinks:
                assert sink.stop() == 0, sink.log()[-4000:]
    for number in numbers:
        assert len(accounts(erp_db, number)) == 1, number
    # Every number was raced (both creates reached the ERP together), and each race's loser read the ERP's 409
    # as "it exists now", searched again and updated.
    assert sorted(met) == sorted(numbers)
    assert sum(sink.log().count("created by another writer") for sink in sinks) == len(numbers)
    assert dead_letters_for(stack, first_topics.dlq, set(numbers)) == []
    assert dead_letters_for(stack, second_topics.dlq, set(numbers)) == []


def _all_results(stack: RunningStack, topic: str) -> list[Any]:
    return [r.value for r in read_all(stack, topic, "CommandResult") if r.value is not None]
