"""Hand-made envelopes for what the capture cannot produce safely: truncate, bad input of every kind."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from streams.codecs import ChangeEvent, Op, Tombstone, decode, decode_key
from streams.codecs.exceptions import FieldDecodeError, MalformedJson, NotAnEnvelope

FIELDS = [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "note", "type": "string", "optional": True},
]


def test_truncate_has_no_images(make_envelope: Callable[..., bytes]) -> None:
    event = decode(make_envelope(FIELDS, op="t"), topic="test.crm.things")
    assert isinstance(event, ChangeEvent) and event.op is Op.TRUNCATE
    assert event.before is None and event.after is None and event.row is None


def test_null_fields_in_an_image(make_envelope: Callable[..., bytes]) -> None:
    event = decode(make_envelope(FIELDS, op="c", after={"id": 1, "note": None}))
    assert isinstance(event, ChangeEvent)
    assert event.after == {"id": 1, "note": None}


def test_images_are_immutable(make_envelope: Callable[..., bytes]) -> None:
    event = decode(make_envelope(FIELDS, op="c", after={"id": 1, "note": "x"}))
    assert isinstance(event, ChangeEvent) and event.after is not None
    with pytest.raises(TypeError):
        event.after["id"] = 2  # type: ignore[index]


def test_tombstone_without_key() -> None:
    assert decode(None, None) == Tombstone(key=None)


def test_key_with_a_primitive_schema() -> None:
    key = json.dumps({"schema": {"type": "string", "optional": False}, "payload": "SKU-1"})
    assert decode_key(key) == {"value": "SKU-1"}


def test_delete_without_before_image_is_refused(make_envelope: Callable[..., bytes]) -> None:
    with pytest.raises(FieldDecodeError, match="'before'"):
        decode(make_envelope(FIELDS, op="d"), where="test.crm.things/0@7")


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
def test_malformed_json(raw: bytes) -> None:
    with pytest.raises(MalformedJson) as caught:
        decode(raw, where="crm.customers/0@12")
    assert caught.value.where == "crm.customers/0@12" and caught.value.reason


def test_schemas_disabled_is_not_an_envelope() -> None:
    with pytest.raises(NotAnEnvelope, match=r"schemas\.enable=true"):
        decode(json.dumps({"op": "c", "after": {"id": 1}}).encode())


@pytest.mark.parametrize(
    "payload,match",
    [
        ({"op": "x"}, "not a Debezium operation"),
        ({"op": "c"}, "no source block"),
        (["c"], "not an object"),
    ],
)
def test_not_a_debezium_envelope(make_envelope: Callable[..., bytes], payload: object, match: str) -> None:
    document = json.loads(make_envelope(FIELDS, op="c", after={"id": 1}))
    document["payload"] = payload
    with pytest.raises(NotAnEnvelope, match=match):
        decode(json.dumps(document).encode())


def test_source_without_commit_time_is_refused(
    make_envelope: Callable[..., bytes], make_source: Callable[..., dict[str, Any]]
) -> None:
    source = make_source()
    del source["ts_ms"]
    with pytest.raises((NotAnEnvelope, FieldDecodeError)):
        decode(make_envelope(FIELDS, op="c", after={"id": 1}, source=source))


def test_source_commit_time_falls_back_to_milliseconds(
    make_envelope: Callable[..., bytes], make_source: Callable[..., dict[str, Any]]
) -> None:
    source = make_source(ts_us=None)
    event = decode(make_envelope(FIELDS, op="c", after={"id": 1}, source=source))
    assert isinstance(event, ChangeEvent)
    assert event.source.commit_time.isoformat() == "2024-03-09T16:00:00.123000+00:00"


@pytest.mark.parametrize("extreme", [2**63 - 1, -(2**63)])
def test_int64_extremes_decode_exactly(make_envelope: Callable[..., bytes], extreme: int) -> None:
    """Connect's int64 is a Java long: the fast parser must read its whole range without rounding."""
    event = decode(make_envelope(FIELDS, op="c", after={"id": extreme, "note": None}))
    assert isinstance(event, ChangeEvent) and event.after == {"id": extreme, "note": None}


DATED = [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "due", "type": "int32", "name": "io.debezium.time.Date", "optional": True},
]
INFINITY_DAYS = -2147472692  # how the service desk's DATE 'infinity' arrived


@pytest.mark.parametrize("name, value", [("io.debezium.time.Date", INFINITY_DAYS),
                                         ("io.debezium.time.MicroTimestamp", 9223372036825200000),
                                         ("io.debezium.time.Timestamp", -9223372036832400000)])
def test_a_date_beyond_year_9999_names_its_column_and_the_fix(make_envelope: Callable[..., bytes], name: str,
                                                               value: int) -> None:
    """Was a bare ``OverflowError: days=-2147472692`` naming no column."""
    fields = [DATED[0], {**DATED[1], "type": "int64", "name": name}]
    with pytest.raises(FieldDecodeError) as refused:
        decode(make_envelope(fields, op="c", after={"id": 1, "due": value}), where="desk.ticket/0@7")
    assert refused.value.where == "desk.ticket/0@7 after.due"
    assert f"value {value} is beyond the dates" in refused.value.reason
    assert "'infinity'" in refused.value.reason and "Fix: set the row's value to a real date" in refused.value.reason


def test_an_update_whose_before_image_does_not_decode_is_decoded_from_its_after_image(
        make_envelope: Callable[..., bytes], caplog: pytest.LogCaptureFixture) -> None:
    """REPLICA IDENTITY FULL: the update that corrects an 'infinity' date carries it in its before image; it goes
    through as an update without a before image would, said once per topic and column."""
    raw = make_envelope(DATED, op="u", before={"id": 1, "due": INFINITY_DAYS}, after={"id": 1, "due": 19823})
    with caplog.at_level("WARNING", logger="streams.codecs.debezium.envelope"):
        first = decode(raw, topic="desk.public.ticket_infinity", where="desk.public.ticket_infinity/0@8")
        again = decode(raw, topic="desk.public.ticket_infinity", where="desk.public.ticket_infinity/0@9")
    assert isinstance(first, ChangeEvent) and first.before is None
    assert first.after == {"id": 1, "due": dt.date(2024, 4, 10)}
    assert isinstance(again, ChangeEvent) and again.before is None
    said = [r.getMessage() for r in caplog.records if "before image was dropped" in r.getMessage()]
    assert len(said) == 1 and "its column due does not decode" in said[0]


@pytest.mark.parametrize("op, images", [
    ("u", {"before": {"id": 1, "due": 19823}, "after": {"id": 1, "due": INFINITY_DAYS}}),
    ("d", {"before": {"id": 1, "due": INFINITY_DAYS}}),
])
def test_the_image_a_change_stands_on_still_decodes_strictly(make_envelope: Callable[..., bytes], op: str,
                                                              images: dict[str, Any]) -> None:
    with pytest.raises(FieldDecodeError, match="beyond the dates"):
        decode(make_envelope(DATED, op=op, **images), where="desk.ticket/0@7")
