"""``--key``, ``--header name=value`` and ``--where`` combined into one record filter (all must hold).

A ``--key`` matches a record's key in one of three forms:

- the form ``tail`` prints for a key of several columns, ``kdnr=1021 mandant=1``: a key with exactly these
  columns and values (in any order; a comma may separate them);
- a JSON object, ``{"kdnr": 1021, "mandant": 1}``: the same, values compared as text;
- one value, ``C-000123`` or ``1021``: a key that is that text, or a key of one column of that value (never one
  column among several: ``1021`` does not match ``kdnr=1021 mandant=1``).

Keys are matched decoded, as ``tail`` prints them (:func:`~streams.inspect.decoding.decode_key`): a DECIMAL key
column by its number (``konto_nr=100150``, not Connect's base64), a date or time stamp by its ISO text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams.inspect.decoding import Decoded
from streams.inspect.exceptions import BadFilter
from streams.inspect.expressions import Predicate, compile_where

_PAIR = re.compile(r"^(?P<name>[^=\s,]+)=(?P<value>[^\s,]*)$")


@dataclass(frozen=True)
class KeyMatch:
    """One ``--key``: its text, and the columns and values it names (None: a single value)."""

    text: str
    columns: tuple[tuple[str, str], ...] | None = None

    def __call__(self, record: Decoded) -> bool:
        key = record.key
        if self.columns is None or isinstance(key, str):
            return record.key_text == self.text
        return isinstance(key, Mapping) and tuple(sorted((str(n), _text(v)) for n, v in key.items())) == self.columns


def _text(value: Any) -> str:
    """A key column's value as ``tail`` prints it (:func:`~streams.inspect.decoding.key_label`)."""
    return str(value)


def key_match(text: str) -> KeyMatch:
    """The ``--key`` ``text`` in one of its forms (module docstring); raises :class:`BadFilter` for a JSON one
    that is not an object of columns, or a column named twice."""
    stripped = text.strip()
    pairs: list[tuple[str, str]] | None = None
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped, parse_float=Decimal)  # 12.50 as written, the decimal key's text
        except json.JSONDecodeError as exc:
            raise BadFilter(f"--key {text!r} is not JSON ({exc.msg}); write e.g. --key '{{\"kdnr\": 1021, "
                            "\"mandant\": 1}' or --key 'kdnr=1021 mandant=1'") from exc
        if not isinstance(document, dict) or not document:
            raise BadFilter(f"--key {text!r} is not a JSON object of the key's columns; write e.g. "
                            "--key '{\"kdnr\": 1021, \"mandant\": 1}'")
        pairs = [(str(name), _text(value)) for name, value in document.items()]
    else:
        parts = [p for p in re.split(r"[\s,]+", stripped) if p]
        matched = [_PAIR.match(p) for p in parts]
        if parts and all(matched):
            pairs = [(m["name"], m["value"]) for m in matched if m]
    if pairs is None:
        return KeyMatch(text)
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise BadFilter(f"--key {text!r} names a column twice; write each of the key's columns once, e.g. "
                        "--key 'kdnr=1021 mandant=1'")
    return KeyMatch(text, tuple(sorted(pairs)))


@dataclass(frozen=True, kw_only=True)
class RecordFilter:
    keys: tuple[KeyMatch, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    where: tuple[Predicate, ...] = ()

    def __call__(self, record: Decoded) -> bool:
        if self.keys and not self._key_matches(record):
            return False
        if any(record.header(name) != value for name, value in self.headers):
            return False
        document = record.document()
        return all(predicate(document) for predicate in self.where)

    def _key_matches(self, record: Decoded) -> bool:
        return any(key(record) for key in self.keys)


def header_filter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise BadFilter(f"--header {text!r} is not NAME=VALUE; write e.g. --header isthmus.stage=sink.erp")
    return name.strip(), value


def build(*, keys: Sequence[str] = (), headers: Sequence[str] = (), where: Sequence[str] = ()) -> Callable[
        [Decoded], bool]:
    return RecordFilter(keys=tuple(key_match(k) for k in keys), headers=tuple(header_filter(h) for h in headers),
                        where=tuple(compile_where(w) for w in where))


__all__ = ["KeyMatch", "RecordFilter", "build", "header_filter", "key_match"]
