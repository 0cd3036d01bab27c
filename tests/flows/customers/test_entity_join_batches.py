"""The transaction join's state per batch (issue 17): kept as objects for the batch and written once when it ends,
so that a transaction the batch completes leaves nothing in the join's store nor its changelog, one the batch
leaves open is in the store as before (and restores from its changelog), and a rejected record's part of the join
is undone with the rest of what it did."""

from __future__ import annotations

import asyncio
import json

import pytest
from customer_harness import Harness
from support.tx_events import end_of

from streams.codecs import ChangeEvent, decode
from streams.flows.customers.txnet import join_store
from streams.flows.engine.api import Context, Incoming, Rejected
from streams.flows.engine.local import LocalRun
from streams.flows.engine.staging import RecordContext, handle_record
from streams.flows.engine.stores import MemoryStore
from streams.flows.orders.txjoin import JoinCodec, TransactionJoin, collection
from streams.flows.parking import record_to_state

pytestmark = pytest.mark.unit

NUMBER = "C-830001"
JOIN = join_store("crm")


def _change_and_end(harness: Harness, run: LocalRun) -> tuple[Incoming, Incoming]:
    change = harness.systems.crm_create(NUMBER, name="Join Co")
    end = end_of([change])
    return run.record(*change), run.record(*end)


def _creates(run: LocalRun) -> list[bytes | None]:
    return [e.key for e in run.context.emitted if e.topic.endswith("commands.erp")]


def _join_keys(changes: dict[str, bytes | None]) -> list[str]:
    return sorted(k for k in changes if k.startswith(("tx:", "ev:")))


def test_a_transaction_the_batch_completes_leaves_no_join_keys_in_the_changelog(harness: Harness) -> None:
    run = LocalRun(harness.flow.spec(), flush_each_feed=False)
    change, end = _change_and_end(harness, run)
    asyncio.run(run.feed([change, end]))
    run.end_batch()
    assert len(_creates(run)) == 1
    changes = run.context.memory[JOIN].take_changes()
    assert _join_keys(changes) == []  # neither written nor deleted
    assert changes["queue"] is not None


def test_a_transaction_left_open_is_stored_and_restores_from_the_changelog(harness: Harness) -> None:
    run = LocalRun(harness.flow.spec(), flush_each_feed=False)
    change, end = _change_and_end(harness, run)
    asyncio.run(run.feed([change]))
    run.end_batch()
    written = {name: store.take_changes() for name, store in run.context.memory.items()}
    assert [k.split(":")[0] for k in _join_keys(written[JOIN])] == ["ev", "tx"]
    restarted = LocalRun(harness.flow.spec(), flush_each_feed=False)  # a crash after the batch committed
    for name, store in restarted.context.memory.items():
        store.restore_batch(list(written[name].items()), position=1)
    asyncio.run(restarted.feed([end]))
    restarted.end_batch()
    assert len(_creates(restarted)) == 1
    changes = restarted.context.memory[JOIN].take_changes()
    assert {k: v for k, v in changes.items() if k.startswith(("tx:", "ev:"))} == dict.fromkeys(
        _join_keys(written[JOIN]))  # released: deleted


def test_a_rejected_record_takes_its_change_out_of_the_join(harness: Harness) -> None:
    run = LocalRun(harness.flow.spec(), flush_each_feed=False)
    change, end = _change_and_end(harness, run)
    flow = harness.flow

    def rejecting(record: Incoming, ctx: Context) -> None:
        flow.handle(record, ctx)  # the change joins its transaction...
        raise Rejected("refused after the join")  # ...and the record is rejected: undone, join included

    asyncio.run(handle_record(rejecting, change, run.context))
    asyncio.run(run.feed([end]))  # in the same batch: the END finds the transaction without its change
    run.end_batch()
    assert _creates(run) == []
    assert [d.record for d in run.context.dead_letters] == [change]
    stored = run.context.memory[JOIN]
    assert [k for k, _ in stored.items() if k.startswith("ev:")] == []
    assert [{k: v for k, v in v.items() if k != "end"} for k, v in stored.items() if k.startswith("tx:")] == [
        {"expected": {"crm.customers": 1}, "have": {}}]  # waits for the change, which comes again after a replay


def test_an_inner_rejection_keeps_the_outer_scopes_join_writes(harness: Harness) -> None:
    ctx = RecordContext(memory={"tx": MemoryStore("tx")})
    outer, inner = (_decoded(harness.systems.crm_create(n, name="Scoped")) for n in ("C-830011", "C-830012"))
    join = TransactionJoin(ctx.objects("tx", JoinCodec()), [collection(outer[1])])
    with ctx.isolated(outer[0]):
        join.add(*outer)
        with ctx.isolated(inner[0]):
            join.add(*inner)  # a second transaction, and a later floor of the same table
            raise Rejected("the inner record only")
    ctx.flush()
    assert outer[1].transaction is not None and outer[1].source.lsn is not None
    tx = outer[1].transaction.tx_key
    assert dict(ctx.memory["tx"].items()) == {
        f"ev:{tx}:1": record_to_state(outer[0]), f"tx:{tx}": {"expected": None, "have": {"crm.customers": [1]}},
        "floor:crm.customers": {"stream": "lsn", "at": outer[1].source.lsn - 1},
        "unended:crm.customers": {"txs": [[tx, "lsn", outer[1].source.lsn - 1]]}}  # its END still to come
    assert [d.record for d in ctx.dead_letters] == [inner[0]]


def _decoded(change: tuple[str, bytes, bytes]) -> tuple[Incoming, ChangeEvent]:
    """The change as read, its source naming the last commit before it (so that it has a floor)."""
    topic, key, value = change
    data = json.loads(value)
    lsn = data["payload"]["source"]["lsn"]
    data["payload"]["source"]["sequence"] = json.dumps([str(lsn - 1), str(lsn)])
    value = json.dumps(data).encode()
    record = Incoming(topic=topic, partition=0, offset=0, key=key, value=value, timestamp_ms=0)
    event = decode(value, key, topic=topic)
    assert isinstance(event, ChangeEvent)
    return record, event
