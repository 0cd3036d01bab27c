"""Canonical values in a flow's JSON store, kept exact: decimals, times and dates survive the round trip.

Store values are JSON objects, but canonical records hold ``Decimal``, aware ``datetime`` and ``date``
values (the form fastavro writes). :func:`to_store` tags those (``{"$dec": "12.50"}``, ``{"$ts": iso}``,
``{"$date": iso}``); :func:`from_store` restores them, so a record read back encodes exactly as it was mapped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_DECIMAL, _TIMESTAMP, _DATE = "$dec", "$ts", "$date"


def to_store(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, dt.datetime):
        return {_TIMESTAMP: value.isoformat()}
    if isinstance(value, dt.date):
        return {_DATE: value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): to_store(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_store(v) for v in value]
    raise TypeError(f"{type(value).__name__} {value!r} cannot be kept in a flow store")


def from_store(value: Any) -> Any:
    if isinstance(value, list):
        return [from_store(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, text), = value.items()
        if tag == _DECIMAL:
            return Decimal(text)
        if tag == _TIMESTAMP:
            return dt.datetime.fromisoformat(text)
        if tag == _DATE:
            return dt.date.fromisoformat(text)
    return {k: from_store(v) for k, v in value.items()}
