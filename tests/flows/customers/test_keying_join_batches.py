"""The keying stage's transaction join per batch (issue 17): a partitioned customer flow joins in its keying stage,
which keeps the join's state as objects for the batch like the one-partition flow does, so that a transaction the
batch completes (or its tick abandons) leaves nothing in the join's store nor its changelog, and one it leaves
open is stored and restores from the changelog; the router routes each change with the event the join decoded."""

from __future__ import annotations

import asyncio

import pytest
from customer_harness import Harness
from support.tx_events import end_of, one_transaction

from streams.flows.customers.txnet import join_store
from streams.flows.engine.local import LocalRun
from streams.flows.engine.repartition import partitioned
from streams.flows.orders.txjoin import ABANDONED

pytestmark = pytest.mark.unit

NUMBER = "C-840001"
JOIN = join_store("crm")
PARTITIONS = 3


def _stage(harness: Harness) -> LocalRun:
    return LocalRun(partitioned(harness.flow.spec(), PARTITIONS).stage, flush_each_feed=False)


def _join_keys(changes: dict[str, bytes | None]) -> list[str]:
    return sorted(k for k in changes if k.startswith(("tx:", "ev:")))


def test_a_keying_batch_that_completes_a_transaction_writes_no_join_keys(harness: Harness) -> None:
    stage = _stage(harness)
    systems = harness.systems
    records = one_transaction([systems.crm_create(NUMBER, name="Keyed Co"), systems.crm_edit(NUMBER, name="Keyed 2")])
    asyncio.run(stage.feed([stage.record(*r) for r in records]))
    stage.end_batch()
    assert [e.key for e in stage.context.emitted] == [NUMBER.encode()] * 2
    changes = stage.context.memory[JOIN].take_changes()
    assert _join_keys(changes) == []  # neither written nor deleted
    assert changes["queue"] is not None


def test_a_transaction_the_keying_batch_leaves_open_restores_from_the_changelog(harness: Harness) -> None:
    stage = _stage(harness)
    change = harness.systems.crm_create(NUMBER, name="Keyed Co")
    end = stage.record(*end_of([change]))
    asyncio.run(stage.feed([stage.record(*change)]))
    stage.end_batch()
    assert stage.context.emitted == []  # waits for its END
    written = {name: store.take_changes() for name, store in stage.context.memory.items()}
    assert [k.split(":")[0] for k in _join_keys(written[JOIN])] == ["ev", "tx"]
    restarted = _stage(harness)  # a crash after the batch committed
    for name, store in restarted.context.memory.items():
        store.restore_batch(list(written[name].items()), position=1)
    asyncio.run(restarted.feed([end]))
    restarted.end_batch()
    assert [e.key for e in restarted.context.emitted] == [NUMBER.encode()]
    changes = restarted.context.memory[JOIN].take_changes()
    assert {k: v for k, v in changes.items() if k.startswith(("tx:", "ev:"))} == dict.fromkeys(
        _join_keys(written[JOIN]))  # released: deleted


def test_a_transaction_the_keying_tick_abandons_within_the_batch_writes_no_join_keys(harness: Harness) -> None:
    stage = _stage(harness)
    systems = harness.systems
    created, _edited, end = one_transaction([systems.crm_create(NUMBER, name="Keyed Co"),
                                             systems.crm_edit(NUMBER, name="Keyed 2")])
    asyncio.run(stage.feed([stage.record(*created), stage.record(*end)]))  # the edit never comes
    assert stage.context.emitted == []
    stage.tick()  # every input read to its end: the transaction is abandoned with what it has
    assert [e.key for e in stage.context.emitted] == [NUMBER.encode()]
    assert _join_keys(stage.context.memory[JOIN].take_changes()) == []


def test_the_keying_stage_routes_a_change_with_the_event_its_join_decoded(harness: Harness) -> None:
    stage = _stage(harness)
    systems = harness.systems
    records = [stage.record(*r) for r in one_transaction([systems.crm_create(NUMBER, name="Keyed Co")])]
    asyncio.run(stage.feed(records))
    stage.end_batch()
    assert [e.key for e in stage.context.emitted] == [NUMBER.encode()]
    assert harness.flow.transactions.decoded(records[0]) is None  # taken by the router: decoded once, not twice


def test_the_keying_stage_counts_a_transaction_a_later_change_abandons(harness: Harness) -> None:
    stage = _stage(harness)
    systems = harness.systems
    created, _edited, end = one_transaction([systems.crm_create(NUMBER, name="Keyed Co"),
                                             systems.crm_edit(NUMBER, name="Keyed 2")])
    later = one_transaction([systems.crm_edit(NUMBER, name="Keyed 3")])
    asyncio.run(stage.feed([stage.record(*created), stage.record(*end), stage.record(*later[0])]))
    assert stage.context.counts[ABANDONED] == 1  # the edit of the first one never came before the later change
    assert [e.key for e in stage.context.emitted] == [NUMBER.encode()]  # what the first one had goes on
