"""A SQL route's ``lookups``: a column the payload leaves null (a parent's generated id, which only the target
knows) filled with column ``take`` of the one row whose ``match`` columns hold the payload's values, read by one
indexed ``SELECT`` in the transaction of the write. Pure planning and judging, the same for every SQL dialect; the
adapters run the statements.

- A null (or absent) payload value in ``match`` is no reference, a root of a hierarchy: the column is written NULL
  and nothing is read (as a foreign key of several columns is not checked when one of them is null).
- The rows are compared with the payload's values text for text (``sql_keys``): a collation that ignores case or
  pads with spaces cannot answer another key's row, its twin.
- No row is transient, for the lookup's ``wait_s``: the referenced row's own command may be applied a moment later
  (children inserted before their parent in one source transaction, commands applied in parallel). Then the command
  is dead-lettered (``LookupNotFound``), to replay once the row exists. Several rows are ambiguous at once
  (``LookupAmbiguous``): never a guess.
- On an update, deactivate or cancel route a lookup may fill a key column (``key_from_lookup``): the row to write,
  found by its business key when the payload does not have its generated key yet (an update decided before the
  created row's id came back through capture), waiting the same way for a create still in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.sinks.adapters.mapping import MISSING, get_path, lookups_needed, spec_references
from streams.sinks.adapters.sql_children import Dialect
from streams.sinks.adapters.sql_keys import TextColumn, held_as_sent, key_text
from streams.sinks.config.model import (
    KEY_LOOKUP_OPERATIONS,
    LOOKUP_WAIT_S,
    FromField,
    SqlLookup,
    SqlRoute,
    TargetConfig,
)
from streams.sinks.outcomes import LOOKUP_AMBIGUOUS, LOOKUP_NOT_FOUND, Failed

#: The first column of each index of one table (``%s``: table name, schema or "" for the connection's current one).
POSTGRESQL_INDEXES = ("SELECT a.attname AS name FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid "
                      "JOIN pg_namespace n ON n.oid = t.relnamespace "
                      "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
                      "WHERE t.relname = %s AND n.nspname = COALESCE(NULLIF(%s, ''), current_schema())")
MARIADB_INDEXES = ("SELECT column_name AS name FROM information_schema.statistics WHERE table_name = %s "
                   "AND table_schema = COALESCE(NULLIF(%s, ''), DATABASE()) AND seq_in_index = 1")


@dataclass(frozen=True, kw_only=True)
class PendingLookup:
    """A lookup one command needs: the payload's value per ``match`` column, and the row's columns it fills."""

    lookup: SqlLookup
    values: Mapping[str, Any]
    columns: tuple[str, ...]
    #: It fills the route's key: the row it finds is the row to write.
    key: bool = False


def filled_by(route: SqlRoute, name: str) -> tuple[str, ...]:
    """The route's columns that read reference ``name`` (a lookup fills them when the payload leaves it null)."""
    return tuple(c for c, spec in route.columns.items() if isinstance(spec, FromField) and spec.path == name)


def pending_lookups(route: SqlRoute, payload: Mapping[str, Any], row: Mapping[str, Any]) -> tuple[PendingLookup, ...]:
    """The lookups the command's ``row`` needs: those of the references its columns read and the payload leaves
    null (the rule of every adapter's lookups), but not one whose ``match`` has a null payload value (no reference:
    the column stays NULL), nor one whose columns an ``only_changed`` update does not write."""
    pending = []
    for name in lookups_needed(spec_references(route.columns), payload, route.lookups):
        lookup = route.lookups[name]
        columns = tuple(c for c in filled_by(route, name) if c in row)
        values = {column: get_path(payload, field) for column, field in lookup.match.items()}
        if columns and not any(value is MISSING or value is None for value in values.values()):
            pending.append(PendingLookup(lookup=lookup, values=values, columns=columns,
                                         key=any(c in route.key for c in columns)))
    return tuple(pending)


def lookup_statement(lookup: SqlLookup, dialect: Dialect) -> str:
    """The one ``SELECT`` of a lookup: ``take`` and the ``match`` columns (to compare their text) of the rows whose
    ``match`` columns equal the parameters (the payload's values, in ``match`` order)."""
    q = dialect.quote
    columns = dict.fromkeys((lookup.take, *lookup.match))
    return (f"SELECT {', '.join(map(q, columns))} FROM {q(lookup.table)} WHERE "
            + " AND ".join(f"{q(c)} = %s" for c in lookup.match))


def fill(row: dict[str, Any], pending: PendingLookup, rows: Sequence[Mapping[str, Any]],
         texts: Mapping[str, TextColumn], config: TargetConfig) -> Failed | None:
    """Fill the command's ``row`` from the rows the lookup's statement answered (``texts``: the lookup table's text
    columns), or say why not: none held as the payload has it (transient for the lookup's ``wait_s``), several,
    or one without a value to take."""
    lookup, values = pending.lookup, pending.values
    exact = [r for r in rows if held_as_sent(values, r, lookup.match, texts)]
    shown, filled = key_text(values, list(values)), ", ".join(pending.columns)
    where = f"lookups.{lookup.name} in {config.path.name}:{lookup.line}" if lookup.line else config.path.name
    if not exact and pending.key:
        return Failed(kind="transient", error_type=LOOKUP_NOT_FOUND, wait_s=lookup.wait_s,
                      reason=f"lookup {lookup.name}: the row to write, {shown}, is not in {lookup.table} yet"
                             f"{_twins(rows, lookup, texts)}, so its key {filled} cannot be filled and nothing was "
                             f"written; retried for up to {lookup.wait_s:g} s (wait_s, {where}) in case its create "
                             "comes next (a command decided before the created row's key came back): create that "
                             f"row first, or correct {', '.join(lookup.match.values())} in the source, then replay "
                             "the dead letter")
    if not exact:
        return Failed(kind="transient", error_type=LOOKUP_NOT_FOUND, wait_s=lookup.wait_s,
                      reason=f"lookup {lookup.name}: the referenced row {shown} is not in {lookup.table} yet"
                             f"{_twins(rows, lookup, texts)}, so {filled} cannot be filled and nothing was written; "
                             f"retried for up to {lookup.wait_s:g} s (wait_s, {where}) in case the row's own command "
                             "comes next (a child decided before its parent): write that row first, or correct "
                             f"{', '.join(lookup.match.values())} in the source, then replay the dead letter")
    if len(exact) > 1:
        return Failed(kind="permanent", error_type=LOOKUP_AMBIGUOUS,
                      reason=f"lookup {lookup.name}: {len(exact)} rows of {lookup.table} hold {shown} exactly "
                             f"({lookup.take}: {', '.join(repr(r[lookup.take]) for r in exact[:5])}), and a lookup "
                             f"takes one row, never a guess: nothing was written. Match on the columns of a unique "
                             f"key of {lookup.table} ({where}), or merge the rows, then replay the dead letter")
    value = exact[0][lookup.take]
    if value is None:
        return Failed(kind="permanent", error_type="LookupFailed",
                      reason=f"lookup {lookup.name}: the row {shown} of {lookup.table} holds no value in "
                             f"{lookup.take} to fill {filled}: nothing was written; take a column the row always "
                             f"has ({where}), or fill it, then replay the dead letter")
    for column in pending.columns:
        row[column] = value
    return None


def missing_key(config: TargetConfig, route: SqlRoute, row: Mapping[str, Any],
                pending: Sequence[PendingLookup]) -> Failed | None:
    """A key column the payload leaves null and no lookup of the command fills: why, and the fix. On an update,
    deactivate or cancel route that is the lookup to add (the YAML to paste): the row found by its business key,
    the key of another route of the table that the payload carries (a create's), waiting for a create in flight.
    None: every key column has a value, or a lookup to fill it."""
    filled = {c for p in pending for c in p.columns}
    missing = [k for k in route.key if row.get(k) is None and k not in filled]
    if not missing:
        return None
    said = f"{route.table}: the payload gives no value for key column {', '.join(missing)}"
    looking = [lookup for lookup in route.lookups.values() if set(filled_by(route, lookup.name)) & set(missing)]
    if looking:
        fields = ", ".join(dict.fromkeys(f for lookup in looking for f in lookup.match.values()))
        return Failed(kind="permanent", error_type="MissingKey",
                      reason=f"{said}, nor for {fields}, by which lookup {', '.join(lk.name for lk in looking)} finds "
                             "its row: nothing was written; send one of them in the payload, then replay the dead "
                             "letter")
    references = {k: spec.path for k in missing if isinstance(spec := route.columns.get(k), FromField)}
    if route.operation not in KEY_LOOKUP_OPERATIONS or len(references) < len(missing):
        return Failed(kind="permanent", error_type="MissingKey", reason=f"{said}; send it in the payload")
    business = _business_key(config, route, missing)
    match = ", ".join(f"{c}: {f}" for c, f in business.items()) or "<business key column>: <payload field>"
    paste = ", ".join(f"{name}: {{table: {route.table}, match: {{{match}}}, take: {column}, wait_s: "
                      f"{LOOKUP_WAIT_S:g}}}" for column, name in references.items())
    where = f"{config.path.name}:{route.line}" if route.line else config.path.name
    action = "" if route.action != "upsert" else "route it with action: update and "
    fix = (f"find the row by its business key in the write's own transaction, waiting for a create still in flight: "
           f"{action}add to the route ({where}) lookups: {{{paste}}}")
    then = "then replay the dead letter (targets/README.md, \"A key the table generates\")"
    field = f"{said} (field {', '.join(references.values())})"
    if not business:  # no other route says the business key: the column may be one, which the payload must have
        return Failed(kind="permanent", error_type="MissingKey",
                      reason=f"{field}; nothing was written. Send it in the payload; or, where the table generates "
                             f"it (an update decided before the created row's key came back carries null), {fix} "
                             f"(match: a unique key of {route.table} the payload carries), {then}")
    command = f"a{'n' if route.operation[0] in 'aeiou' else ''} {route.operation}"
    return Failed(kind="permanent", error_type="MissingKey",
                  reason=f"{field}: {command} decided before the created row's key came back (a key the table "
                         f"generates) carries null there; nothing was written. Fix: {fix}, {then}")


def _business_key(config: TargetConfig, route: SqlRoute, missing: Sequence[str]) -> dict[str, str]:
    """The key of another route of ``route``'s table and payload type (a create's first) that reads payload fields
    and none of ``missing``: column -> payload field; empty when there is none."""
    others = sorted((r for r in config.sql_routes() if r.table == route.table and r.payload_type == route.payload_type
                     and not set(r.key) & set(missing)), key=lambda r: r.operation != "create")
    for other in others:
        fields = {k: spec.path for k in other.key if isinstance(spec := other.columns.get(k), FromField)}
        if len(fields) == len(other.key):
            return fields
    return {}


def _twins(rows: Sequence[Mapping[str, Any]], lookup: SqlLookup, texts: Mapping[str, TextColumn]) -> str:
    """The rows the match columns' collation took for the payload's values, for the reason."""
    if not rows:
        return ""
    columns = list(lookup.match)
    held = ", ".join(f"({key_text(r, columns)})" for r in rows[:5])
    shown = ", ".join(f"{c} {texts[c].shown}" for c in columns if c in texts)
    return (f" (the collation of its {shown} also takes {held} for it, not the same text, so "
            f"{'that row is' if len(rows) == 1 else 'those rows are'} left aside)")


def lookup_tables(config: TargetConfig) -> tuple[str, ...]:
    """Every table the routes' lookups read, each once."""
    return tuple(dict.fromkeys(lookup.table for route in config.sql_routes() for lookup in route.lookups.values()))


def lookup_problems(config: TargetConfig, columns: Mapping[str, set[str]]) -> list[str]:
    """What is wrong with the lookups' tables, given the columns the database says each has (none: no table);
    each once."""
    problems: list[str] = []
    for route in config.sql_routes():
        for lookup in route.lookups.values():
            where, have = f"line {lookup.line}: lookup {lookup.name}", columns.get(lookup.table, set())
            unknown = sorted(set((lookup.take, *lookup.match)) - have)
            if not have:
                problems.append(f"{where}: table {lookup.table} does not exist; name the table of the referenced "
                                "rows, or create it first")
            elif unknown:
                problems.append(f"{where}: {lookup.table} has no column {', '.join(unknown)}; its columns: "
                                f"{', '.join(sorted(have))}")
    return list(dict.fromkeys(problems))


def unindexed(config: TargetConfig, leading: Mapping[str, Iterable[str]]) -> list[str]:
    """The lookups whose ``match`` columns no index of their table starts with (``leading``: per table, the first
    column of each of its indexes), so that each lookup would scan the table inside a write's transaction; each
    once (routes share one by a YAML anchor)."""
    warnings: dict[str, None] = {}
    for route in config.sql_routes():
        for lookup in route.lookups.values():
            if not set(lookup.match) & set(leading.get(lookup.table, ())):
                columns = ", ".join(lookup.match)
                warnings.setdefault(f"{config.path.name}:{lookup.line}: lookup {lookup.name} reads {lookup.table} by "
                                f"({columns}), and no index of {lookup.table} starts with one of them, so every "
                                f"lookup scans the table inside a write's transaction; create one: CREATE UNIQUE "
                                f"INDEX {lookup.table.rpartition('.')[2]}_{'_'.join(lookup.match)} ON "
                                f"{lookup.table} ({columns}) (the referenced rows' business key)")
    return list(warnings)
