"""Which tables a Debezium connector captures, and which of their columns it sends, read from its include and
exclude lists.

Debezium matches each pattern of ``table.include.list`` / ``table.exclude.list`` against a table's whole
qualified name (``<schema>.<table>`` for PostgreSQL, ``<database>.<table>`` for MariaDB and MySQL), ignoring case,
and the namespace lists (``schema.*`` for PostgreSQL, ``database.*`` for MariaDB and MySQL) against the schema or
database alone; a table is captured when it passes both. ``column.include.list`` / ``column.exclude.list`` are
matched the same way against a column's ``<schema-or-database>.<table>.<column>`` (Debezium's
``Tables.ColumnNameFilterFactory``: ``Predicates.includes``, whole-name matches, ``CASE_INSENSITIVE``); a column
they leave out is in no change event, snapshot or stream. A list may be given as text (patterns separated by
commas) or as a YAML list. A filter that cannot be read exactly (a ``{{placeholder}}`` or ``${provider}`` in a
list, a pattern Python's regular expressions do not read as Java's) is not built: a check it would make is left
to Connect rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The namespace lists each engine's connector reads (PostgreSQL's schemas, MariaDB's and MySQL's databases).
NAMESPACE_KEYS: Mapping[str, str] = {"postgresql": "schema", "mariadb": "database", "mysql": "database"}
#: Every key that narrows what a connector captures.
FILTER_KEYS = ("table.include.list", "table.exclude.list", "schema.include.list", "schema.exclude.list",
               "database.include.list", "database.exclude.list", "column.include.list", "column.exclude.list")


@dataclass(frozen=True)
class CaptureFilter:
    """A connector's table and namespace lists, compiled; None for a list that is not set."""

    tables_included: tuple[re.Pattern[str], ...] | None
    tables_excluded: tuple[re.Pattern[str], ...]
    namespaces_included: tuple[re.Pattern[str], ...] | None
    namespaces_excluded: tuple[re.Pattern[str], ...]
    #: The ``table.include.list`` as written, for a message.
    table_list: str
    columns_included: tuple[re.Pattern[str], ...] | None = None
    columns_excluded: tuple[re.Pattern[str], ...] = ()

    def captures(self, namespace: str, table: str) -> bool:
        qualified = f"{namespace}.{table}"
        if not _passes(namespace, self.namespaces_included, self.namespaces_excluded):
            return False
        return _passes(qualified, self.tables_included, self.tables_excluded)

    def column_left_out_by(self, namespace: str, table: str, column: str) -> str | None:
        """The list that leaves ``column`` of a captured table out of its change events (``column.include.list``,
        which does not name it, or ``column.exclude.list``, which does); None when the connector sends it."""
        if _passes(f"{namespace}.{table}.{column}", self.columns_included, self.columns_excluded):
            return None
        return "column.include.list" if self.columns_included is not None else "column.exclude.list"

    @classmethod
    def of(cls, config: Mapping[str, Any], engine: str) -> CaptureFilter | None:
        """The filter of a connector file's ``config`` for ``engine``; None when it cannot be read exactly."""
        namespace = NAMESPACE_KEYS.get(engine)
        if namespace is None:
            return None
        try:
            return cls(tables_included=_patterns(config.get("table.include.list")),
                       tables_excluded=_patterns(config.get("table.exclude.list")) or (),
                       namespaces_included=_patterns(config.get(f"{namespace}.include.list")),
                       namespaces_excluded=_patterns(config.get(f"{namespace}.exclude.list")) or (),
                       table_list=_text(config.get("table.include.list")),
                       columns_included=_patterns(config.get("column.include.list")),
                       columns_excluded=_patterns(config.get("column.exclude.list")) or ())
        except _Unreadable:
            return None


class _Unreadable(Exception):
    """A list this module cannot read as Debezium does."""


def _passes(name: str, included: tuple[re.Pattern[str], ...] | None, excluded: tuple[re.Pattern[str], ...]) -> bool:
    if included is not None:
        return any(p.fullmatch(name) for p in included)
    return not any(p.fullmatch(name) for p in excluded)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _patterns(value: Any) -> tuple[re.Pattern[str], ...] | None:
    """The compiled patterns of a list; None when it is not set."""
    if value is None:
        return None
    text = _text(value)
    if "{{" in text or "${" in text:
        raise _Unreadable(text)
    try:
        return tuple(re.compile(p.strip(), re.IGNORECASE) for p in text.split(",") if p.strip())
    except re.error as exc:
        raise _Unreadable(text) from exc
