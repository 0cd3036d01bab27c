"""A validation error goes to the dead-letter topic with the API's answer; `isthmus topics dlq` lists and
shows it; a replay before the fix dead-letters again with a note; after the fix a replay applies the command
once, and further replays are answered from the target's idempotency table. A create refused, and the update
behind it, are superseded once the create with the fixed data is applied: `dlq settle --superseded` settles them."""

from __future__ import annotations

import json
from typing import Any

import pymysql
from sink_support import (
    CREATED_TOPICS,
    STORE,
    SinkProcess,
    account_payload,
    add_erp_stock,
    api,
    command,
    customer_number,
    erp_goods,
    erp_rows,
    fresh_topics,
    order_number,
    produce,
    read_all,
    results_for,
    sink_env,
)
from support.cli import isthmus
from support.waiting import eventually

from streams.stack.running import RunningStack


def dlq_cli(stack: RunningStack, *args: str) -> Any:
    """``isthmus topics dlq ARGS``: its JSON lines with --json (one object per dead letter), else its text."""
    done = isthmus("topics", "dlq", *args, env=sink_env(stack))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()] if "--json" in args else done.stdout


def _dashboard_pending(stack: RunningStack, topic: str) -> int:
    """The dashboard's pending count (``isthmus_dead_letters_pending``) of ``topic``."""
    import asyncio

    from streams.dashboard.deadletters import DeadLetterTally

    async def count() -> int:
        tally = DeadLetterTally()
        try:
            await tally.poll(stack.settings.bootstrap_servers, topic, STORE)
        finally:
            await tally.close()
        return tally.pending

    return asyncio.run(count())


def test_validation_error_dead_letter_fix_replay_applies_once(stack: RunningStack, run: int,
                                                              erp_db: pymysql.connections.Connection[Any]) -> None:
    topics, env = fresh_topics(stack, "dlq")
    number, order = customer_number(run, 0), order_number(run, 0)
    sku, warehouse = erp_goods(stack, run, with_product=False)
    with api(stack, "erp") as erp:
        account = erp.post("/accounts", json={"name": "Sink test", "crm_customer_number": number})
        assert account.status_code == 201, account.text
    placed = command(target="erp", operation="create", payload_type="SalesOrder", entity_key=order, payload={
        "order_number": order, "customer_number": number, "erp_account_id": account.json()["account_id"],
        "status": "submitted", "currency": "CNY", "ordered_at": None,
        "lines": [{"line_no": 1, "sku": sku, "quantity": "4.000", "unit_price": "2.50",
                   "warehouse_code": warehouse}]})
    produce(stack, topics.commands, [placed])
    sink = SinkProcess(stack, "erp", env, name="dlq")
    try:
        eventually("the dead letter", lambda: read_all(stack, topics.dlq, "DeadLetter"), timeout=60)
        listed = dlq_cli(stack, "list", "--json", "--topic", topics.dlq)
        assert len(listed) == 1
        entry = listed[0]
        assert (entry["topic"], entry["partition"], entry["offset"], entry["stage"], entry["entity"],
                entry["error_type"]) == (topics.dlq, 0, 0, "sink.erp", order, "Http422")
        assert "ERP answered 422 to POST /orders" in entry["reason"] and f"no product {sku}" in entry["reason"]
        assert '"field":"lines[0].sku"' in entry["reason"] and "create the product first" in entry["reason"]
        assert entry["original"].startswith(topics.commands)

        (shown,) = dlq_cli(stack, "show", "0", "--json", "--topic", topics.dlq)
        assert shown["value_decoded"]["value"]["command_id"] == placed["command_id"]
        assert shown["value_decoded"]["value"]["payload"] == "***"
        (revealed,) = dlq_cli(stack, "show", "0:0", "--json", "--show-pii", "--topic", topics.dlq)
        assert revealed["value_decoded"]["value"]["payload"]["lines"][0]["sku"] == sku
        assert "reason: ERP answered 422" in dlq_cli(stack, "show", "0", "--topic", topics.dlq)

        dlq_cli(stack, "replay", "0", "--topic", topics.dlq)
        again = eventually("the replay's dead letter", lambda: (lambda got: got if len(got) == 2 else None)(
            read_all(stack, topics.dlq, "DeadLetter")), timeout=60)
        assert again[1].value is not None
        assert again[1].value["reason"].startswith(f"failed again after a replay of {topics.dlq}[0]@0: ERP "
                                                   "answered 422")
        assert erp_rows(erp_db, "SELECT 1 FROM sales_orders WHERE crm_order_number = %s", order) == []

        first, second = dlq_cli(stack, "list", "--json", "--topic", topics.dlq)
        assert first["offset"] == 0 and first["status"] == "failed again" and second["status"] == "pending"
        assert first["replays"][0].startswith(f"replayed as stored to {topics.commands}[")
        assert first["replays"][1].startswith(f"failed again: 0:{second['offset']}")
        add_erp_stock(stack, sku, warehouse, "10")
        (replayed,) = dlq_cli(stack, "replay", "0", "--json", "--topic", topics.dlq)
        assert (replayed["dead_letter"], replayed["outcome"]) == ("0:0", "replayed")
        assert replayed["to"].startswith(topics.commands)
        [applied] = eventually("the applied replay", lambda: results_for(stack, topics.results,
                                                                        {placed["command_id"]}), timeout=60)
        assert applied["status"] == 201 and not applied["replayed"]
        pending = dlq_cli(stack, "list", "--json", "--pending", "--topic", topics.dlq)
        assert [e["offset"] for e in pending] == [second["offset"]], "0:0 replayed since; the failed replay pending"

        dlq_cli(stack, "replay", "--all", "--stage", "sink.erp", "--topic", topics.dlq)
        results = eventually("two more results", lambda: (lambda got: got if len(got) == 3 else None)(
            results_for(stack, topics.results, {placed["command_id"]})), timeout=60)
        assert [r["replayed"] for r in results] == [False, True, True]
    finally:
        assert sink.stop() == 0, sink.log()[-4000:]
    orders = erp_rows(erp_db, "SELECT order_id FROM sales_orders WHERE crm_order_number = %s", order)
    assert len(orders) == 1 and str(orders[0]["order_id"]) == applied["assigned_ids"]["order_id"]
    [stock] = erp_rows(erp_db, "SELECT reserved FROM stock WHERE sku = %s AND warehouse_code = %s", sku, warehouse)
    assert stock["reserved"] == 4, "reserved once, however often the command was replayed"
    assert len(read_all(stack, topics.dlq, "DeadLetter")) == 2


def test_a_flows_dead_lettered_change_of_a_row_that_changed_since_is_not_replayed_stale(
        stack: RunningStack) -> None:
    """A flow dead-lettered a change of a row; the row changed again since, and the flow used that later change
    (it carries the row's current values). Replaying the old change as stored would send the old values again
    (a new user's replay so put a partner's old number back and deactivated its account): `dlq replay` leaves it,
    saying why, unless --stale."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    from streams.kafka.deadletters import DEAD_LETTER_TYPE, Original, dead_letter_value
    from streams.kafka.topics import TopicSpec, ensure_topics

    topics, _ = fresh_topics(stack, "stale")
    cdc = f"{topics.commands}.cdc"
    bootstrap = stack.settings.bootstrap_servers
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(name=cdc, partitions=1)]))
    CREATED_TOPICS.append(cdc)
    row, other = b'{"id": 7}', b'{"id": 8}'

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for key, value in ((row, b'{"nummer": 4711}'), (other, b'{"nummer": 1}'), (row, b'{"nummer": 4712}')):
                await producer.send_and_wait(cdc, value, key=key, partition=0)
            # the flow dead-lettered offsets 0 and 1 of the CDC topic and used row 7's later change at 2 (a change
            # it dead-lettered too would supersede nothing: it brought none of the row's values in)
            for offset, key in ((0, row), (1, other)):
                letter = dead_letter_value(Original(topic=cdc, partition=0, offset=offset, timestamp_ms=0, key=key,
                                                    value=b"{}"), reason="MergedRows", error_type="Rejected",
                                           stage="flow.test-partners", attempts=1, worker="w1")
                await producer.send_and_wait(topics.dlq, STORE.encode(DEAD_LETTER_TYPE, letter), key=key)
        finally:
            await producer.stop()

    asyncio.run(send())
    skipped, replayed = dlq_cli(stack, "replay", "0", "1", "--topic", topics.dlq, "--json")
    assert (replayed["dead_letter"], replayed["outcome"]) == ("0:1", "replayed"), "row 8 did not change since"
    assert (skipped["dead_letter"], skipped["outcome"]) == ("0:0", "skipped")
    assert "its row changed since: 1 later change(s) of it in " in skipped["why"]
    assert "the last at offset 2" in skipped["why"] and "--stale replays it anyway" in skipped["why"]
    assert "were used by the flow" in skipped["why"]
    forced = dlq_cli(stack, "replay", "0", "--topic", topics.dlq, "--stale", "--json")
    assert [(r["dead_letter"], r["outcome"]) for r in forced] == [("0:0", "replayed")]


def test_a_refused_create_sent_again_fixed_is_settled_as_superseded(stack: RunningStack, run: int,
                                                                   erp_db: pymysql.connections.Connection[Any]) -> None:
    """The trial's ERP refused a create (a name too long) and the update queued behind it found no account; the
    user fixed the source and the flow sent the create again, fixed (here: produced as the flow would), which the
    ERP applied. Those two dead letters are superseded; another entity's refused create, never fixed, is not."""
    topics, env = fresh_topics(stack, "settle")
    number, never = customer_number(run, 0), customer_number(run, 1)
    too_long = "N" * 201
    refused = command(target="erp", operation="create", payload_type="Account", entity_key=number,
                      payload=account_payload(number, name=too_long))
    behind = command(target="erp", operation="update", payload_type="Account", entity_key=number,
                     payload=account_payload(number, name=too_long + "!"), changed=["name"])
    unfixed = command(target="erp", operation="create", payload_type="Account", entity_key=never,
                      payload=account_payload(never, name=too_long))
    produce(stack, topics.commands, [refused, behind, unfixed])
    sink = SinkProcess(stack, "erp", env, name="settle")
    try:
        letters = eventually("three dead letters", lambda: (lambda got: got if len(got) == 3 else None)(
            read_all(stack, topics.dlq, "DeadLetter")), timeout=60)
        by_command = {STORE.decode(r.value["value"], "Command").value["command_id"]: r for r in letters if r.value}
        behind_letter = by_command[behind["command_id"]].value
        assert behind_letter is not None and behind_letter["error_type"] == "LookupFailed", behind_letter
        assert f"its create {refused['command_id']}" in behind_letter["reason"]
        listed = dlq_cli(stack, "settle", "--superseded", "--topic", topics.dlq, "--json")
        assert listed == [], "nothing was applied since: nothing is superseded"

        fixed = command(target="erp", operation="create", payload_type="Account", entity_key=number,
                        payload=account_payload(number, name="Fixed at the source"))
        produce(stack, topics.commands, [fixed])
        [applied] = eventually("the fixed create applied", lambda: results_for(stack, topics.results,
                                                                               {fixed["command_id"]}), timeout=60)
        assert applied["status"] == 201
        settled = dlq_cli(stack, "settle", "--superseded", "--topic", topics.dlq, "--results-topic", topics.results,
                          "--json")
        addresses = {f"{r.partition}:{r.offset}": r for r in letters}
        assert sorted(s["dead_letter"] for s in settled) == sorted(
            f"{by_command[c['command_id']].partition}:{by_command[c['command_id']].offset}" for c in (refused, behind))
        for row in settled:
            assert row["stage"] == "sink.erp" and addresses[row["dead_letter"]].key == number.encode()
            assert row["reason"].startswith(f"superseded by create {fixed['command_id']} of {number} ("), row["reason"]
            assert ", created " in row["reason"], row["reason"]
            assert f"applied ({topics.results}[" in row["reason"], row["reason"]
        pending = dlq_cli(stack, "list", "--pending", "--json", "--topic", topics.dlq)
        assert [(p["entity"], p["status"]) for p in pending] == [(never, "pending")]
        assert _dashboard_pending(stack, topics.dlq) == 1, "isthmus_dead_letters_pending reads the same status"
        statuses = [p["status"] for p in dlq_cli(stack, "list", "--json", "--topic", topics.dlq)
                    if p["entity"] == number]
        assert statuses == ["settled", "settled"]
        again = dlq_cli(stack, "settle", "--superseded", "--topic", topics.dlq, "--results-topic", topics.results,
                        "--json")
        assert again == [], "a settled letter is no longer pending"
    finally:
        assert sink.stop() == 0, sink.log()[-4000:]
    [row] = erp_rows(erp_db, "SELECT name FROM accounts WHERE crm_customer_number = %s", number)
    assert row["name"] == "Fixed at the source"
