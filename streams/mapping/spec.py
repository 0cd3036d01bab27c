"""A mapping file once loaded and checked: immutable values the engine applies."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from streams.config_files.problem import Problem
from streams.mapping.expressions import Expression
from streams.mapping.kinds import Kind
from streams.mapping.transforms import Step

#: The source option naming what tells when a row last changed (``changed_at: <column>``): the commit time of a
#: snapshot read of the source's rows (:attr:`SourceMapping.changed_at`).
CHANGED_AT = "changed_at"


class Policy(StrEnum):
    """How conflicting values of one field settle: the owner's value, or the later source commit's."""

    OWNER_WINS = "owner_wins"
    LATEST_COMMIT_WINS = "latest_commit_wins"


@dataclass(frozen=True, kw_only=True)
class FieldPolicy:
    """``owner``: the name of the system (``systems/<name>.yaml``) that owns the field."""

    owner: str
    policy: Policy


@dataclass(frozen=True, kw_only=True)
class FieldBinding:
    """How one target field gets its value: from a column, an expression, a constant or nested fields,
    then through the steps, then coerced to the field's Avro type."""

    field: str
    line: int
    column: str | None = None
    expression: Expression | None = None
    constant: Any = None
    has_constant: bool = False
    nested: Mapping[str, FieldBinding] | None = None
    null_unless: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    aggregate: str | None = None
    avro_type: Any = None

    @property
    def reads(self) -> frozenset[str]:
        """The source columns this binding reads."""
        names: set[str] = set(self.null_unless)
        if self.column:
            names.add(self.column)
        if self.expression:
            names |= self.expression.names
        for inner in (self.nested or {}).values():
            names |= inner.reads
        return frozenset(names)


@dataclass(frozen=True, kw_only=True)
class SourceMapping:
    """One source of the target record: a table of one system (or a canonical record) and its bindings."""

    name: str
    line: int
    system: str | None  # a declared system's name; None for a source reading a canonical record
    table: str | None = None
    record: str | None = None
    condition: Expression | None = None
    bindings: Mapping[str, FieldBinding] = field(default_factory=dict)
    on_delete: Mapping[str, Any] | None = None
    group_by: tuple[str, ...] = ()
    parent_key: FieldBinding | None = None
    kinds: Mapping[str, Kind] = field(default_factory=dict)
    #: The table's primary key, and whether its updates and deletes carry no more of the old row than that key
    #: (and no unchanged TOASTed value): PostgreSQL's replica identity other than FULL, as the columns file says.
    row_key: tuple[str, ...] = ()
    key_only_before: bool = False
    #: Each time column of the table that keeps fewer digits of a second's fraction than a time holds, with the step
    #: its engine stores a finer time through, as the columns file tells (``DATETIME``: whole seconds, cut on
    #: MariaDB; ``timestamp(0)``: rounded on PostgreSQL): what the system keeps of a time written into it. And each
    #: ``CHAR`` column, with how it keeps a text (trailing spaces dropped; padded to its length on PostgreSQL).
    stores: Mapping[str, Step] = field(default_factory=dict)
    #: ``changed_at``: when a row last changed, as the row itself says (a column such as ``updated_at``, compiled
    #: into a UTC instant): the commit time of a snapshot read of the row (Debezium's ``op: r``, whose own time is
    #: when the snapshot read it), never of a streamed change (:func:`streams.mapping.engine.map_change`). None: a
    #: snapshot read is taken as committed when it was read.
    changed_at: FieldBinding | None = None

    @functools.cached_property
    def columns_read(self) -> frozenset[str]:
        """Every column the source reads: its bindings', its parent key's and its condition's."""
        return self._reads(self.bindings.values())

    def reads_to_place(self, key: tuple[str, ...]) -> frozenset[str]:
        """The columns a row must hold for the record of key fields ``key`` to be found from it: those its key
        fields, its parent key and its condition read."""
        return self._reads(self.bindings.get(k) for k in key)

    def _reads(self, bindings: Iterable[FieldBinding | None]) -> frozenset[str]:
        """The columns ``bindings``, the parent key and the condition read."""
        reads: set[str] = set(self.condition.names) if self.condition is not None else set()
        for binding in (self.parent_key, *bindings):
            if binding is not None:
                reads |= binding.reads
        return frozenset(reads)

    def placed_by_row_key(self, key: tuple[str, ...]) -> bool:
        """Whether every before-image of the table names the record of key fields ``key``: its before-images are
        whole, or the columns that place the record are all in the table's primary key."""
        return not self.key_only_before or self.reads_to_place(key) <= set(self.row_key)

    @property
    def deletes_target(self) -> bool:
        """A source delete removes the target record (rather than setting fields, ``on_delete: {set: …}``)."""
        return self.on_delete is None


@dataclass(frozen=True, kw_only=True)
class ParentLink:
    """A child record (an order line, a contact) lives in a list field of a parent record."""

    record: str
    field: str
    key: str


@dataclass(frozen=True, kw_only=True)
class Publication:
    """The canonical flow publishes each change of ``sources`` (table sources of the file), mapped, on the
    canonical topic ``topic`` (``isthmus.canonical.<topic>``), keyed by the record's key."""

    topic: str
    sources: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RecordMapping:
    """One mapping file: the target record, its key, field owners and policies, and its sources."""

    path: Path
    target: str
    key: tuple[str, ...]
    policies: Mapping[str, FieldPolicy]
    sources: tuple[SourceMapping, ...]
    parent: ParentLink | None = None
    publish: Publication | None = None
    description: str = ""
    #: What loads but may not do what the file means (``file:line: field: message; fix: ...``): a column of a
    #: type Isthmus does not know. Printed by ``isthmus mappings validate``, logged by the worker.
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    #: The mapping compiled (a :class:`streams.mapping.compiled.MappingPlan`), by ``id`` of the named Avro types
    #: it was compiled against; filled at load and on first use by :func:`streams.mapping.compiled.plan_of`.
    plans: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path.stem

    def key_of(self, values: Mapping[str, Any]) -> Any:
        """The record's key from its field values: one value, or a tuple for a composite key."""
        if len(self.key) == 1:
            return values.get(self.key[0])
        return tuple(values.get(k) for k in self.key)

    def sources_for(self, system: str, table: str) -> tuple[SourceMapping, ...]:
        return tuple(s for s in self.sources if s.system == system and s.table == table)

    def fields_owned_by(self, system: str) -> tuple[str, ...]:
        return tuple(sorted(f for f, p in self.policies.items() if p.owner == system))
