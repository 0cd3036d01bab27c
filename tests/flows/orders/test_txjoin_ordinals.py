"""The ordinals a transaction holds grow by appending to one list its states share (adding a change copied the
whole list before: quadratic in the changes held, every copy kept by the batch's undo journal), and a state undone
does not leak its ordinal into the states after the undo."""

from __future__ import annotations

import dataclasses

import pytest
from order_events import Cdc, Change, crm_line, crm_order

from reference.topics import CRM_SALES_ORDER_LINES, CRM_SALES_ORDERS
from streams.codecs import ChangeEvent, decode
from streams.codecs.debezium.envelope import TransactionEvent
from streams.flows.engine.api import Incoming, Rejected
from streams.flows.engine.staging import RecordContext
from streams.flows.engine.stores import MemoryStore
from streams.flows.orders.txjoin import JoinCodec, Joined, Ordinals, TransactionJoin

pytestmark = pytest.mark.unit

COLLECTIONS = ("crm.sales_orders", "crm.sales_order_lines")


def test_appending_shares_the_list_and_an_undone_state_is_not_seen() -> None:
    one = Ordinals.of([1])
    two = one.plus(2)
    three = two.plus(3)
    assert (list(one), list(two), list(three)) == ([1], [1, 2], [1, 2, 3])
    assert two._items is one._items is three._items  # no copy while each state is the longest
    other = two.plus(9)  # three was undone: two goes on from a copy of its own
    assert (list(two), list(three), list(other)) == ([1, 2], [1, 2, 3], [1, 2, 9])
    assert (len(other), 3 in other, 9 in two) == (3, False, False)
    assert Ordinals.of([4, 5]) == [4, 5] and Ordinals.of(other) is other


def _changes(cdc: Cdc, lines: int) -> list[tuple[Incoming, ChangeEvent]]:
    tx = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, "SO-1", 1)),
                              *(Change(CRM_SALES_ORDER_LINES, "c", after=crm_line(30 + n, 21, n, f"SKU-{n}"))
                                for n in range(lines))])
    decoded = []
    for n, rec in enumerate(tx.changes):
        record = Incoming(topic=rec.topic, partition=0, offset=n, key=rec.key, value=rec.value, timestamp_ms=0)
        event = decode(rec.value, rec.key, topic=rec.topic)
        assert isinstance(event, ChangeEvent)
        decoded.append((record, event))
    return decoded


def test_a_change_undone_leaves_the_held_ordinals_as_before_it(cdc: Cdc) -> None:
    ctx = RecordContext(memory={"tx": MemoryStore("tx")})
    join = TransactionJoin(ctx.objects("tx", JoinCodec()), COLLECTIONS)
    changes = _changes(cdc, 4)
    order, first, second, third, fourth = changes
    for record, event in (order, first, second):
        with ctx.isolated(record):
            assert join.add(record, event) == []
    with ctx.isolated(third[0]):
        join.add(*third)
        raise Rejected("the third line only")
    with ctx.isolated(fourth[0]):
        join.add(*fourth)
    ctx.flush()
    (state,) = [v for k, v in ctx.memory["tx"].items() if k.startswith("tx:")]
    ordinal = {id(record): event.transaction.total_order for record, event in changes  # type: ignore[union-attr]
               }
    assert state["have"] == {  # type: ignore[index,call-overload]
        "crm.sales_orders": [ordinal[id(order[0])]],
        "crm.sales_order_lines": [ordinal[id(r)] for r, _ in (first, second, fourth)]}  # plain JSON lists
    assert [d.record for d in ctx.dead_letters] == [third[0]]


def test_a_released_transaction_holds_every_field_as_its_init_sets_them(cdc: Cdc) -> None:
    """The join sets a released transaction's fields at once, not through the frozen dataclass's ``__init__``."""
    ctx = RecordContext(memory={"tx": MemoryStore("tx")})
    join = TransactionJoin(ctx.objects("tx", JoinCodec()), COLLECTIONS)
    tx = cdc.crm_transaction([Change(CRM_SALES_ORDERS, "c", after=crm_order(21, "SO-1", 1))])
    for n, rec in enumerate(tx.changes):
        event = decode(rec.value, rec.key, topic=rec.topic)
        assert isinstance(event, ChangeEvent)
        assert join.add(Incoming(topic=rec.topic, partition=0, offset=n, key=rec.key, value=rec.value,
                                 timestamp_ms=0), event) == []
    end = decode(tx.end.value, tx.end.key, topic=tx.end.topic)
    assert isinstance(end, TransactionEvent)
    (released,) = join.end(end)
    assert released.complete and len(released.records) == 1 and not released.parted
    assert list(vars(released)) == [f.name for f in dataclasses.fields(Joined)]
    assert Joined(**vars(released)) == released
