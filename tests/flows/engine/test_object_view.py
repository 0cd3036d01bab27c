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


class ReplacedCodec:
    """Values replaced whole by every put, never changed in place: the view saves nothing at a get."""

    replaced_whole = True

    def decode(self, key: str, raw: bytes | None) -> dict[str, int] | None:
        return None if raw is None else unpack(raw)

    def encode(self, key: str, value: dict[str, int] | None) -> bytes | None:
        return None if value is None else pack(value)

    def copy(self, value: dict[str, int] | None) -> dict[str, int] | None:
        return value


def _replace(ctx: RecordContext, key: str, *, reject: bool = False) -> None:
    view = ctx.objects("s", ReplacedCodec())
    value = view.get(key) or {"n": 0}
    view.put(key, {"n": value["n"] + 1})
    if reject:
        raise Rejected("no")


def test_replaced_values_are_undone_with_their_scopes_and_written_once() -> None:
    store = Counting("s")
    store.put_raw("k", pack({"n": 10}))
    store.take_changes()
    store.puts = 0
    ctx = RecordContext(memory={"s": store})
    for offset, reject in enumerate((False, True, False)):
        with ctx.isolated(_record(offset)):
            _replace(ctx, "k")
            with ctx.isolated(_record(offset)):  # undone alone, or kept
                _replace(ctx, "k", reject=reject)
            _replace(ctx, "new")
    with ctx.isolated(_record(3)):  # undone whole: a key first read in it is read from the store again
        _replace(ctx, "k")
        _replace(ctx, "other", reject=True)
    assert ctx.objects("s", ReplacedCodec()).dirty() == ["k", "new"]
    ctx.flush()
    assert store.puts == 2
    assert {k: unpack(v or b"") for k, v in store.take_changes().items()} == {"k": {"n": 15}, "new": {"n": 3}}


def test_a_replaced_value_removed_where_the_store_has_none_is_not_written() -> None:
    store = Counting("s")
    ctx = RecordContext(memory={"s": store})
    view = ctx.objects("s", ReplacedCodec())
    with ctx.isolated(_record(0)):
        view.put("k", {"n": 1})
        view.put("k", None)
    ctx.flush()
    assert store.puts == 0
