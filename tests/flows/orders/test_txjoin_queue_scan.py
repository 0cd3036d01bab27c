"""A change looks only at the queued transactions it has not looked at before.

A trial's CRM committed one transaction of 26,000 rows, then thousands of one-row transactions; the transaction
topic ran ahead of the table topics, so their ENDs queued behind the large one (released in commit order), and
every change that arrived walked the whole queue looking for transactions to abandon: 74 % of the worker's time,
~35 records a second, the event loop silent for longer than the group's session. Each table now keeps the prefix
of the queue it has found complete (``clear``, :data:`~streams.flows.orders.txjoin.QUEUE`), so a change walks only
what came after it."""

from __future__ import annotations

from typing import Any

import pytest
from order_events import Cdc, Change, crm_line, crm_order

from reference.topics import CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS
from streams.codecs import ChangeEvent, TransactionEvent, decode
from streams.flows.engine.api import Incoming
from streams.flows.engine.stores import MemoryStore
from streams.flows.orders.txjoin import QUEUE, Buffered, JoinCodec, TransactionJoin

pytestmark = pytest.mark.unit

COLLECTIONS = ("crm.sales_orders", "crm.sales_order_lines")
SMALL = 400


class Counting(MemoryStore):
    """A store that counts the look-ups of transactions' states."""

    def __init__(self) -> None:
        super().__init__("tx")
        self.looked = 0

    def get(self, key: str) -> Any:
        if key.startswith("tx:"):
            self.looked += 1
        return super().get(key)


def _incoming(rec: Any, offset: int) -> Incoming:
    return Incoming(topic=rec.topic, partition=0, offset=offset, key=rec.key, value=rec.value, timestamp_ms=7)


def _change(rec: Any) -> ChangeEvent:
    event = decode(rec.value, rec.key, topic=rec.topic)
    assert isinstance(event, ChangeEvent)
    return event


def _end(rec: Any) -> TransactionEvent:
    event = decode(rec.value, rec.key, topic=rec.topic)
    assert isinstance(event, TransactionEvent)
    return event


def test_changes_of_small_transactions_queued_behind_a_large_one_do_not_walk_the_queue(cdc: Cdc) -> None:
    store = Counting()
    join = TransactionJoin.on_store(store, COLLECTIONS, codec=JoinCodec(Buffered(limit=0)))
    large = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(1, "SO-1", 1)),
                                 Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(10, 1, 1, "SKU-1"))])
    small = [cdc.crm_transaction([Change(CRM_SALES_ORDERS, "u", before=crm_order(1, "SO-1", 1),
                                         after=crm_order(1, f"SO-1-{n}", 1))]) for n in range(SMALL)]
    # The transaction topic runs ahead: every END is handled before the changes; the large one's order comes.
    offset = 0
    for tx in (large, *small):
        assert join.end(_end(tx.end)) == []
    assert join.add(_incoming(large.changes[0], offset), _change(large.changes[0])) == []
    store.looked = 0
    for tx in small:
        offset += 1
        assert join.add(_incoming(tx.changes[0], offset), _change(tx.changes[0])) == []
    # Each change looks at the transactions after the prefix found complete before it, not at the whole queue
    # (before: SMALL * SMALL / 2 = 80,000 look-ups).
    assert store.looked < 6 * SMALL
    queue = store.get(QUEUE)
    assert len(queue["txs"]) == SMALL + 1 and set(queue["clear"]) == {"crm.sales_orders"}
    # The large transaction's line arrives: every transaction is released, in commit order, with its change.
    released = join.add(_incoming(large.changes[1], offset + 1), _change(large.changes[1]))
    assert [len(j.records) for j in released] == [2, *([1] * SMALL)] and not any(j.missing for j in released)
    assert [j.tx_key for j in released] == queue["txs"]
    assert store.get(QUEUE) == {"txs": []}


def test_a_transaction_still_missing_a_change_is_abandoned_by_a_later_one_after_the_clear_prefix(cdc: Cdc) -> None:
    """The prefix holds only what is complete in the table: a transaction after it that misses a change of the
    table is abandoned by the next change of a later transaction of that table, as before."""
    store = Counting()
    join = TransactionJoin.on_store(store, COLLECTIONS, codec=JoinCodec(Buffered(limit=0)))
    blocker = cdc.crm_transaction([Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(10, 9, 1, "SKU-1"))])
    first, lost, later = (cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(n, f"SO-{n}", 1))])
                          for n in (1, 2, 3))
    keys = [_end(tx.end).tx_key for tx in (blocker, first, lost, later)]
    for tx in (blocker, first, lost, later):
        assert join.end(_end(tx.end)) == []
    assert join.add(_incoming(first.changes[0], 0), _change(first.changes[0])) == []
    assert store.get(QUEUE) == {"txs": keys, "clear": {"crm.sales_orders": keys[0]}}
    (abandoned,) = join.add(_incoming(later.changes[0], 1), _change(later.changes[0]))
    assert (abandoned.tx_key, abandoned.missing, abandoned.records) == (keys[2], ("crm.sales_orders",), ())
    assert store.get(QUEUE) == {"txs": [keys[0], keys[1], keys[3]], "clear": {"crm.sales_orders": keys[1]}}
    # The blocker's line completes it: the rest is released in commit order.
    released = join.add(_incoming(blocker.changes[0], 2), _change(blocker.changes[0]))
    assert [j.tx_key for j in released] == [keys[0], keys[1], keys[3]]
    assert store.get(QUEUE) == {"txs": []}
