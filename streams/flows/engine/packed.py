"""Canonical values as compact bytes for a flow's state (the binary sibling of :mod:`~streams.flows.engine.values`).

``values.to_store`` walks every value in Python to tag decimals and times before the store encodes the JSON;
here orjson walks the value in C and calls back only for the values JSON cannot hold: a decimal becomes
``{"$d": "12.50"}``, a UTC time ``{"$t": <microseconds since the epoch>}`` (any other time ``{"$T": <ISO
text>}``, its offset kept), a date ``{"$D": <proleptic ordinal>}``, bytes ``{"$b": <base64>}``, a time of day
``{"$h": <ISO text>}``, a duration ``{"$i": <microseconds>}`` (a remembered row holds every column a table
has). :func:`unpack` restores them, so a value read back compares equal to the one written. The bytes begin
with a layout byte (``\\x00`` and a version) that no JSON text begins with, so a store can tell them from the JSON
objects it held before (:func:`is_packed`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from streams.flows.engine.api import StoreValueError

#: The layout byte and version of :func:`pack`'s bytes.
MAGIC = b"\x00\x01"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_ONE_US = dt.timedelta(microseconds=1)


def _special(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
            return {"$t": (value - _EPOCH) // _ONE_US}
        return {"$T": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$D": value.toordinal()}
    if isinstance(value, (bytes, bytearray, memoryview)):  # a bytea or BLOB column of a remembered row
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dt.time):
        return {"$h": value.isoformat()}
    if isinstance(value, dt.timedelta):  # an interval column
        return {"$i": value // _ONE_US}
    if isinstance(value, Mapping):  # a decoded struct (a read-only view): its items, as a dict
        return dict(value)
    raise TypeError(f"a {type(value).__name__} cannot be kept in a state store: {value!r}")


def pack(value: Any) -> bytes:
    """``value`` (canonical values in dicts and lists) as the store's bytes."""
    try:
        encoded = orjson.dumps(value, default=_special, option=_OPTIONS)
    except TypeError as exc:
        raise StoreValueError(f"a state value cannot be packed ({exc}); keep canonical values (text, numbers, "
                              "decimals, times, dates) in dicts and lists") from exc
    return MAGIC + encoded


def is_packed(raw: bytes) -> bool:
    return raw[:2] == MAGIC


def unpack(raw: bytes) -> Any:
    """The value :func:`pack` was given."""
    return restore(orjson.loads(memoryview(raw)[len(MAGIC):]))


def unpack_tagged(raw: bytes) -> Any:
    """:func:`pack`'s bytes as JSON, the tagged values left as they are: a caller that knows its layout restores
    only the parts that can hold one (:func:`restore`), and reads the parts it packed otherwise itself."""
    return orjson.loads(memoryview(raw)[len(MAGIC):])


def instant(value: dt.datetime) -> int | dt.datetime:
    """A UTC time as microseconds since the epoch, a plain integer, for a layout that knows the place holds a
    time (:func:`from_instant` reads it back without a walk); any other time as it is (packed tagged)."""
    if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
        return (value - _EPOCH) // _ONE_US
    return value


def from_instant(value: Any, seen: dict[int, dt.datetime]) -> dt.datetime:
    """The time :func:`instant` packed (or, tagged, :func:`pack` did); ``seen`` shares the times already made
    (the fields of one record mostly hold the same few)."""
    if type(value) is int:
        made = seen.get(value)
        if made is None:
            made = seen[value] = _EPOCH + dt.timedelta(microseconds=value)
        return made
    restored = restore(value)
    if not isinstance(restored, dt.datetime):
        raise StoreValueError(f"{value!r} is not a packed time")
    return restored


def restore(value: Any) -> Any:
    """``value`` read by :func:`unpack_tagged`, its tagged values restored in place: its dicts and lists are the
    caller's, fresh from the bytes, so they are not copied (a new dict for every dict read was most of restoring
    an entity's state, which the decisions of a bulk load do once per entity)."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag == "$t":
                return _EPOCH + dt.timedelta(microseconds=inner)
            if tag == "$d":
                return Decimal(inner)
            if tag == "$D":
                return dt.date.fromordinal(inner)
            if tag == "$T":
                return dt.datetime.fromisoformat(inner)
            if tag == "$b":
                return base64.b64decode(inner)
            if tag == "$h":
                return dt.time.fromisoformat(inner)
            if tag == "$i":
                return dt.timedelta(microseconds=inner)
        for key, item in value.items():
            if type(item) in _NESTED:
                value[key] = restore(item)  # the same keys: a dict may be changed while its items are read
        return value
    if kind is list:
        for at, item in enumerate(value):
            if type(item) in _NESTED:
                value[at] = restore(item)
    return value


_NESTED = frozenset({dict, list})


def fingerprint(value: Any) -> str | None:
    """A short digest of ``value`` that changes when it does (keys in any order; ``None`` for ``None``): a
    flow compares two records by it instead of encoding both."""
    if value is None:
        return None
    try:
        encoded = orjson.dumps(value, default=_special, option=_OPTIONS | orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise StoreValueError(f"a value cannot be fingerprinted ({exc})") from exc
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()
