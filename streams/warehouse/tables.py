"""What each canonical topic becomes in the warehouse: its target table(s), key and cleaned columns.

The specs are data: ``warehouse/tables.yaml``, read and checked by :mod:`streams.warehouse.tables_file`.
This module is what one spec does with a record. The loader reads canonical records (Avro, single-object
encoding) that the flows published with their lineage (:mod:`streams.flows.canonical.lineage`); times are UTC
already (the canonical mappings converted the ERP's local times). A field of the canonical type that no column
reads (a field added to the schema later) does not break the load: it is kept, JSON-encoded, in the row's
``attributes``. A read field that is missing or invalid rejects the row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.flows import topics
from streams.mapping.exceptions import ExpressionError
from streams.mapping.expressions import Expression
from streams.warehouse.cleaning import Cleaner
from streams.warehouse.exceptions import RowRejected

#: The canonical records' delete flag: a table without its own ``deleted:`` expression marks a row deleted
#: when the record's flag is set (canonical deletes are records with it set, never tombstones).
DELETED_FIELD = "deleted"


@dataclass(frozen=True, kw_only=True)
class Rules:
    """Settings the specs' expressions can read, by field name (``concat(client_code_prefix, ...)``)."""

    client_code_prefix: str

    def names(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The setting names an expression of ``warehouse/tables.yaml`` may read.
SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(Rules))


@dataclass(frozen=True, kw_only=True)
class Column:
    """One warehouse column: a canonical field cleaned by a rule, or an expression over the settings and the
    columns before it; optionally a check of the value, rejecting the row with ``message`` when it fails."""

    name: str
    source: str | None = None
    clean: Cleaner | None = None
    required: bool | None = None
    compute: Expression | None = None
    check: Expression | None = None
    #: ``str.format`` template over the columns so far, e.g. ``{column} is not positive``.
    message: str = ""

    def value(self, record: Mapping[str, Any], names: Mapping[str, Any]) -> Any:
        if self.clean is not None and self.source is not None:
            return self.clean(record.get(self.source), self.source, self.required)
        assert self.compute is not None
        try:
            return self.compute.evaluate(names)
        except ExpressionError as exc:
            raise RowRejected(f"{self.name}: {exc}") from exc


@dataclass(frozen=True, kw_only=True)
class Inheritance:
    """Rows of ``child`` take ``columns`` from the row of ``parent`` with the same ``by`` value, once both are
    loaded (order lines take their order's time); the writer settles it after each batch's upserts."""

    child: str
    parent: str
    by: str
    columns: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    #: The canonical topic's name (``<prefix>.<name>``) and the Avro type published there.
    name: str
    schema: str
    target: str
    #: Target columns that identify a row.
    key: tuple[str, ...]
    #: Canonical fields the columns read; every other field goes to ``attributes``.
    consumed: frozenset[str]
    columns: tuple[Column, ...]
    #: Whether a record makes a row of this table at all (a customer without a CRM id is no client yet).
    when: Expression | None = None
    #: Whether a record marks its row deleted (None: the canonical ``deleted`` field).
    deleted_when: Expression | None = None
    #: The inheritances this table takes part in, as child or parent: a change of either touches its key.
    inheritances: tuple[Inheritance, ...] = ()

    def topic(self, prefix: str = topics.CANONICAL_PREFIX) -> str:
        return topics.canonical_topic(self.name, prefix)

    def applies(self, record: Mapping[str, Any]) -> bool:
        return self.when is None or bool(self._evaluate(self.when, record))

    def deleted(self, record: Mapping[str, Any]) -> bool:
        if self.deleted_when is None:
            return bool(record.get(DELETED_FIELD))
        return bool(self._evaluate(self.deleted_when, record))

    def build(self, record: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
        """The cleaned columns, in the file's order; raises :class:`RowRejected` at the first invalid one."""
        settings = rules.names()
        values: dict[str, Any] = {}
        for column in self.columns:
            values[column.name] = column.value(record, {**settings, **values} if column.compute else values)
            if column.check is not None and not self._evaluate(column.check, values):
                raise RowRejected(column.message.format_map(values))
        return values

    def _evaluate(self, expression: Expression, record: Mapping[str, Any]) -> Any:
        try:
            return expression.evaluate(record)
        except ExpressionError as exc:
            raise RowRejected(f"{self.target}: {exc}") from exc


@dataclass(frozen=True)
class Tables:
    """Every table spec of one ``tables.yaml``, in the file's order."""

    path: Path
    specs: tuple[TableSpec, ...]

    @property
    def by_topic(self) -> dict[str, tuple[TableSpec, ...]]:
        """Canonical topic name -> the tables its records feed (one record can make rows of several)."""
        found: dict[str, tuple[TableSpec, ...]] = {}
        for spec in self.specs:
            found[spec.name] = (*found.get(spec.name, ()), spec)
        return found
