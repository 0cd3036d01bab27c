"""Load mapping files and check them before anything runs.

Each file is checked against the Avro schemas (the target record and every field exist; each value's kind
fits its field) and against the captured columns, as each system's live catalog described them in its
columns file (``systems/<system>.columns.yaml``, written by ``isthmus mappings discover <system>``). Every
problem is collected and reported together, each with file, line, field and fix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from streams.codecs.avro.schemas import NAME_A_RECORD, SchemaSet, load_schemas
from streams.codecs.exceptions import UnknownSchema
from streams.config.paths import DATA_ROOT
from streams.config_files import located_yaml
from streams.config_files.located_yaml import Node
from streams.config_files.problem import shown
from streams.mapping.compiled import plan_of
from streams.mapping.engine import coerce
from streams.mapping.exceptions import MappingLoadError, MappingValueError, Problem
from streams.mapping.expressions import Expression, ExpressionSyntax, compile_expression, kind_of, narrowed_by
from streams.mapping.kinds import ANY, ARRIVES_AS, MOST_DIGITS, Kind, column_digits, fits, from_avro, from_column, known
from streams.mapping.local_times import read_policy
from streams.mapping.looked_up import unanswered
from streams.mapping.plugins import from_entry_point, load_declared
from streams.mapping.spec import (
    CHANGED_AT,
    FieldBinding,
    FieldPolicy,
    ParentLink,
    Policy,
    Publication,
    RecordMapping,
    SourceMapping,
)
from streams.mapping.transforms import (
    BUILTINS,
    ArgumentProblem,
    CharStep,
    Environment,
    LocalToUtcStep,
    ParseJsonStep,
    RoundStep,
    Step,
    TruncateStep,
    plugin_step,
)

if TYPE_CHECKING:  # streams.systems reads its files with this package's YAML reader: imported when loading
    from streams.systems import Systems, SystemSpec

MAPPINGS_DIR = DATA_ROOT / "mappings"
#: Environment variable naming another folder of mapping files.
MAPPINGS_DIR_ENV = "ISTHMUS_MAPPINGS_DIR"


def mappings_dir(env: Mapping[str, str] | None = None) -> Path:
    """``ISTHMUS_MAPPINGS_DIR`` if set, else the project's ``mappings/``: every command reads the same folder."""
    env = os.environ if env is None else env
    return Path(env[MAPPINGS_DIR_ENV]) if env.get(MAPPINGS_DIR_ENV) else MAPPINGS_DIR
TOP_KEYS = {"description", "target", "key", "owner", "policy", "fields", "parent", "value_maps", "plugins",
            "sources", "publish", "local_times"}
SOURCE_KEYS = {"description", "system", "table", "record", "columns", "when", "fields", "on_delete", "group_by",
               "parent_key", CHANGED_AT}
#: The Avro type a source's ``changed_at`` is compiled into: an instant (UTC), or null.
_INSTANT = ["null", {"type": "long", "logicalType": "timestamp-micros"}]
BINDING_KEYS = {"from", "compute", "const", "fields", "null_unless", "transform", "sum"}
SOURCES_OF_VALUE = ("from", "compute", "const", "fields", "sum")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

if TYPE_CHECKING:  # streams.catalog reads its files with this package's YAML reader: imported when used
    from streams.catalog.model import Catalog, Table

#: Each system's recorded catalog, by system name.
Tables = Mapping[str, "Catalog"]


@dataclass
class _File:
    """Problems found so far in one file, and warnings: what loads but may not do what the file means (kept on the
    mapping, printed by ``isthmus mappings validate`` and logged by the worker)."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    #: The columns (origin, column) already warned of: each once per file.
    warned: set[tuple[str, str]] = field(default_factory=set)

    def add(self, line: int, where: str, message: str, fix: str) -> None:
        self.problems.append(Problem(file=self.path, line=line, field=where, message=message, fix=fix))

    def unknown_types(self, line: int, where: str, columns: _Columns, read: Iterable[str]) -> None:
        """Warn, once per column, of each column of ``read`` whose SQL type Isthmus does not know: its values are
        not checked at load, and arrive as whatever Debezium makes of the type."""
        for column in sorted(read):
            sql_type = columns.types.get(column)
            if sql_type is None or known(sql_type) or (columns.origin, column) in self.warned:
                continue
            self.warned.add((columns.origin, column))
            self.warnings.append(Problem(
                file=self.path, line=line, field=where,
                message=f"{column!r} of {columns.origin} is {sql_type}, a type Isthmus does not know, so its values "
                        "are not checked against the field here: they arrive as Debezium's representation of "
                        f"{sql_type} (text, a number, bytes or a struct, as the connector's settings make it), and one "
                        "the field cannot take is dead-lettered with every change of its row",
                fix=f"look at what Debezium sends for {column} (`isthmus topics tail <its topic>`) and convert it into "
                    "the field's type with a transform or `compute`; said once per column"))


@dataclass(frozen=True, kw_only=True)
class _NoColumnsFile(Problem):
    """A table source of a system that has no columns file: one discover settles every such source, so the
    problem is said once per system (:func:`_once_per_system`)."""

    system: str


def _once_per_system(problems: list[Problem]) -> list[Problem]:
    """``problems`` with one :class:`_NoColumnsFile` per system, at its first source, counting the others, in
    place of one per source (a new user's 44 lines before the first ``isthmus mappings discover``)."""
    missing: dict[str, list[_NoColumnsFile]] = {}
    for problem in problems:
        if isinstance(problem, _NoColumnsFile):
            missing.setdefault(problem.system, []).append(problem)
    kept: list[Problem] = []
    for problem in problems:
        if not isinstance(problem, _NoColumnsFile):
            kept.append(problem)
            continue
        sources = missing[problem.system]
        if problem is not sources[0]:
            continue
        if len(sources) == 1:
            kept.append(problem)
            continue
        files = list(dict.fromkeys(p.file.name for p in sources))
        named = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        kept.append(dataclasses.replace(problem, message=(
            f"system {problem.system!r} has no columns file, so the tables of its {len(sources)} sources cannot be "
            f"checked (in {len(files)} mapping file{'s' if len(files) != 1 else ''}: {named}; said once for "
            "all)")))
    return kept


@dataclass(frozen=True)
class _Columns:
    """What a source can read: column (or field) kinds, and where they come from for messages."""

    kinds: Mapping[str, Kind]
    origin: str
    #: Appended to the fix of an unknown column: how to bring the columns up to date.
    refresh: str = ""
    #: A table's primary key, and whether its before-images hold only that (see ``SourceMapping.key_only_before``).
    row_key: tuple[str, ...] = ()
    key_only_before: bool = False
    #: The columns of the table that no change event carries, each with (why, the fix): a source reading one is
    #: refused (:func:`_refuse_unsent`), though its kind is known.
    unsent: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: A table's columns' SQL types (columns file), for what a type's values are: none for a record's fields.
    types: Mapping[str, str] = field(default_factory=dict)
    #: How the table's engine stores a finer time in each of its time columns that keeps less (``SourceMapping``).
    stores: Mapping[str, Step] = field(default_factory=dict)

    def unknown_fix(self, names: str) -> str:
        return f"use {names}" + (f"; {self.refresh}" if self.refresh else "")


def _choices(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"


def compile_steps(node: Node | None, where: str, kind: Kind, env: Environment,
                  add: Callable[[int, str, str, str], None]) -> tuple[tuple[Step, ...], Kind, bool]:
    """A ``transform:`` chain (a step, or a list of them) applied to a value of ``kind``: its steps, the kind they
    give, and whether it compiled. A step that does not exist, whose arguments are wrong, or that ``kind`` cannot
    take (as checked so far along the chain) is refused through ``add(line, where, message, fix)``, and the chain
    with it. Mapping files compile their fields' chains with it, flow files the forms a system keeps values in
    (``systems.<s>.keeps``)."""
    if node is None:
        return (), kind, True
    items = node.value if node.is_sequence else [node]
    steps: list[Step] = []
    for item in items:
        if isinstance(item.value, str):
            name, args = item.value, None
        elif item.is_mapping and len(item.value) == 1:
            name, arg_node = next(item.items())
            args = arg_node.plain()
        else:
            add(item.line, where, "a transform step is a name or a one-key mapping",
                "write `- trim` or `- strip_prefix: \"C-\"`")
            return (), kind, False
        try:
            step = _step(name, args, env)
            kind = step.out(kind)
        except ArgumentProblem as exc:
            add(item.line, f"{where}: {name}", exc.message, exc.fix)
            return (), kind, False
        steps.append(step)
    return tuple(steps), kind, True


def _step(name: str, args: Any, env: Environment) -> Step:
    if name in BUILTINS:
        return BUILTINS[name](args, env)
    function = env.plugins.get(name) or from_entry_point(name)
    if function is None:
        raise ArgumentProblem(f"no transform named {name!r}",
                              f"use one of {_choices(BUILTINS)}, declare a plugin under `plugins:`, or "
                              "install one in the isthmus.transforms entry point group")
    return plugin_step(name, function, args)


def _expression(file: _File, node: Node, where: str, columns: _Columns) -> Expression | None:
    if not isinstance(node.value, str):
        file.add(node.line, where, "an expression is text", 'write it in quotes, e.g. "on_hand - reserved"')
        return None
    try:
        expression = compile_expression(node.value)
    except ExpressionSyntax as exc:
        file.add(node.line, where, f"invalid expression {node.value!r}: {exc}", "use the expression language "
                 "of streams/mapping/expressions.py")
        return None
    unknown = sorted(expression.names - set(columns.kinds))
    if unknown:
        file.add(node.line, where, f"expression reads {', '.join(unknown)}, not in {columns.origin}",
                 columns.unknown_fix(f"columns of {columns.origin}: {_choices(columns.kinds)}"))
        return None
    file.unknown_types(node.line, where, columns, expression.names)
    return expression


class _Compiler:
    def __init__(self, file: _File, schemas: SchemaSet, env: Environment) -> None:
        self.file = file
        self.schemas = schemas
        self.env = env
        self.named = dict(schemas.named)

    def steps(self, node: Node | None, where: str, kind: Kind) -> tuple[tuple[Step, ...], Kind, bool]:
        return compile_steps(node, where, kind, self.env, self.file.add)

    def local_time(self, step: Step, target: str, where: str, columns: _Columns) -> Step:
        """A ``local_to_utc`` step told the field it fills (its lineage notes name it), its policy's sibling
        column checked against the source's columns; any other step as it is."""
        if not isinstance(step, LocalToUtcStep):
            return step
        sibling = step.policy.decided_by
        if sibling is not None:
            kind = columns.kinds.get(sibling.column)
            fits_it = {"offset": ("int", "string", "any"), "instant": ("timestamp", "any")}[sibling.means]
            if kind is None:
                self.file.add(step.policy.line, f"local_times.repeated.{sibling.means}",
                              f"{sibling.column!r} is not a column of {columns.origin} (read for {where})",
                              columns.unknown_fix(f"one of {_choices(columns.kinds)}"))
            elif kind.base not in fits_it:
                what = ("a UTC offset (whole minutes east of UTC, or text like -04:00)" if sibling.means == "offset"
                        else "an instant (a column with a zone)")
                self.file.add(step.policy.line, f"local_times.repeated.{sibling.means}",
                              f"{sibling.column!r} of {columns.origin} is {kind}, not {what} (read for {where})",
                              "name a column that holds one, or write `repeated: earlier` (or later)")
        return dataclasses.replace(step, field=target)

    def shaped(self, step: Step, target: str, avro_type: Any) -> Step:
        """A ``parse_json`` step told the type of the field it fills (it shapes the parsed JSON to it); any other
        step as it is."""
        if not isinstance(step, ParseJsonStep):
            return step
        return dataclasses.replace(step, avro_type=avro_type, named=self.named, field=target)

    def binding(self, target: str, node: Node, where: str, columns: _Columns, avro_type: Any,
                aggregate_ok: bool) -> FieldBinding | None:
        target_kind = from_avro(avro_type, self.named)
        if isinstance(node.value, str):
            node = Node({"from": node}, node.line)
        if not node.is_mapping:
            self.file.add(node.line, where, "a field binding is a column name or a mapping",
                          "write `name: column` or `name: {from: column, transform: [...]}`")
            return None
        unknown = sorted(set(node.value) - BINDING_KEYS)
        if unknown:
            self.file.add(node.line, where, f"unknown binding keys {', '.join(unknown)}",
                          f"use {_choices(BINDING_KEYS)}")
            return None
        given = [k for k in SOURCES_OF_VALUE if k in node.value]
        if len(given) != 1:
            self.file.add(node.line, where, f"needs exactly one of {', '.join(SOURCES_OF_VALUE)}; has "
                          f"{', '.join(given) or 'none'}", "keep one way to get the value")
            return None
        how, value = given[0], node.value[given[0]]
        binding: dict[str, Any] = {"field": target, "line": node.line, "avro_type": avro_type}
        if how == "from":
            column = value.value
            if column not in columns.kinds:
                self.file.add(value.line, where, f"{column!r} is not a column of {columns.origin}",
                              columns.unknown_fix(f"one of {_choices(columns.kinds)}"))
                return None
            binding["column"], kind = column, columns.kinds[column]
            self.file.unknown_types(value.line, where, columns, (column,))
        elif how in ("compute", "sum"):
            if how == "sum" and not aggregate_ok:
                self.file.add(value.line, where, "`sum` aggregates rows and needs `group_by` on the source",
                              "add `group_by: [<columns>]` to the source, or use `compute`")
                return None
            expression = _expression(self.file, value, where, columns)
            if expression is None:
                return None
            kind = kind_of(expression, columns.kinds)  # a sum adds the rows' non-null values: never null
            binding["expression"], kind = expression, kind if how == "compute" else kind.but(nullable=False)
            if how == "sum":
                binding["aggregate"] = "sum"
        elif how == "const":
            constant = value.plain()
            binding["constant"], binding["has_constant"] = constant, True
            kind = _constant_kind(constant)
        else:
            nested = self.nested(target, node, value, where, columns, target_kind, avro_type)
            if nested is None:
                return None
            binding.update(nested)
            kind = Kind("record", nullable=bool(binding["null_unless"]), record=target_kind.record)
        steps, kind, ok = self.steps(node.get("transform"), f"{where} transform", kind)
        if not ok:
            return None
        binding["steps"] = steps = tuple(self.shaped(self.local_time(step, target, where, columns), target, avro_type)
                                         for step in steps)
        problem = fits(kind, target_kind)
        if problem is not None and how != "fields":
            message = f"{how} {value.value!r}: {problem[0]}" if how in ("compute", "sum") else problem[0]
            plain = how == "from" and not steps and kind.base != target_kind.base  # the column's own kind refused
            sql_type = columns.types.get(value.value) if plain else None
            if sql_type in ARRIVES_AS:
                message += f"; {value.value} is {sql_type}, which arrives as {ARRIVES_AS[sql_type]}"
            self.file.add(node.line, where, message, problem[1])
            return None
        return FieldBinding(**binding)

    def nested(self, target: str, node: Node, value: Node, where: str, columns: _Columns, target_kind: Kind,
               avro_type: Any) -> dict[str, Any] | None:
        if target_kind.base != "record" or target_kind.record is None:
            self.file.add(value.line, where, f"`fields` builds a record, but this field is {target_kind}",
                          "use `from`, `compute` or `const`")
            return None
        if not value.is_mapping:
            self.file.add(value.line, where, "`fields` is a mapping of the record's fields", "indent them under it")
            return None
        null_unless_node = node.get("null_unless")
        null_unless = null_unless_node.plain() if null_unless_node else []
        if not isinstance(null_unless, list) or any(c not in columns.kinds for c in null_unless):
            self.file.add(null_unless_node.line if null_unless_node else node.line, where,
                          "`null_unless` lists columns that must all be set for the record to exist",
                          columns.unknown_fix(f"columns of {columns.origin}: {_choices(columns.kinds)}"))
            return None
        if not target_kind.nullable and null_unless:
            self.file.add(node.line, where, "the field is not nullable, so `null_unless` cannot apply",
                          "remove null_unless or make the field nullable")
        present = _Columns({n: k.but(nullable=False) if n in null_unless else k for n, k in columns.kinds.items()},
                           columns.origin, columns.refresh, types=columns.types)
        definition = self.named[target_kind.record]
        inner_fields = {f["name"]: f for f in definition["fields"]}
        nested: dict[str, FieldBinding] = {}
        for name, inner in value.items():
            if name not in inner_fields:
                self.file.add(inner.line, f"{where}.{name}", f"{target_kind.record} has no field {name!r}",
                              f"use one of {_choices(inner_fields)}")
                continue
            compiled = self.binding(name, inner, f"{where}.{name}", present, inner_fields[name]["type"], False)
            if compiled is not None:
                nested[name] = compiled
        missing = sorted(n for n, f in inner_fields.items() if n not in value.value and "default" not in f)
        if missing:
            self.file.add(value.line, where, f"{target_kind.record} needs {', '.join(missing)}",
                          "bind them (or give them defaults in the schema)")
        if len(nested) != len(value.value) or missing:
            return None
        return {"nested": MappingProxyType(nested), "null_unless": tuple(null_unless)}


def _constant_kind(constant: Any) -> Kind:
    if constant is None:
        return ANY
    if isinstance(constant, bool):
        return Kind("bool", nullable=False)
    if isinstance(constant, int):
        return Kind("int", nullable=False)
    if isinstance(constant, str):
        return Kind("string", nullable=False, symbols=frozenset({constant}))
    return ANY.but(nullable=False)


def _read(path: Path, file: _File) -> Node | None:
    root = located_yaml.read_file(path, file.add)
    if root is None:
        return None
    if not root.is_mapping:
        file.add(root.line, "(file)", "a mapping file is a YAML mapping", "start with `target: <record>`")
        return None
    return root


def _declared(systems: Systems) -> str:
    """The fix for a name that is no declared system."""
    return (f"use one of the systems declared in {systems.directory}: {_choices(systems)}; or add "
            f"{systems.directory}/<name>.yaml")


def _system(file: _File, node: Node, where: str, systems: Systems) -> str | None:
    """The name of a declared system ``node`` gives, or None (with a problem) when it names none."""
    if isinstance(node.value, str) and node.value in systems:
        return node.value
    file.add(node.line, where, f"{node.value!r} is not a declared system", _declared(systems))
    return None


def _policy(file: _File, node: Node, where: str, default: FieldPolicy | None,
            systems: Systems) -> FieldPolicy | None:
    if not node.is_mapping:
        file.add(node.line, where, "a field policy is {owner: <system>, policy: owner_wins|latest_commit_wins}",
                 f"write `name: {{owner: <one of {_choices(systems)}>, policy: owner_wins}}`")
        return None
    owner_node, policy_node = node.get("owner"), node.get("policy")
    unknown = sorted(set(node.value) - {"owner", "policy"})
    if unknown:
        file.add(node.line, where, f"unknown keys {', '.join(unknown)}", "keep owner and policy")
    if owner_node is not None:
        owner = _system(file, owner_node, f"{where}.owner", systems)
        if owner is None:
            return None
    else:
        owner = default.owner if default else None
    try:
        policy = Policy(policy_node.value) if policy_node else (default.policy if default else None)
    except ValueError:
        file.add(policy_node.line if policy_node else node.line, f"{where}.policy",
                 f"policy {policy_node.value if policy_node else None!r} is not known",
                 "use owner_wins or latest_commit_wins")
        return None
    if owner is None or policy is None:
        file.add(node.line, where, "needs both an owner and a policy",
                 "add them here, or file-wide defaults `owner:` and `policy:`")
        return None
    return FieldPolicy(owner=owner, policy=policy)


def _source_columns(file: _File, node: Node, where: str, system: str | None, tables: Tables,
                    schemas: SchemaSet, systems: Systems) -> _Columns | None:
    table_node, record_node = node.get("table"), node.get("record")
    if (table_node is None) == (record_node is None):
        file.add(node.line, where, "a source reads either a `table` (with `system`) or a canonical `record`",
                 "give one of them")
        return None
    if record_node is not None:
        try:
            definition = schemas.definition(str(record_node.value))
        except UnknownSchema as exc:
            file.add(record_node.line, f"{where}.record", exc.reason, NAME_A_RECORD)
            return None
        named = dict(schemas.named)
        return _Columns({f["name"]: from_avro(f["type"], named) for f in definition["fields"]},
                        f"record {definition['name']}")
    if system is None:
        file.add(node.line, f"{where}.system", "a table source needs `system: crm` or `system: erp`",
                 "add the system")
        return None
    return _table_columns(file, node, where, str(system), tables, systems)


def _table_columns(file: _File, node: Node, where: str, system: str, tables: Tables,
                   systems: Systems) -> _Columns | None:
    """A table's columns and kinds from its system's columns file (``systems/<system>.columns.yaml``)."""
    table_node, columns_node = node.get("table"), node.get("columns")
    table = str(table_node.value) if table_node else ""
    rediscover = f"isthmus mappings discover {system}"
    if columns_node is not None:
        file.add(columns_node.line, f"{where}.columns", "`columns:` is no longer read: a table's columns and their "
                 f"types come from its system's columns file (systems/{system}.columns.yaml)",
                 f"remove `columns:`, and run `{rediscover}` so the table is in the columns file")
        return None
    catalog = tables.get(system)
    if catalog is None:
        system_node = node.get("system")
        file.problems.append(_NoColumnsFile(
            file=file.path, line=system_node.line if system_node else node.line, field=f"{where}.system",
            message=f"system {system!r} has no columns file, so its tables cannot be checked",
            fix=f"run `{rediscover}` (it writes systems/{system}.columns.yaml from the live database)", system=system))
        return None
    origin_file = catalog.path.name if catalog.path else f"{system}.columns.yaml"
    if table not in catalog.tables:
        file.add(table_node.line if table_node else node.line, f"{where}.table",
                 f"{system} has no table {table!r} in {origin_file} (namespace {catalog.namespace})",
                 f"use one of {_choices(catalog.tables)}; if the table is new, re-run `{rediscover}`")
        return None
    spec = systems.get(system)
    if spec is not None and not spec.captures(table):
        connector_file = _connector_file(spec)
        listed = spec.capture.table_list if spec.capture else ""
        qualified = f"{spec.namespace}.{table}"
        file.add(table_node.line if table_node else node.line, f"{where}.table",
                 f"{qualified} is not captured by {system}'s connector {spec.connector} "
                 f"({shown(connector_file)}: table.include.list {listed or '(not set)'}), so its changes never arrive",
                 f"add {qualified} to table.include.list in {shown(connector_file)} and {_deploy(spec)}, or read a "
                 "captured table")
        return None
    captured = catalog.tables[table]
    return _Columns({name: from_column(column, catalog.engine) for name, column in captured.columns.items()},
                    f"{system}.{table} ({origin_file})", f"if the table changed, re-run `{rediscover}`",
                    row_key=captured.primary_key, key_only_before=not catalog.full_row_images(captured),
                    unsent=_unsent(captured, catalog.engine, spec),
                    types={name: column.sql_type for name, column in captured.columns.items()},
                    stores={**_stored_times(captured, catalog.engine), **_stored_chars(captured, catalog.engine)})


def _stored_times(table: Table, engine: str) -> dict[str, Step]:
    """Each time column of ``table`` that keeps fewer digits of a second's fraction than a time holds (its
    fractional-second precision), with the step ``engine`` stores a finer time in it through: MariaDB cuts the rest
    off, MySQL (5.6.4 and later) and PostgreSQL round it, a half up."""
    step = TruncateStep if engine == "mariadb" else RoundStep
    found: dict[str, Step] = {}
    for column in table.columns.values():
        digits = column_digits(column, engine)
        if digits is not None and digits < MOST_DIGITS:
            found[column.name] = step(digits=digits)
    return found


def _stored_chars(table: Table, engine: str) -> dict[str, Step]:
    """Each fixed-length text column of ``table`` (``CHAR(n)``, PostgreSQL's ``character(n)``), with how its engine
    keeps a text written into it: MariaDB and MySQL return it without its trailing spaces (unless the ``sql_mode``
    ``PAD_CHAR_TO_FULL_LENGTH``), PostgreSQL pads it with spaces to ``n`` (a column of no length keeps one)."""
    found: dict[str, Step] = {}
    for column in table.columns.values():
        if column.sql_type in ("CHAR", "CHARACTER"):
            length = int(column.args[0]) if column.args and column.args[0].isdigit() else 1
            found[column.name] = CharStep(length=length if engine == "postgresql" else None)
    return found


def _connector_file(spec: SystemSpec) -> Path:
    return spec.connector_file or Path("connect-configs", "connectors", f"{spec.connector}.yaml")


def _deploy(spec: SystemSpec) -> str:
    """How to deploy a changed connector file, for a fix."""
    connector_file = _connector_file(spec)
    return (f"deploy it (`isthmus connectors deploy --configs {shown(connector_file.parent.parent)} "
            f"{spec.connector}`)")


def _unsent(table: Table, engine: str, spec: SystemSpec | None) -> dict[str, tuple[str, str]]:
    """The columns of ``table`` that no change event carries, each with (why, the fix): on PostgreSQL a generated
    column, whose value logical decoding (pgoutput) never sends, only the snapshot reads; and a column the
    connector's ``column.include.list`` or ``column.exclude.list`` leaves out."""
    found: dict[str, tuple[str, str]] = {}
    if spec is None or not spec.captured:
        return found
    connector_file = shown(_connector_file(spec))
    for column in table.columns.values():
        qualified = f"{spec.namespace}.{table.name}.{column.name}"
        left_out_by = spec.column_left_out_by(table.name, column.name)
        if engine == "postgresql" and column.generated is not None:
            listing = (f"take {qualified} out of column.include.list" if spec.capture is not None
                       and spec.capture.columns_included is not None else f"put {qualified} in column.exclude.list")
            exclude = ("" if left_out_by else f"; and {listing} of {connector_file}, for an incremental snapshot of "
                       "the table fails while the connector reads it")
            found[column.name] = (
                f"is a generated column (GENERATED ALWAYS AS (...) {column.generated.upper()}): PostgreSQL's logical "
                "decoding (pgoutput) never sends its value in a change, only the snapshot reads it, so every change "
                "after the snapshot would lack it",
                f"compute the value in the mapping from the columns it is generated from (`compute: \"<expression>\"`, "
                f"the generation expression in the mapping's expression language){exclude}")
        elif left_out_by is not None:
            include = left_out_by == "column.include.list"
            found[column.name] = (
                f"connector {spec.connector} leaves out of every change event (its {left_out_by} in {connector_file} "
                f"{'does not name it' if include else 'names it'})",
                f"read a column the connector sends, or {'add ' + qualified + ' to' if include else 'take it out of'} "
                f"{left_out_by} in {connector_file} and {_deploy(spec)}")
    return found


def _reads(binding: FieldBinding) -> set[str]:
    """The columns a binding reads, its ``local_to_utc`` steps' sibling columns too."""
    names = set(binding.reads)
    for step in binding.steps:
        if isinstance(step, LocalToUtcStep) and step.policy.decided_by is not None:
            names.add(step.policy.decided_by.column)
    for inner in (binding.nested or {}).values():
        names |= _reads(inner)
    return names


def _refuse_unsent(file: _File, columns: _Columns, reads: list[tuple[int, str, Iterable[str]]]) -> bool:
    """A problem for each column of ``reads`` (line, field, columns read there) that no change event carries
    (:attr:`_Columns.unsent`); True if there was one."""
    refused = False
    for line, where, names in reads:
        for name in sorted(set(names) & set(columns.unsent)):
            why, fix = columns.unsent[name]
            file.add(line, where, f"reads {name!r} of {columns.origin}, which {why}", fix)
            refused = True
    return refused


def _load(path: Path, schemas: SchemaSet, tables: Tables,
          systems: Systems) -> tuple[RecordMapping | None, list[Problem]]:
    file = _File(path)
    root = _read(path, file)
    if root is None:
        return None, file.problems
    for name, node in root.items():
        if name not in TOP_KEYS:
            file.add(node.line, name, f"unknown key {name!r}", f"use {_choices(TOP_KEYS)}")
    target_node, key_node = root.get("target"), root.get("key")
    if target_node is None or key_node is None:
        file.add(root.line, "target" if target_node is None else "key", "a mapping needs `target` and `key`",
                 "add `target: <canonical record>` and `key: <its key field>`")
        return None, file.problems
    try:
        target = schemas.resolve(str(target_node.value))
        definition = schemas.definition(target)
    except UnknownSchema as exc:
        file.add(target_node.line, "target", exc.reason, NAME_A_RECORD)
        return None, file.problems
    if definition.get("type") != "record":
        file.add(target_node.line, "target", f"{target} is not a record", "map to a record type")
        return None, file.problems
    target_fields = {f["name"]: f for f in definition["fields"]}
    key_value = key_node.value if key_node.is_sequence else [key_node]
    key = tuple(str(k.value) for k in key_value) if key_node.is_sequence else (str(key_node.value),)
    for name in key:
        if name not in target_fields:
            file.add(key_node.line, "key", f"{target} has no field {name!r}", f"use one of {_choices(target_fields)}")

    default: FieldPolicy | None = None
    owner_node, policy_node = root.get("owner"), root.get("policy")
    defaults = {k: v for k, v in (("owner", owner_node), ("policy", policy_node)) if v is not None}
    if defaults:
        default = _policy(file, Node(defaults, min(v.line for v in defaults.values())), "owner/policy", None, systems)
    policies: dict[str, FieldPolicy] = {}
    fields_node = root.get("fields")
    for name, node in fields_node.items() if fields_node else ():
        if name not in target_fields:
            file.add(node.line, f"fields.{name}", f"{target} has no field {name!r}",
                     f"use one of {_choices(target_fields)}")
            continue
        policy = _policy(file, node, f"fields.{name}", default, systems)
        if policy:
            policies[name] = policy

    value_maps: dict[str, Mapping[str, Any]] = {}
    maps_node = root.get("value_maps")
    for name, node in maps_node.items() if maps_node else ():
        if not node.is_mapping:
            file.add(node.line, f"value_maps.{name}", "a value map is a mapping of source to target values",
                     "write `reserved: reserved` pairs, or `values:` and `default:`")
            continue
        value_maps[name] = node.plain()

    plugins: dict[str, Any] = {}
    plugins_node = root.get("plugins")
    for name, node in plugins_node.items() if plugins_node else ():
        try:
            plugins[name] = load_declared(name, str(node.value), path.parent)
        except ArgumentProblem as exc:
            file.add(node.line, f"plugins.{name}", exc.message, exc.fix)

    parent = _parent(file, root.get("parent"), schemas, target)
    env = Environment(schemas=schemas, value_maps=value_maps, plugins=plugins,
                      local_times=read_policy(root.get("local_times"), file.add))
    compiler = _Compiler(file, schemas, env)
    sources: list[SourceMapping] = []
    sources_node = root.get("sources")
    if sources_node is None or not sources_node.is_mapping or not sources_node.value:
        file.add(sources_node.line if sources_node else root.line, "sources", "a mapping needs at least one source",
                 "add `sources: {<name>: {system: crm, table: customers, fields: {...}}}`")
    for name, node in sources_node.items() if sources_node else ():
        source = _source(file, compiler, name, node, target, target_fields, key, parent, tables, schemas,
                         systems, parent_given=root.get("parent") is not None)
        if source is not None:
            sources.append(source)

    bound = {f for s in sources for f in s.bindings} | {f for s in sources for f in (s.on_delete or {})}
    reconciled = {f for s in sources if s.table for f in (*s.bindings, *(s.on_delete or {}))}
    for name in sorted(reconciled - set(policies) - set(key)):
        if defaults and default is None:
            break
        if default is not None:
            policies[name] = default
        else:
            line = next(s.bindings[name].line for s in sources if name in s.bindings) if any(
                name in s.bindings for s in sources) else root.line
            file.add(line, f"fields.{name}", f"{name} is mapped but has no owner and conflict policy",
                     f"add `{name}: {{owner: <system>, policy: owner_wins|latest_commit_wins}}` under `fields:` "
                     "(or file-wide `owner:` and `policy:`)")
    if sources and not file.problems:
        for name, spec in target_fields.items():
            if "default" not in spec and name not in bound and parent is None:
                file.add(target_node.line, name, f"{target}.{name} has no default and no source binds it",
                         "bind it in a source, or give it a default in the schema")
    publication = _publication(file, root.get("publish"), sources)
    if file.problems:
        return None, file.problems
    description = root.get("description")
    mapping = RecordMapping(path=path, target=target, key=key, policies=MappingProxyType(policies),
                            sources=tuple(sources), parent=parent, publish=publication,
                            description=str(description.value) if description else "",
                            warnings=tuple(file.warnings))
    plan_of(mapping, schemas.named)  # compiled once here, not per record
    return mapping, []


def _publication(file: _File, node: Node | None, sources: list[SourceMapping]) -> Publication | None:
    """``publish: {topic: invoices, sources: [erp_invoices]}``: which table sources the canonical flow publishes,
    on ``isthmus.canonical.<topic>`` (``sources`` defaults to every table source of the file)."""
    if node is None:
        return None
    fix = "write `publish: {topic: <name>, sources: [<source>, ...]}` (sources: default every table source)"
    values = node.plain() if node.is_mapping else None
    if not isinstance(values, dict) or not set(values) <= {"topic", "sources"} or "topic" not in values:
        file.add(node.line, "publish", "`publish` names the canonical `topic` and may list `sources`", fix)
        return None
    topic = values["topic"]
    if not isinstance(topic, str) or not _TOPIC_NAME.match(topic):
        file.add(node.line, "publish.topic", f"{topic!r} is not a topic name",
                 "letters, digits, '.', '_' and '-', e.g. `topic: invoices` (published on isthmus.canonical.invoices)")
        return None
    tables = [s.name for s in sources if s.table is not None]
    listed = values.get("sources", tables)
    if not isinstance(listed, list) or not listed or not all(isinstance(n, str) for n in listed):
        file.add(node.line, "publish.sources", "a list of source names", fix)
        return None
    unknown = [n for n in listed if n not in tables]
    if unknown:
        file.add(node.line, "publish.sources", f"no table source {', '.join(map(repr, unknown))} in this file",
                 f"name sources that read a table: {_choices(tables)}")
        return None
    return Publication(topic=topic, sources=tuple(listed))


def _parent(file: _File, node: Node | None, schemas: SchemaSet, target: str) -> ParentLink | None:
    if node is None:
        return None
    values = node.plain() if node.is_mapping else {}
    if set(values) != {"record", "field", "key"}:
        file.add(node.line, "parent", "`parent` names the parent `record`, its list `field` and its `key`",
                 "write `parent: {record: SalesOrder, field: lines, key: order_number}`")
        return None
    try:
        record = schemas.resolve(str(values["record"]))
        definition = schemas.definition(record)
    except UnknownSchema as exc:
        file.add(node.line, "parent.record", exc.reason, NAME_A_RECORD)
        return None
    fields = {f["name"]: f for f in definition["fields"]}
    list_field = fields.get(values["field"])
    items = list_field["type"].get("items") if list_field and isinstance(list_field["type"], dict) else None
    if isinstance(items, dict):
        # The item record defined in place (valid Avro): the loaded schema names it by its full name.
        items = items.get("name")
    if items != target:
        file.add(node.line, "parent.field", f"{record} has no list of {target} named {values['field']!r}",
                 "name the array field that holds this record")
        return None
    if values["key"] not in fields:
        file.add(node.line, "parent.key", f"{record} has no field {values['key']!r}", "name the parent's key")
        return None
    return ParentLink(record=record, field=values["field"], key=values["key"])


def _source(file: _File, compiler: _Compiler, name: str, node: Node, target: str,
            target_fields: Mapping[str, Any], key: tuple[str, ...], parent: ParentLink | None, tables: Tables,
            schemas: SchemaSet, systems: Systems, *, parent_given: bool = False) -> SourceMapping | None:
    """``parent_given``: the file has a `parent:`, refused already if ``parent`` is None (its own problem)."""
    where = f"sources.{name}"
    if not node.is_mapping:
        file.add(node.line, where, "a source is a mapping", "give system, table and fields")
        return None
    for option, option_node in node.items():
        if option not in SOURCE_KEYS:
            file.add(option_node.line, f"{where}.{option}", f"unknown key {option!r}", f"use {_choices(SOURCE_KEYS)}")
    system: str | None = None
    system_node = node.get("system")
    if system_node is not None:
        system = _system(file, system_node, f"{where}.system", systems)
        if system is None:
            return None
        if not systems[system].captured:
            file.add(system_node.line, f"{where}.system", f"{system} is written only (capture: none in "
                     f"{shown(systems[system].path)}): no change of its tables ever arrives",
                     f"read a captured system's table, or the canonical record (`record:`); what {system} gets "
                     "is its flow role's payload mapping of the canonical record")
            return None
    columns = _source_columns(file, node, where, system, tables, schemas, systems)
    if columns is None:
        return None
    condition = None
    when_node = node.get("when")
    if when_node is not None:
        condition = _expression(file, when_node, f"{where}.when", columns)
    # What the bindings read: the rows the condition lets through (`kind == 'billing'` fills an enum of one value).
    bound = columns if condition is None else replace(columns, kinds={**columns.kinds,
                                                                       **narrowed_by(condition, columns.kinds)})
    group_by: tuple[str, ...] = ()
    group_node = node.get("group_by")
    if group_node is not None:
        listed = group_node.plain()
        if not isinstance(listed, list) or any(c not in columns.kinds for c in listed):
            file.add(group_node.line, f"{where}.group_by", "`group_by` lists columns of the source",
                     columns.unknown_fix(f"columns of {columns.origin}: {_choices(columns.kinds)}"))
        else:
            group_by = tuple(listed)
    bindings: dict[str, FieldBinding] = {}
    fields_node = node.get("fields")
    if fields_node is None or not fields_node.is_mapping:
        file.add(node.line, f"{where}.fields", "a source needs `fields:` binding target fields",
                 f"add `fields: {{{key[0]}: <column>}}`")
        return None
    for field_name, binding_node in fields_node.items():
        field_where = f"{where}.fields.{field_name}"
        if field_name not in target_fields:
            file.add(binding_node.line, field_where, f"{target} has no field {field_name!r}",
                     f"use one of {_choices(target_fields)}")
            continue
        binding = compiler.binding(field_name, binding_node, field_where, bound,
                                   target_fields[field_name]["type"], bool(group_by))
        if binding is not None:
            bindings[field_name] = binding
    for key_field in key:
        if key_field not in fields_node.value:
            file.add(fields_node.line, f"{where}.fields", f"the source does not bind the key field {key_field!r}",
                     f"add `{key_field}: <column>` (a look-up through the cross-reference if the table lacks it)")
    parent_key = None
    parent_node = node.get("parent_key")
    if parent is not None:
        if parent_node is None:
            file.add(node.line, f"{where}.parent_key", f"a child of {parent.record} needs `parent_key`",
                     f"bind the parent's {parent.key}, e.g. with a lookup")
        else:
            parent_type = next(f["type"] for f in schemas.definition(parent.record)["fields"]
                               if f["name"] == parent.key)
            parent_key = compiler.binding(parent.key, parent_node, f"{where}.parent_key", bound, parent_type,
                                          False)
    elif parent_node is not None and not parent_given:
        file.add(parent_node.line, f"{where}.parent_key", "only a mapping with `parent:` has a parent key",
                 "remove it or add `parent:`")
    on_delete = _on_delete(file, node.get("on_delete"), where, target_fields, schemas)
    changed_at = _changed_at(file, compiler, node.get(CHANGED_AT), f"{where}.{CHANGED_AT}", bound,
                             systems[system] if system is not None else None)
    reads: list[tuple[int, str, Iterable[str]]] = [
        (binding.line, f"{where}.fields.{name}", _reads(binding)) for name, binding in bindings.items()]
    if changed_at is not None:
        reads.append((changed_at.line, f"{where}.{CHANGED_AT}", _reads(changed_at)))
    if condition is not None and when_node is not None:
        reads.append((when_node.line, f"{where}.when", condition.names))
    if group_node is not None:
        reads.append((group_node.line, f"{where}.group_by", group_by))
    if parent_key is not None:
        reads.append((parent_key.line, f"{where}.parent_key", _reads(parent_key)))
    if _refuse_unsent(file, columns, reads):
        return None
    return SourceMapping(name=name, line=node.line, system=system,
                         table=str(node.value["table"].value) if "table" in node.value else None,
                         record=str(node.value["record"].value) if "record" in node.value else None,
                         condition=condition, bindings=MappingProxyType(bindings), on_delete=on_delete,
                         group_by=group_by, parent_key=parent_key, kinds=MappingProxyType(dict(columns.kinds)),
                         row_key=columns.row_key, key_only_before=columns.key_only_before,
                         stores=MappingProxyType(dict(columns.stores)), changed_at=changed_at)


def _changed_at(file: _File, compiler: _Compiler, node: Node | None, where: str, columns: _Columns,
                system: SystemSpec | None) -> FieldBinding | None:
    """A table source's ``changed_at``: what tells when a row last changed (a column, or an expression), compiled
    like a field binding into a UTC instant (a zone-less local time through ``local_to_utc``, in the system's
    ``time_zone``). A column that keeps coarser times than the system's commit times is warned of: a snapshot read
    of it is compared at the system's precision."""
    if node is None:
        return None
    if system is None:
        file.add(node.line, where, "a source reading a canonical record is never read by a snapshot",
                 f"remove `{CHANGED_AT}`; declare it on the table sources the record comes from")
        return None
    if node.is_mapping and not {"from", "compute"} & set(node.value):
        file.add(node.line, where, f"`{CHANGED_AT}` reads when the row last changed from the row",
                 f"write `{CHANGED_AT}: <column>`, `{CHANGED_AT}: {{from: <column>, transform: [local_to_utc]}}` "
                 f"for a zone-less local time, or `{CHANGED_AT}: {{compute: \"<expression>\"}}`")
        return None
    binding = compiler.binding(CHANGED_AT, node, where, columns, _INSTANT, False)
    if binding is None or binding.column is None:
        return binding
    kept = columns.stores.get(binding.column)
    digits = kept.digits if isinstance(kept, (TruncateStep, RoundStep)) else None
    clock = system.clock
    if digits is not None and dt.timedelta(microseconds=10 ** (MOST_DIGITS - digits)) > clock.resolution:
        kept_as = "whole seconds" if digits == 0 else f"{digits} digits of a second's fraction"
        coarser = "seconds" if digits < 3 else "milliseconds"
        file.warnings.append(Problem(
            file=file.path, line=node.line, field=where,
            message=f"{binding.column!r} of {columns.origin} keeps {kept_as}, {system.name}'s commit times "
                    f"{clock.value}: the time of a snapshot read is compared at {clock.value}, so another system's "
                    "change made within the column's last digit after the row's reads as later, though it may have "
                    "come first",
            fix=f"set `commit_time_precision: {coarser}` in {shown(system.path)} ({system.name}'s streamed changes "
                "are then compared at it too), or keep it so knowingly"))
    return binding


def _on_delete(file: _File, node: Node | None, where: str, target_fields: Mapping[str, Any],
               schemas: SchemaSet) -> Mapping[str, Any] | None:
    if node is None or node.value == "delete":
        return None
    values = node.plain()
    if not isinstance(values, dict) or set(values) != {"set"} or not isinstance(values["set"], dict):
        file.add(node.line, f"{where}.on_delete", "`on_delete` is `delete` or `{set: {field: value}}`",
                 "write `on_delete: {set: {active: false}}`")
        return None
    unknown = sorted(set(values["set"]) - set(target_fields))
    if unknown:
        file.add(node.line, f"{where}.on_delete", f"no target field {', '.join(unknown)}",
                 f"use fields of the target: {_choices(target_fields)}")
        return None
    coerced: dict[str, Any] = {}
    for name, value in values["set"].items():
        try:
            coerced[name] = coerce(value, target_fields[name]["type"], schemas.named, name)
        except MappingValueError as exc:
            file.add(node.line, f"{where}.on_delete.{name}", str(exc), "give a value the field's type allows")
            return None
    return MappingProxyType(coerced)


def default_tables() -> Tables:
    """The columns files of the systems folder (``ISTHMUS_SYSTEMS_DIR``, default ``systems/``)."""
    from streams.catalog.columns_file import read_all  # here, not above: streams.catalog imports this package
    from streams.systems import systems_dir

    return read_all(systems_dir())


def _default_systems() -> Systems:
    from streams.systems import load_systems

    return load_systems()


def load_mapping(path: Path, *, schemas: SchemaSet | None = None, tables: Tables | None = None,
                 systems: Systems | None = None) -> RecordMapping:
    """Load and check one mapping file; raises :class:`MappingLoadError` listing every problem. ``systems``:
    the declared systems its ``system:`` and ``owner:`` names must be (default :func:`load_systems`)."""
    mapping, problems = _load(path, schemas or load_schemas(), tables if tables is not None else default_tables(),
                              systems if systems is not None else _default_systems())
    if mapping is None:
        raise MappingLoadError(_once_per_system(problems))
    return mapping


def load_mappings(directory: Path | None = None, *, schemas: SchemaSet | None = None,
                  tables: Tables | None = None, systems: Systems | None = None) -> dict[str, RecordMapping]:
    """Every ``*.yaml`` of ``directory`` (default :func:`mappings_dir`; not sub-folders), by file stem; all
    problems of all files at once. ``systems``: the declared systems (default :func:`load_systems`)."""
    directory = mappings_dir() if directory is None else directory
    schemas = schemas or load_schemas()
    systems = systems if systems is not None else _default_systems()
    tables = tables if tables is not None else default_tables()
    loaded: dict[str, RecordMapping] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.yaml")):
        mapping, found = _load(path, schemas, tables, systems)
        problems += found
        if mapping is not None:
            loaded[path.stem] = mapping
    if problems:
        raise MappingLoadError(_folders_mixed(directory) + _once_per_system(problems))
    captured = frozenset(name for name, spec in systems.items() if spec.captured)
    for stem, warnings in unanswered(loaded, captured).items():
        loaded[stem] = replace(loaded[stem], warnings=(*loaded[stem].warnings, *warnings))
    return loaded


def _folders_mixed(directory: Path) -> list[Problem]:
    """The likely cause first when the project's own mapping files are read beside systems of one's own
    (``ISTHMUS_SYSTEMS_DIR`` set, ``ISTHMUS_MAPPINGS_DIR`` not): every reference mapping then names systems
    that are not declared."""
    from streams.systems.loader import SYSTEMS_DIR_ENV  # the mapping package is imported by the systems' loader

    systems = os.environ.get(SYSTEMS_DIR_ENV)
    if not systems or os.environ.get(MAPPINGS_DIR_ENV) or directory != MAPPINGS_DIR:
        return []
    return [Problem(file=directory, line=None, field=None,
                    message=f"the project's own mapping files are read, while {SYSTEMS_DIR_ENV}={systems} declares "
                            "systems of your own",
                    fix=f"set {MAPPINGS_DIR_ENV} to the folder of your mapping files (and ISTHMUS_FLOWS_DIR to your "
                        "flow files), as for every isthmus command")]
