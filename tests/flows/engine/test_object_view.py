"""Objects kept decoded for a batch (``Context.objects``): written once per changed key when the batch ends, and
undone with the scope a rejected record ran in; and the packed values they are stored as."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from support.object_codecs import CounterCodec

from streams.flows.engine.api import Incoming, Rejected, StoreValueError
from streams.flows.engine.packed import fingerprint, is_packed, pack, unpack
from streams.flows.engine.staging import RecordContext
from streams.flows.engine.stores import MemoryStore


class Counting(MemoryStore):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.puts = 0

    def put_raw(self, key: str, raw: bytes | None) -> None:
        self.puts += 1
        super().put_raw(key, raw)


def _record(offset: int) -> Incoming:
    return Incoming(topic="in", partition=0, offset=offset, key=None, value=b"x", timestamp_ms=0)


def _bump(ctx: RecordContext, key: str, field: str, *, reject: bool = False) -> None:
    view = ctx.objects("s", CounterCodec())
    value = view.get(key)
    value[field] = value.get(field, 0) + 1
    view.put(key, value)
    if reject:
        raise Rejected("no")


def test_a_key_changed_by_many_records_is_written_once_and_a_rejected_record_is_undone() -> None:
    store = Counting("s")
    store.put_raw("k", pack({"a": 10}))
    store.take_changes()
    store.puts = 0
    ctx = RecordContext(memory={"s": store})
    for offset, reject in enumerate((False, False, True, False)):
        with ctx.isolated(_record(offset)):
            _bump(ctx, "k", "a", reject=reject)
            with ctx.isolated(_record(offset)):  # a nested scope (a released record) that is kept
                _bump(ctx, "k", "b")
    assert store.puts == 0
    ctx.flush()
    assert store.puts == 1 and unpack(store.take_changes()["k"] or b"") == {"a": 13, "b": 3}
    assert [d.record.offset for d in ctx.dead_letters] == [2]


def test_a_rejected_nested_scope_undoes_only_its_own_change() -> None:
    store = MemoryStore("s")
    ctx = RecordContext(memory={"s": store})
    with ctx.isolated(_record(0)):
        _bump(ctx, "k", "a")
        with ctx.isolated(_record(1)):
            _bump(ctx, "k", "a", reject=True)
        _bump(ctx, "j", "a")
    ctx.flush()
    assert {k: unpack(v or b"") for k, v in store.take_changes().items()} == {"k": {"a": 1}, "j": {"a": 1}}


def test_packed_values_read_back_equal_and_are_told_from_json() -> None:
    shanghai = dt.datetime(2026, 3, 10, 14, 0, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    value = {"d": Decimal("12.50"), "t": dt.datetime(2026, 3, 10, 6, 0, 0, 123456, tzinfo=dt.UTC),
             "local": shanghai, "naive": dt.datetime(2026, 3, 10, 6, 0), "day": dt.date(2026, 4, 1),
             "nested": {"x": [Decimal("0.00"), None, True, 1, 1.5, "s"]}, "old": dt.datetime(1901, 1, 1, tzinfo=dt.UTC),
             "rows": [{"d": Decimal("-1.5"), "in": [[dt.date(2026, 1, 2)], {}]}, [], None]}
    raw = pack(value)
    assert is_packed(raw) and not is_packed(b'{"a":1}')
    back = unpack(raw)
    assert back == value and back["local"].utcoffset() == shanghai.utcoffset() and str(back["d"]) == "12.50"
    assert back["naive"].tzinfo is None
    with pytest.raises(StoreValueError, match="cannot be packed"):
        pack({"t": {1, 2}})


def test_a_fingerprint_changes_with_the_value_and_not_with_key_order() -> None:
    a = {"name": "A", "limit": Decimal("1.00"), "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    assert fingerprint(a) == fingerprint(dict(reversed(a.items())))
    assert fingerprint(a) != fingerprint({**a, "limit": Decimal("1.0")})
    assert fingerprint(a) != fingerprint({**a, "name": "B"}) and fingerprint(None) is None
