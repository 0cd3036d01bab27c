"""Canonical values through a flow's JSON state store (streams.flows.engine.values): read back equal, or refused
with what to do."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import orjson
import pytest

from streams.flows.engine.api import StoreValueError, decode_json, encode_json
from streams.flows.engine.values import from_store, to_store

pytestmark = pytest.mark.unit


def test_a_float_is_kept_and_read_back_as_the_same_float() -> None:
    value = {"ratio": 0.1, "weight": -2.5e-7, "big": 1.7976931348623157e308, "limit": Decimal("1.10"),
             "at": dt.datetime(2026, 3, 10, 6, 30, tzinfo=dt.UTC), "counts": [1, 2.0]}
    back = from_store(decode_json(encode_json(to_store(value))))
    assert back == value
    assert type(back["ratio"]) is float and type(back["limit"]) is Decimal and type(back["counts"][1]) is float


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_float_json_cannot_hold_is_refused_with_what_to_do(bad: float) -> None:
    with pytest.raises(StoreValueError, match=r"JSON has no NaN or infinity.*map it to null"):
        to_store({"reading": bad})
    assert orjson.dumps(bad) == b"null", "what JSON would have kept silently instead"


def test_a_time_of_day_is_kept_and_read_back_as_the_same_time() -> None:
    """A TIME column's value (a datetime.time, with a zone from PostgreSQL's TIME WITH TIME ZONE)."""
    for value in (dt.time(9, 30), dt.time(23, 59, 59, 999999), dt.time(1, 2, 3, tzinfo=dt.UTC)):
        kept = to_store({"at": value})
        assert json.loads(json.dumps(kept)) == kept and from_store(kept) == {"at": value}
