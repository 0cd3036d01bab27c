"""A SQL route's key as the database holds it. A text key column compares under its collation: MariaDB's
``utf8mb4_bin`` pads with spaces (``'ORG0007 '`` is ``'ORG0007'``), ``utf8mb4_general_ci``, PostgreSQL's ``citext``
or a case-insensitive ICU collation ignore case (``'acme'`` is ``'ACME'``). A command of one key could then write the
row the table holds under another key's text: another entity's row, answered as a success. So every write by key
compares the key of the row the database wrote, answered or removed with the command's, exactly, and a command
whose row the table holds as another text is refused, nothing written. Pure checks, the same for every dialect; the
adapters read the rows (``RETURNING``, or the ``SELECT`` they make anyway)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.sinks.config.model import SqlChildren, SqlRoute
from streams.sinks.outcomes import Failed

#: ``information_schema.columns.data_type`` of a text column (PostgreSQL, MariaDB/MySQL): its collation decides
#: which texts are one key. (PostgreSQL's ``citext`` is a ``USER-DEFINED`` type, told by its ``udt_name``.)
TEXT_TYPES = frozenset({"text", "character varying", "character", "char", "varchar", "tinytext", "mediumtext",
                        "longtext", "enum", "set"})
#: Fixed-width text: PostgreSQL answers ``char(n)`` padded with spaces to n (MariaDB strips them): the text it
#: holds is the one without trailing spaces, as PostgreSQL's own cast to text has it.
PADDED_TYPES = frozenset({"character", "char"})

FIX = ("make the source's keys unique under the target's collation: trim or lowercase them in the mapping, the key's "
       "field and the key computed from it in every source (transform: [trim, lower]; compute: lower(trim(...))), or "
       "correct the source's rows; or give the column a collation that tells the texts apart; then replay the dead "
       "letter")


@dataclass(frozen=True)
class TextColumn:
    """A text column of a route's table, as ``start`` found it."""

    #: Its type and collation, for reasons: ``varchar(32) collate utf8mb4_bin``, ``citext``.
    shown: str
    padded: bool


def text_columns(rows: Iterable[Mapping[str, Any]]) -> dict[str, TextColumn]:
    """A table's text columns from its ``information_schema.columns`` rows (``name``, ``type``, and where the
    query reads them ``udt``: PostgreSQL's ``udt_name`` or MariaDB's ``column_type``, ``collation``)."""
    found = {}
    for row in rows:
        kind, udt = str(row["type"]).lower(), row.get("udt")
        if kind in TEXT_TYPES or (kind == "user-defined" and udt == "citext"):
            collation = f" collate {row['collation']}" if row.get("collation") else ""
            found[row["name"]] = TextColumn(shown=f"{udt or kind}{collation}", padded=kind in PADDED_TYPES)
    return found


def _text(value: Any, column: TextColumn) -> Any:
    """A text key value as the column holds it (a padded column's without its trailing spaces)."""
    return value.rstrip(" ") if column.padded and isinstance(value, str) else value


def _differ(sent: Any, held: Any, column: TextColumn) -> bool:
    """The database answered text for the column, and not the command's text exactly."""
    return isinstance(held, str) and _text(held, column) != (sent if isinstance(sent, str) else str(sent))


def key_text(row: Mapping[str, Any], key: Sequence[str]) -> str:
    """``tenant_id=1, org_code='ORG0007'``: a row's columns ``key``, for reasons."""
    return ", ".join(f"{k}={row.get(k)!r}" for k in key)


def _where(system: str, table: str, texts: Mapping[str, TextColumn], key: Sequence[str]) -> str:
    columns = ", ".join(f"{k} {texts[k].shown}" for k in key if k in texts)
    return f"target {system}, table {table}, key {', '.join(key)} ({columns})"


def held_as_sent(sent: Mapping[str, Any], held: Mapping[str, Any], columns: Iterable[str],
                 texts: Mapping[str, TextColumn]) -> bool:
    """The row the database answered for ``sent`` (``held``) holds each text column of ``columns`` as ``sent`` has
    it, exactly: not a twin its collation took for it."""
    return not any(_differ(sent[k], held.get(k), texts[k]) for k in columns if k in texts)


def key_held_as_other(system: str, route: SqlRoute, sent: Mapping[str, Any], held: Mapping[str, Any] | None,
                      texts: Mapping[str, TextColumn]) -> Failed | None:
    """The row the route's write reached (``held``: as the database answered it) is held under another key text
    than the command's (``sent``): refused, the caller rolls the write back. None: the same key, or no row."""
    if held is None or held_as_sent(sent, held, route.key, texts):
        return None
    return Failed(kind="permanent", error_type="KeyHeldAsOther",
                  reason=f"the key collation of {route.table} takes {key_text(sent, route.key)} and the row it holds "
                         f"as {key_text(held, route.key)} for one row: this command would {route.action} the row of "
                         f"another key, so nothing was written ({_where(system, route.table, texts, route.key)}). "
                         f"Fix: {FIX}")


def lines_held_as_other(system: str, spec: SqlChildren, sent: Sequence[Mapping[str, Any]],
                        held: Sequence[Mapping[str, Any]], texts: Mapping[str, TextColumn]) -> Failed | None:
    """The child rows the parent has after its lines were written (``held``: their key columns) are not the lines
    as sent, text for text: the child key's collation took two lines (or a line and a row it held) for one row.
    Refused, the caller rolls back. None: held as sent (or the key has no text column)."""
    key = [k for k in spec.key if k in texts]
    if not key:
        return None
    sent_keys = Counter(tuple(str(row[k]) if row[k] is not None else None for k in key) for row in sent)
    held_keys = Counter(tuple(_text(row.get(k), texts[k]) for k in key) for row in held)
    if len(held) == len(sent) and sent_keys == held_keys:
        return None
    lost, extra = _lines(sent_keys - held_keys, key), _lines(held_keys - sent_keys, key)
    return Failed(kind="permanent", error_type="KeyHeldAsOther",
                  reason=f"the key collation of {spec.table} takes lines of {spec.source} with different key texts "
                         f"for one row: not held as sent: {lost or 'none'}; held instead: {extra or 'none'}; so "
                         f"nothing was written ({_where(system, spec.table, texts, spec.key)}). Fix: {FIX}")


def _lines(keys: Counter[tuple[Any, ...]], columns: Sequence[str]) -> str:
    """Up to five line keys, each as ``(code='A')``."""
    return ", ".join(f"({key_text(dict(zip(columns, k, strict=True)), columns)})" for k in sorted(keys, key=str)[:5])
