"""Hand-made envelopes for what the capture cannot produce safely: truncate, bad input of every kind."""

from __future__ import annotations

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
