"""One batch into PostgreSQL: upserts, rejections and the consumer positions, in one transaction.

Rows are upserted by their key; an update only wins over a row loaded from an earlier offset of the same
canonical topic (``excluded.source_offset > t.source_offset``), so a second loader or a replay can never put
an older version back (a row loaded from another topic, e.g. by the CDC loader of earlier releases, is
replaced). The positions commit with the rows: after a crash the loader resumes exactly where the
committed rows end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from streams.warehouse.rows import Change, Rejection
from streams.warehouse.tables import TableSpec


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


_LINE_TIMES = sql.SQL(
    "UPDATE fact_order_line l SET transaction_time = o.transaction_time, date_key = o.date_key "
    "FROM fact_sales_order o WHERE l.order_id = o.order_id AND l.order_id = ANY(%s) "
    "AND l.transaction_time IS DISTINCT FROM o.transaction_time")

_REJECT = sql.SQL(
    'INSERT INTO load_rejects (topic, partition, "offset", source_table, source_key, reason) '
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")

_POSITION = sql.SQL(
    "INSERT INTO load_offsets AS o (topic, partition, next_offset, last_commit_time) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, "
    "last_commit_time = coalesce(excluded.last_commit_time, o.last_commit_time), updated_at = now() "
    "WHERE excluded.next_offset > o.next_offset")


def write_batch(conn: psycopg.Connection[Any], changes: Iterable[Change], rejections: Iterable[Rejection],
                positions: Mapping[tuple[str, int], int]) -> None:
    """Apply a batch and advance ``positions`` ((topic, partition) -> next offset) atomically."""
    orders_touched: set[int] = set()
    last_commit: dict[tuple[str, int], Any] = {}
    with conn.transaction(), conn.cursor() as cur:
        grouped: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
        specs: dict[str, TableSpec] = {}
        for change in changes:
            params = {**change.values, **change.lineage, "deleted": change.deleted}
            specs[change.spec.target] = change.spec
            grouped[(change.spec.target, tuple(params))].append(params)
            if change.spec.target in ("fact_sales_order", "fact_order_line"):
                orders_touched.add(change.values["order_id"])
            last_commit[(change.lineage["source_topic"], change.lineage["source_partition"])] = \
                change.lineage["source_commit_time"]
        # Grouping keeps offset order within a group; versions of one key in different groups (a field added
        # between them) are settled by the offset guard whatever runs first.
        for (target, columns), rows in grouped.items():
            cur.executemany(_upsert(specs[target], columns), rows)
        if orders_touched:
            cur.execute(_LINE_TIMES, (sorted(orders_touched),))
        for r in rejections:
            cur.execute(_REJECT, (r.position.topic, r.position.partition, r.position.offset, r.table,
                                  r.source_key, r.reason))
        for (topic, partition), next_offset in positions.items():
            cur.execute(_POSITION, (topic, partition, next_offset, last_commit.get((topic, partition))))


def stored_positions(conn: psycopg.Connection[Any]) -> dict[tuple[str, int], int]:
    with conn.transaction():
        rows = conn.execute("SELECT topic, partition, next_offset FROM load_offsets").fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}
