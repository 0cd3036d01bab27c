"""A SQL route's ``children``: a list field of the payload (a document's lines) written as rows of a child table,
in the transaction of the route's own row, so the keys table keeps the whole document once. Pure planning, the
same for every SQL dialect; the adapters run the statements.

``mode: replace`` (the one mode): the list is the lines. After the parent row is written (and read back, so an
id the database generated is known), the child rows the parent has are read by ``parent_key``; the list's rows
are upserted by the child ``key`` and the rows not in the list deleted. A create writes them all, an edit adds,
changes and removes, a repeat changes nothing. An empty list deletes every line; a payload without the field (or
null) is refused, since "no word of lines" is not "no lines".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.sinks.adapters.mapping import MISSING, get_path, render_fields
from streams.sinks.config.model import SqlChildren, SqlRoute
from streams.sinks.outcomes import Failed

#: The child rows of one statement when the target file has no ``limits.lines_per_call``.
ROWS_PER_STATEMENT = 500

#: Checks one row for a table (binary columns, decimal places), naming the line ``where``: the row as the
#: table takes it, or why not.
RowCheck = Callable[[str, dict[str, Any], str], "dict[str, Any] | Failed"]


def _refused(error_type: str, reason: str) -> Failed:
    """A command whose lines the child table cannot take: dead-lettered, nothing written."""
    return Failed(kind="permanent", error_type=error_type, reason=reason)


@dataclass(frozen=True, kw_only=True)
class ChildRows:
    """The rows of one ``children`` entry, as the items map them (the parent's key not yet filled in)."""

    spec: SqlChildren
    rows: tuple[dict[str, Any], ...]

    def parent_values(self, parent: Mapping[str, Any] | None) -> dict[str, Any] | Failed:
        """The child columns ``parent_key`` fills, read from the parent row as written (the route's answer)."""
        values: dict[str, Any] = {}
        for child_column, parent_column in self.spec.parent_key.items():
            value = None if parent is None else parent.get(parent_column)
            if value is None:
                return _refused("NoParentKey", f"the row written has no value in {parent_column}, which parent_key "
                                f"gives {self.spec.table}.{child_column}: nothing was written; name a column the "
                                "route's table always fills (its key, or a generated id)")
            values[child_column] = value
        return values

    def under(self, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows with the parent's key ``values`` (from :meth:`parent_values`)."""
        return [{**values, **row} for row in self.rows]


def child_rows(route: SqlRoute, payload: Mapping[str, Any], check: RowCheck) -> tuple[ChildRows, ...] | Failed:
    """Every ``children`` entry's rows from the payload, or why the command cannot be applied: its list missing,
    an item without a key value, two items with one key, a row ``check`` refuses (each naming the line)."""
    planned: list[ChildRows] = []
    for spec in route.children:
        items = get_path(payload, spec.source)
        if items is MISSING or items is None or not isinstance(items, list):
            shown = "nothing" if items is MISSING or items is None else type(items).__name__
            return _refused("NoLines", f"the payload's {spec.source} is {shown}, not a list, so the rows of "
                            f"{spec.table} cannot be replaced: nothing was written; check what the sending flow "
                            f"puts in this payload: an entity flow sends {spec.source} only to a system whose "
                            "`writes` (and payload mapping) carry it, a document flow always sends its lines, and "
                            "`isthmus mappings validate` names a route whose children no flow feeds; else take "
                            "children out of the route (an empty list removes all the rows)")
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[str, ...], int] = {}
        for index, item in enumerate(items):
            where = f" in {spec.source}[{index}]"
            row = render_fields(spec.columns, item if isinstance(item, Mapping) else {}, {}, keep_nulls=True)
            missing = [k for k in spec.key if k in spec.columns and row.get(k) is None]
            if missing:
                return _refused("MissingKey", f"{spec.table}: the line{where} gives no value for key column "
                                f"{', '.join(missing)}: nothing was written; send it in every line")
            line_key = key_of(row, [k for k in spec.key if k in spec.columns])
            if line_key in seen:
                return _refused("DuplicateLineKey", f"{spec.source}[{seen[line_key]}] and {spec.source}[{index}] "
                                f"have the same key in {spec.table} ({', '.join(line_key)}): nothing was written; "
                                "give each line its own key (a line number) in the source")
            seen[line_key] = index
            checked = check(spec.table, row, where)
            if isinstance(checked, Failed):
                return checked
            rows.append(checked)
        planned.append(ChildRows(spec=spec, rows=tuple(rows)))
    return tuple(planned)


def key_of(row: Mapping[str, Any], key: Iterable[str]) -> tuple[str, ...]:
    """A row's key as text, so a key read from the table (an int, a Decimal) equals the payload's."""
    return tuple(str(row[k]) for k in key)


def stale_keys(existing: Iterable[Mapping[str, Any]], rows: Iterable[Mapping[str, Any]],
               key: Sequence[str]) -> list[list[Any]]:
    """The keys of the ``existing`` child rows that ``rows`` (the list) no longer has: the rows to delete."""
    kept = {key_of(row, key) for row in rows}
    return [[row[k] for k in key] for row in existing if key_of(row, key) not in kept]


def chunks(rows: Sequence[Any], size: int | None) -> list[Sequence[Any]]:
    """``rows`` in order, at most ``size`` (default :data:`ROWS_PER_STATEMENT`) a statement."""
    step = size or ROWS_PER_STATEMENT
    return [rows[start:start + step] for start in range(0, len(rows), step)]


@dataclass(frozen=True, kw_only=True)
class Dialect:
    """How one SQL dialect quotes a (qualified) name and upserts: ``upsert(key, updates)`` is the tail of an
    ``INSERT`` that updates ``updates`` of a row whose ``key`` exists (``updates`` never empty)."""

    quote: Callable[[str], str]
    upsert: Callable[[Sequence[str], Sequence[str]], str]


def _quoted(mark: str) -> Callable[[str], str]:
    return lambda name: ".".join(mark + part.replace(mark, mark * 2) + mark for part in name.split("."))


_pg, _my = _quoted('"'), _quoted("`")
POSTGRESQL = Dialect(quote=_pg, upsert=lambda key, updates: (
    f"ON CONFLICT ({', '.join(map(_pg, key))}) DO UPDATE SET "
    + ", ".join(f"{_pg(c)} = EXCLUDED.{_pg(c)}" for c in updates)))
MARIADB = Dialect(quote=_my, upsert=lambda key, updates: (
    "ON DUPLICATE KEY UPDATE " + ", ".join(f"{_my(c)} = VALUES({_my(c)})" for c in updates)))


def existing_statement(spec: SqlChildren, dialect: Dialect) -> str:
    """The keys of the child rows the parent has (its ``parent_key`` values as parameters)."""
    q = dialect.quote
    return (f"SELECT {', '.join(map(q, spec.key))} FROM {q(spec.table)} WHERE "
            + " AND ".join(f"{q(c)} = %s" for c in spec.parent_key))


def child_writes(child: ChildRows, values: Mapping[str, Any], existing: Iterable[Mapping[str, Any]],
                 dialect: Dialect, size: int | None) -> list[tuple[str, list[Any]]]:
    """The statements (and their parameters) that make the parent's child rows the list: upsert every row of
    it by the child key, then delete the ``existing`` rows it no longer has; at most ``size`` rows each."""
    spec, q = child.spec, dialect.quote
    rows = child.under(values)
    columns = spec.written()
    updates = [c for c in columns if c not in spec.key] or [spec.key[0]]
    one = f"({', '.join(['%s'] * len(columns))})"
    writes: list[tuple[str, list[Any]]] = []
    for part in chunks(rows, size):
        writes.append((f"INSERT INTO {q(spec.table)} ({', '.join(map(q, columns))}) VALUES "
                       f"{', '.join([one] * len(part))} {dialect.upsert(spec.key, updates)}",
                       [row[c] for row in part for c in columns]))
    keys = f"({', '.join(map(q, spec.key))})"
    one_key = f"({', '.join(['%s'] * len(spec.key))})"
    for part in chunks(stale_keys(existing, rows, spec.key), size):
        writes.append((f"DELETE FROM {q(spec.table)} WHERE {keys} IN ({', '.join([one_key] * len(part))})",
                       [value for key in part for value in key]))
    return writes


def child_problems(spec: SqlChildren, columns: set[str], parent_columns: set[str]) -> list[str]:
    """What is wrong with a child table, given the columns the database says it and the parent's table have."""
    where = f"line {spec.line}: children {spec.table}"
    if not columns:
        return [f"{where}: table {spec.table} does not exist; create it first"]
    problems = []
    unknown = sorted(set(spec.written()) - columns)
    if unknown:
        problems.append(f"{where}: {spec.table} has no column {', '.join(unknown)}; its columns: "
                        f"{', '.join(sorted(columns))}")
    absent = sorted(set(spec.parent_key.values()) - parent_columns) if parent_columns else []
    if absent:
        problems.append(f"{where}: parent_key names {', '.join(absent)}, which the route's table does not have; its "
                        f"columns: {', '.join(sorted(parent_columns))}")
    return problems
