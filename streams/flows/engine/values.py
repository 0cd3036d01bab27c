"""Canonical values in a flow's JSON state stores and back, without loss (every flow uses this).

Store values must be JSON objects, but canonical values hold exact decimals and UTC times. They are
tagged on the way in (``{"$decimal": "12.50"}``, ``{"$time": "2024-03-10T06:30:00+00:00"}``,
``{"$date": "2024-03-10"}``, a time of day ``{"$time_of_day": "10:30:00"}``) and restored on the way out, so a
value read back compares equal to the one written and encodes under its Avro schema unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streams.flows.engine.api import StoreValueError

_DECIMAL, _TIME, _DATE, _TIME_OF_DAY = "$decimal", "$time", "$date", "$time_of_day"
#: Tags the order and stock flows wrote before the flows shared this module; changelogs may still hold them.
_OLD_TAGS = {"$dec": _DECIMAL, "$ts": _TIME}

__all__ = ["StoreValueError", "from_store", "to_store"]


def to_store(value: Any) -> Any:
    """``value`` as plain JSON (tagged decimals and times)."""
    kind = type(value)  # the exact types most values have first: every value of a flow's state passes here
    if kind is str or kind is int or value is None or kind is bool:
        return value
    if kind is dict:
        return {str(k): to_store(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_store(v) for v in value]
    return _tagged(value)


def _tagged(value: Any) -> Any:
    """:func:`to_store` of a value of any other type (a decimal, a time, a float, a read-only mapping, a
    subclass of a plain type)."""
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):  # a double column or an Avro double: JSON holds it, except NaN and infinities
        if not math.isfinite(value):
            raise StoreValueError(f"a float {value!r} cannot be kept in a state store (JSON has no NaN or infinity); "
                                  "map it to null, or to a decimal or text, before it reaches the flow's state")
        return value
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, dt.datetime):
        return {_TIME: value.isoformat()}
    if isinstance(value, dt.date):
        return {_DATE: value.isoformat()}
    if isinstance(value, dt.time):
        return {_TIME_OF_DAY: value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): to_store(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_store(v) for v in value]
    raise StoreValueError(f"a {type(value).__name__} cannot be kept in a state store: {value!r}")


def from_store(value: Any) -> Any:
    """The canonical value :func:`to_store` was given."""
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, text), = value.items()
            tag = _OLD_TAGS.get(tag, tag)
            if tag == _DECIMAL:
                return Decimal(text)
            if tag == _TIME:
                return dt.datetime.fromisoformat(text)
            if tag == _DATE:
                return dt.date.fromisoformat(text)
            if tag == _TIME_OF_DAY:
                return dt.time.fromisoformat(text)
        return {k: from_store(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_store(v) for v in value]
    return value
