"""Reading ``warehouse/tables.yaml``: the warehouse's tables as data, every problem reported at once with file,
line, field and fix.

The file sits next to the star schema it fills (``schema.sql``); it is checked against that SQL (each table
and column exists and is one the file may set) and against the canonical Avro records of ``schemas/`` (each
field read exists), so a typo is refused at start instead of rejecting every row. ``warehouse/README.md``
documents the format.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from streams.codecs.avro.schemas import NAME_A_RECORD, SchemaSet, load_schemas
from streams.codecs.exceptions import UnknownSchema
from streams.config_files import located_yaml
from streams.config_files.located_yaml import Node
from streams.config_files.problem import Problem
from streams.mapping.expressions import FUNCTIONS, Expression, ExpressionSyntax, compile_expression
from streams.warehouse import cleaning, ddl
from streams.warehouse.exceptions import WarehouseTablesError
from streams.warehouse.rows import LOADER_COLUMNS
from streams.warehouse.tables import DELETED_FIELD, SETTING_NAMES, Column, Inheritance, Tables, TableSpec

TABLES_FILE = ddl.SQL_DIR / "tables.yaml"
TABLE_KEYS = ("description", "topic", "record", "key", "when", "deleted", "columns", "inherits")
COLUMN_KEYS = ("from", "clean", "required", "compute", "check", "message")
INHERITS_KEYS = ("from", "by", "columns")
#: The mapping expression language plus ``yyyymmdd(time)``: the date key (an integer) of an instant's UTC date.
WAREHOUSE_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    **FUNCTIONS, "yyyymmdd": lambda moment: None if moment is None else cleaning.date_key(moment)}
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def load_tables(path: Path = TABLES_FILE, *, schemas: SchemaSet | None = None,
                sql_dir: Path | None = None) -> Tables:
    """Read and check ``path`` against ``sql_dir``'s ``schema.sql`` (default: the file's folder) and the Avro
    ``schemas``; raises :class:`WarehouseTablesError` listing every problem."""
    reader = _TablesFile(path, schemas or load_schemas(), path.parent if sql_dir is None else sql_dir)
    tables = reader.read()
    if tables is None or reader.problems:
        raise WarehouseTablesError(reader.problems)
    return tables


def _choices(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"


@dataclasses.dataclass
class _Partial:
    """A table read so far: its spec without inheritances, and its ``inherits:`` node for the second pass."""

    spec: TableSpec
    inherits: Node | None
    line: int


class _TablesFile:
    def __init__(self, path: Path, schemas: SchemaSet, sql_dir: Path) -> None:
        self.path = path
        self.schemas = schemas
        self.sql_dir = sql_dir
        self.problems: list[Problem] = []

    def add(self, line: int, field: str, message: str, fix: str) -> None:
        self.problems.append(Problem(file=self.path, line=line, field=field, message=message, fix=fix))

    def read(self) -> Tables | None:
        root = self._parse()
        if root is None:
            return None
        try:
            declared = ddl.declared_tables(self.sql_dir)
        except OSError as exc:
            self.add(1, "(file)", f"cannot read the star schema: {exc}",
                     f"keep {ddl.SCHEMA_FILE} next to {self.path.name}")
            return None
        partials: dict[str, _Partial] = {}
        for name, node in root.items():
            partial = self._table(name, node, declared)
            if partial is not None:
                partials[name] = partial
        self._same_record_per_topic(partials)
        inheritances = [link for name, partial in partials.items()
                        if (link := self._inherits(name, partial, partials, declared)) is not None]
        specs = tuple(dataclasses.replace(p.spec, inheritances=tuple(
            link for link in inheritances if p.spec.target in (link.child, link.parent))) for p in partials.values())
        return Tables(path=self.path, specs=specs)

    def _parse(self) -> Node | None:
        root = located_yaml.read_file(self.path, self.add)
        if root is None:
            return None
        if not root.is_mapping or not root.value:
            self.add(root.line, "(file)", "the file is a mapping of warehouse tables",
                     "start with `<table of schema.sql>:` and its `topic`, `record`, `key` and `columns`")
            return None
        return root

    def _table(self, name: str, node: Node, declared: Mapping[str, ddl.DeclaredTable]) -> _Partial | None:
        if not node.is_mapping:
            self.add(node.line, name, "a table is a mapping", f"indent {', '.join(TABLE_KEYS[1:])} under it")
            return None
        before = len(self.problems)
        for field, child in node.items():
            if field not in TABLE_KEYS:
                self.add(child.line, f"{name}.{field}", "unknown field", f"use one of: {', '.join(TABLE_KEYS)}")
        table = declared.get(name)
        if table is None:
            self.add(node.line, name, f"no table {name!r} in {ddl.SCHEMA_FILE}",
                     f"use one of {_choices(declared)}, or create it in {self.sql_dir / ddl.SCHEMA_FILE}")
        topic = self._topic(name, node)
        record, fields = self._record(name, node)
        when = self._record_expression(name, node, "when", fields)
        deleted = self._record_expression(name, node, "deleted", fields)
        if node.get("deleted") is None and fields is not None and DELETED_FIELD not in fields:
            self.add(node.line, f"{name}.deleted", f"{record} has no {DELETED_FIELD!r} field to mark deletes",
                     'write `deleted: "<expression over the record>"`, e.g. "<field> == False" or "False"')
        columns = self._columns(name, node, table, fields)
        key = self._key(name, node, columns)
        if len(self.problems) > before or topic is None or record is None or columns is None or key is None:
            return None
        consumed = {c.source for c in columns if c.source is not None}
        if deleted is None:
            consumed.add(DELETED_FIELD)
        spec = TableSpec(name=topic, schema=record, target=name, key=key, consumed=frozenset(consumed),
                         columns=columns, when=when, deleted_when=deleted)
        return _Partial(spec=spec, inherits=node.get("inherits"), line=node.line)

    def _topic(self, name: str, node: Node) -> str | None:
        topic = node.get("topic")
        if topic is None or not isinstance(topic.value, str) or not _TOPIC.match(topic.value):
            self.add(topic.line if topic else node.line, f"{name}.topic",
                     "a table needs the canonical topic it is loaded from",
                     "write `topic: <name>` (read as <ISTHMUS_CANONICAL_PREFIX>.<name>; letters, digits, . _ -)")
            return None
        return topic.value

    def _record(self, name: str, node: Node) -> tuple[str | None, frozenset[str] | None]:
        record = node.get("record")
        if record is None or not isinstance(record.value, str):
            self.add(record.line if record else node.line, f"{name}.record",
                     "a table needs the Avro record its topic carries", "write `record: isthmus.canonical.<Type>`")
            return None, None
        try:
            full = self.schemas.resolve(record.value, top_level=True)
            definition = self.schemas.definition(full)
        except UnknownSchema as exc:
            self.add(record.line, f"{name}.record", str(exc), NAME_A_RECORD)
            return None, None
        if definition.get("type") != "record":
            self.add(record.line, f"{name}.record", f"{full} is not a record", NAME_A_RECORD)
            return None, None
        return full, frozenset(f["name"] for f in definition["fields"])

    def _compile(self, node: Node, where: str, known: Any, what: str) -> Expression | None:
        if not isinstance(node.value, str):
            self.add(node.line, where, "an expression is text", 'write it in quotes, e.g. "<column> > 0"')
            return None
        try:
            expression = compile_expression(node.value, WAREHOUSE_FUNCTIONS)
        except ExpressionSyntax as exc:
            self.add(node.line, where, f"invalid expression {node.value!r}: {exc}",
                     "use the expression language of streams/mapping/expressions.py (plus yyyymmdd(time))")
            return None
        unknown = sorted(expression.names - set(known))
        if unknown:
            self.add(node.line, where, f"reads {', '.join(unknown)}, not {what}", f"use {_choices(known)}")
            return None
        return expression

    def _record_expression(self, name: str, node: Node, key: str, fields: frozenset[str] | None) -> Expression | None:
        child = node.get(key)
        if child is None or fields is None:
            return None
        return self._compile(child, f"{name}.{key}", fields, "a field of the record")

    def _columns(self, name: str, node: Node, table: ddl.DeclaredTable | None,
                 fields: frozenset[str] | None) -> tuple[Column, ...] | None:
        columns_node = node.get("columns")
        if columns_node is None or not columns_node.is_mapping or not columns_node.value:
            self.add(columns_node.line if columns_node else node.line, f"{name}.columns",
                     "a table needs its columns", "write `columns: {<column>: {from: <field>, clean: <rule>}}`")
            return None
        columns: list[Column] = []
        for column_name, column_node in columns_node.items():
            where = f"{name}.columns.{column_name}"
            if table is not None:
                self._settable(table, column_name, column_node, where)
            column = self._column(column_name, column_node, where, fields, [c.name for c in columns])
            if column is not None:
                columns.append(column)
        return tuple(columns)

    def _settable(self, table: ddl.DeclaredTable, column: str, node: Node, where: str) -> None:
        if column in LOADER_COLUMNS:
            self.add(node.line, where, "the loader fills this column itself (lineage, attributes, deleted)",
                     "remove it; map the record's fields to the table's own columns")
        elif column in table.generated:
            self.add(node.line, where, f"{table.name}.{column} is generated by the database", "remove it")
        elif column not in table.columns:
            self.add(node.line, where, f"{table.name} has no column {column!r} in {ddl.SCHEMA_FILE}",
                     f"use one of {_choices(table.columns - LOADER_COLUMNS)}, or add it to {ddl.SCHEMA_FILE}")

    def _column(self, name: str, node: Node, where: str, fields: frozenset[str] | None,
                before: list[str]) -> Column | None:
        if not node.is_mapping:
            self.add(node.line, where, "a column is a mapping",
                     "write `{from: <field>, clean: <rule>}` or `{compute: \"<expression>\"}`")
            return None
        for key, child in node.items():
            if key not in COLUMN_KEYS:
                self.add(child.line, f"{where}.{key}", "unknown field", f"use one of: {', '.join(COLUMN_KEYS)}")
        compute_node = node.get("compute")
        if compute_node is not None:
            for field in ("from", "clean", "required"):
                if (extra := node.get(field)) is not None:
                    self.add(extra.line, f"{where}.{field}", "a computed column has no field to clean",
                             "remove `compute` or this field")
            compute = self._compile(compute_node, f"{where}.compute", SETTING_NAMES | set(before),
                                    "a setting or a column before this one")
            column = None if compute is None else Column(name=name, compute=compute)
        else:
            column = self._cleaned(name, node, where, fields)
        check = self._check(node, where, [*before, name])
        if column is None:
            return None
        return dataclasses.replace(column, check=check[0], message=check[1]) if check else column

    def _cleaned(self, name: str, node: Node, where: str, fields: frozenset[str] | None) -> Column | None:
        clean_node, source_node, required_node = node.get("clean"), node.get("from"), node.get("required")
        cleaner = cleaning.CLEANERS.get(clean_node.value) if clean_node and isinstance(clean_node.value, str) else None
        if cleaner is None:
            self.add(clean_node.line if clean_node else node.line, f"{where}.clean",
                     f"no cleaning rule {clean_node.value!r}" if clean_node else "a column needs `clean` or `compute`",
                     f"use `clean: <rule>` with one of {_choices(cleaning.CLEANERS)} (streams/warehouse/cleaning.py), "
                     "or `compute: \"<expression>\"`")
        source = name if source_node is None else source_node.value
        if not isinstance(source, str) or (fields is not None and source not in fields):
            implied = "" if source_node else " (`from` defaults to the column)"
            self.add(source_node.line if source_node else node.line, f"{where}.from",
                     f"the record has no field {source!r}{implied}",
                     f"use `from: <field>` with one of {_choices(fields or ())}")
            source = None
        required = None
        if required_node is not None:
            if not isinstance(required_node.value, bool):
                self.add(required_node.line, f"{where}.required", "`required` is true or false", "write true or false")
            elif cleaner is not None and cleaner.required is None:
                optional = sorted(n for n, c in cleaning.CLEANERS.items() if c.required is not None)
                self.add(required_node.line, f"{where}.required", f"the {cleaner.name} rule has no `required`",
                         f"remove it (only {', '.join(optional)} take it)")
            else:
                required = required_node.value
        if cleaner is None or source is None:
            return None
        return Column(name=name, source=source, clean=cleaner, required=required)

    def _check(self, node: Node, where: str, known: list[str]) -> tuple[Expression, str] | None:
        check_node, message_node = node.get("check"), node.get("message")
        if check_node is None and message_node is None:
            return None
        if check_node is None or message_node is None or not isinstance(message_node.value, str):
            self.add((check_node or message_node or node).line, f"{where}.check",
                     "a check needs both `check` (an expression) and `message` (the rejection's reason)",
                     'write `check: "<column> > 0", message: "<column> {<column>} is not positive"`')
            return None
        check = self._compile(check_node, f"{where}.check", known, "this column or one before it")
        try:
            placeholders = [f for _, f, spec, conversion in string.Formatter().parse(message_node.value)
                            if f is not None and (f not in known or spec or conversion)]
        except ValueError as exc:
            placeholders = [str(exc)]
        if placeholders:
            self.add(message_node.line, f"{where}.message", f"cannot fill {', '.join(placeholders)}",
                     f"use {{<column>}} with one of {_choices(known)} (write {{{{ for a brace)")
            return None
        return None if check is None else (check, message_node.value)

    def _key(self, name: str, node: Node, columns: tuple[Column, ...] | None) -> tuple[str, ...] | None:
        key_node = node.get("key")
        listed = key_node.plain() if key_node else None
        if not isinstance(listed, list) or not listed or not all(isinstance(k, str) for k in listed):
            self.add(key_node.line if key_node else node.line, f"{name}.key", "a table needs its key columns",
                     "write `key: [<column>, ...]` (the table's primary key)")
            return None
        names = [c.name for c in columns or ()]
        unknown = [k for k in listed if k not in names]
        if columns is not None and unknown:
            self.add(key_node.line if key_node else node.line, f"{name}.key",
                     f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not among the columns",
                     f"use {_choices(names)}")
            return None
        return tuple(listed)

    def _same_record_per_topic(self, partials: Mapping[str, _Partial]) -> None:
        seen: dict[str, TableSpec] = {}
        for partial in partials.values():
            first = seen.setdefault(partial.spec.name, partial.spec)
            if first.schema != partial.spec.schema:
                self.add(partial.line, f"{partial.spec.target}.record",
                         f"topic {partial.spec.name} carries {first.schema} ({first.target})",
                         f"use record {first.schema}, or another topic")

    def _inherits(self, name: str, partial: _Partial, partials: Mapping[str, _Partial],
                  declared: Mapping[str, ddl.DeclaredTable]) -> Inheritance | None:
        node = partial.inherits
        if node is None:
            return None
        where = f"{name}.inherits"
        values = node.plain()
        fix = "write `inherits: {from: <table of this file>, by: <column of both>, columns: [<column>, ...]}`"
        if (not isinstance(values, dict) or set(values) != set(INHERITS_KEYS) or not isinstance(values["by"], str)
                or not isinstance(values["columns"], list) or not values["columns"]):
            self.add(node.line, where, f"`inherits` has exactly {', '.join(INHERITS_KEYS)}", fix)
            return None
        parent = partials.get(values["from"]) if isinstance(values["from"], str) else None
        if parent is None or parent is partial:
            self.add(node.line, f"{where}.from", f"{values['from']!r} is not another table of this file",
                     f"use one of {_choices(n for n in partials if n != name)}")
            return None
        own = {c.name for c in partial.spec.columns}
        theirs = {c.name for c in parent.spec.columns}
        by, columns = values["by"], values["columns"]
        if by not in own or by not in theirs:
            self.add(node.line, f"{where}.by", f"{by!r} is not a column of both {name} and {parent.spec.target}",
                     f"use one of {_choices(own & theirs)}")
            return None
        sql_columns = declared[name].columns
        wrong = [c for c in columns if not isinstance(c, str) or c not in theirs or c in own or c not in sql_columns]
        if wrong:
            self.add(node.line, f"{where}.columns",
                     f"{', '.join(map(str, wrong))}: each must be a column of {parent.spec.target} that {name} has "
                     f"in {ddl.SCHEMA_FILE} and does not map itself",
                     f"use columns of {parent.spec.target} ({_choices(theirs)}) that {name} leaves to it")
            return None
        return Inheritance(child=name, parent=parent.spec.target, by=by, columns=tuple(columns))
