"""Compiled Connect schemas, found by their bytes in a record without parsing them.

JsonConverter writes every record as ``{"schema":<schema>,"payload":<payload>}``, compact, with the same
schema text in every record of one table version: ~4 KB of a ~5 KB record, parsed once per record before.
:meth:`SchemaCache.split` finds a record's schema text among the schemas compiled before (a byte comparison,
the topic's last schema first) and hands back the payload text alone to parse.

Why that is sound: a schema text is cached only once it has been parsed and found equal to the schema of
the record it came from, so it is one complete JSON value. A record that starts with ``{"schema":``, that
text and ``,"payload":``, and ends with ``}``, is therefore ``{"schema": <that schema>, "payload": P}``
exactly when P parses as one JSON value, and the parser refuses anything else (trailing keys, garbage):
such a record is then parsed whole, as before. A schema whose text cannot be split off (``,"payload":``
inside it, whitespace, another key order) is cached under its canonical JSON instead.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import orjson

from streams.codecs.debezium.compiled import CompiledSchema

HEAD = b'{"schema":'
SEPARATOR = b',"payload":'
#: Distinct schemas (table versions, keys and values) kept compiled; beyond it the oldest is dropped.
DEFAULT_SIZE = 256

_START = len(HEAD)
_SKIP = len(SEPARATOR)


class SchemaCache:
    """A bounded map from a Connect schema's bytes to its :class:`CompiledSchema`."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"a schema cache holds at least one schema, not {size}")
        self.size = size
        #: How many schemas were compiled, the cost this cache saves on every other record.
        self.compiled = 0
        self._by_text: dict[bytes, CompiledSchema] = {}
        self._last: dict[Hashable, tuple[bytes, CompiledSchema]] = {}

    def __len__(self) -> int:
        return len(self._by_text)

    def split(self, data: bytes, hint: Hashable) -> tuple[CompiledSchema, bytes] | None:
        """The compiled schema and the payload text of ``data``, when its schema text was compiled before;
        ``hint`` (the topic) names where the same schema was last seen, tried first."""
        last = self._last.get(hint)
        if last is not None:
            text, compiled = last
            end = _START + len(text)
            if (data.startswith(text, _START) and data.startswith(SEPARATOR, end) and data.startswith(HEAD)
                    and data.endswith(b"}")):
                return compiled, data[end + _SKIP:-1]
        found_text = self._schema_text(data)
        found = self._by_text.get(found_text) if found_text is not None else None
        if found_text is None or found is None:
            return None
        self._remember(self._last, hint, (found_text, found))
        return found, data[_START + len(found_text) + _SKIP:-1]

    def learn(self, data: bytes | None, schema: Mapping[str, Any], hint: Hashable) -> CompiledSchema:
        """The compiled ``schema``, parsed from the whole record ``data``: compiled now unless it was before,
        and cached under its text in ``data`` when :meth:`split` can find it there next time."""
        text = self._schema_text(data) if data is not None else None
        if text is None or not _is_schema_text(text, schema):
            text = orjson.dumps(schema)
        compiled = self._by_text.get(text)
        if compiled is None:
            compiled = CompiledSchema(schema)
            self.compiled += 1
            self._remember(self._by_text, text, compiled)
        if data is not None and data.startswith(text, _START):
            self._remember(self._last, hint, (text, compiled))
        return compiled

    @staticmethod
    def _schema_text(data: bytes) -> bytes | None:
        end = schema_end(data)
        return data[_START:end] if end is not None else None

    def _remember(self, into: dict[Any, Any], key: Hashable, value: Any) -> None:
        if key not in into and len(into) >= self.size:
            del into[next(iter(into))]
        into[key] = value


def schema_end(data: bytes) -> int | None:
    """Where the schema text of a value as JsonConverter writes it (``HEAD``, the schema, ``SEPARATOR``, the payload,
    ``}``) ends: at the first ``SEPARATOR`` (a schema's text never holds it); None for a value of another form."""
    if not data.startswith(HEAD) or not data.endswith(b"}"):
        return None
    at = data.find(SEPARATOR, _START)
    return at if at > 0 else None


def _is_schema_text(text: bytes, schema: Mapping[str, Any]) -> bool:
    try:
        return bool(orjson.loads(text) == schema)
    except orjson.JSONDecodeError:
        return False
