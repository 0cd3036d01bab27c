"""One batch into PostgreSQL: upserts, rejections and the consumer positions, in one transaction.

Rows are upserted by their key; an update only wins over a row loaded from an earlier offset of the same
canonical topic (``excluded.source_offset > t.source_offset``), so a second loader or a replay can never put
an older version back (a row loaded from another topic, e.g. by the CDC loader of earlier releases, is
replaced). A table that inherits columns from another (``inherits:`` in ``warehouse/tables.yaml``: order lines
take their order's time) is settled after the upserts, for the keys the batch touched on either side. The
positions commit with the rows: after a crash the loader resumes exactly where the committed rows end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from streams.warehouse.rows import Change, Rejection
from streams.warehouse.tables import Inheritance, TableSpec


def _upsert(spec: TableSpec, columns: Sequence[str]) -> sql.Composed:
    updates = [c for c in columns if c not in spec.key]
    return sql.SQL(
        "INSERT INTO {table} AS t ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {updates}, "
        "loaded_at = now() WHERE excluded.source_offset > t.source_offset "
        "OR excluded.source_topic IS DISTINCT FROM t.source_topic"
    ).format(
        table=sql.Identifier(spec.target),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
        key=sql.SQL(", ").join(map(sql.Identifier, spec.key)),
        updates=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in updates),
    )


def _inherit(link: Inheritance) -> sql.Composed:
    """Copy ``link.columns`` from each parent row to its children among the touched keys, where they differ."""
    columns = [sql.Identifier(c) for c in link.columns]
    return sql.SQL(
        "UPDATE {child} l SET {sets} FROM {parent} o WHERE l.{by} = o.{by} AND l.{by} = ANY(%s) "
        "AND ({mine}) IS DISTINCT FROM ({theirs})"
    ).format(
        child=sql.Identifier(link.child), parent=sql.Identifier(link.parent), by=sql.Identifier(link.by),
        sets=sql.SQL(", ").join(sql.SQL("{0} = o.{0}").format(c) for c in columns),
        mine=sql.SQL(", ").join(sql.SQL("l.{}").format(c) for c in columns),
        theirs=sql.SQL(", ").join(sql.SQL("o.{}").format(c) for c in columns),
    )

_REJECT = sql.SQL(
    'INSERT INTO load_rejects (topic, partition, "offset", source_table, source_key, reason) '
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")

_POSITION = sql.SQL(
    "INSERT INTO load_offsets AS o (topic, partition, next_offset, last_commit_time) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, "
    "last_commit_time = coalesce(excluded.last_commit_time, o.last_commit_time), updated_at = now() "
    "WHERE excluded.next_offset > o.next_offset")


def touched(changes: Iterable[Change]) -> dict[Inheritance, list[Any]]:
    """Per inheritance, the sorted ``by`` values that changes of its parent or child table touched."""
    found: dict[Inheritance, set[Any]] = defaultdict(set)
    for change in changes:
        for link in change.spec.inheritances:
            if change.values[link.by] is not None:
                found[link].add(change.values[link.by])
    return {link: sorted(keys) for link, keys in found.items()}


def write_batch(conn: psycopg.Connection[Any], changes: Iterable[Change], rejections: Iterable[Rejection],
                positions: Mapping[tuple[str, int], int]) -> None:
    """Apply a batch and advance ``positions`` ((topic, partition) -> next offset) atomically."""
    changes = tuple(changes)
    last_commit: dict[tuple[str, int], Any] = {}
    with conn.transaction(), conn.cursor() as cur:
        grouped: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
        specs: dict[str, TableSpec] = {}
        for change in changes:
            params = {**change.values, **change.lineage, "deleted": change.deleted}
            specs[change.spec.target] = change.spec
            grouped[(change.spec.target, tuple(params))].append(params)
            last_commit[(change.lineage["source_topic"], change.lineage["source_partition"])] = \
                change.lineage["source_commit_time"]
        # Grouping keeps offset order within a group; versions of one key in different groups (a field added
        # between them) are settled by the offset guard whatever runs first.
        for (target, columns), rows in grouped.items():
            cur.executemany(_upsert(specs[target], columns), rows)
        for link, keys in touched(changes).items():
            cur.execute(_inherit(link), (keys,))
        for r in rejections:
            cur.execute(_REJECT, (r.position.topic, r.position.partition, r.position.offset, r.table,
                                  r.source_key, r.reason))
        for (topic, partition), next_offset in positions.items():
            cur.execute(_POSITION, (topic, partition, next_offset, last_commit.get((topic, partition))))


def stored_positions(conn: psycopg.Connection[Any]) -> dict[tuple[str, int], int]:
    with conn.transaction():
        rows = conn.execute("SELECT topic, partition, next_offset FROM load_offsets").fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}
