"""Debezium change records for a flow under LocalRun: made up (a JsonConverter key and value, schemas inline, of one
row change, as the PostgreSQL or the MariaDB connector writes it, for tables a test invents), or captured from the
reference stack (tests/codecs/fixtures)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streams.systems import Engine

#: Changes captured from the reference stack, one JSON file each: its topic, key and value.
CAPTURED = Path(__file__).resolve().parents[1] / "codecs" / "fixtures"

#: Column -> (Connect type, Connect logical name or None), in the table's order.
Columns = Mapping[str, tuple[str, str | None]]


def captured_change(name: str) -> dict[str, Any]:
    """The captured change ``name`` (tests/codecs/fixtures/<name>.json): ``topic``, ``key`` and ``value``."""
    data: dict[str, Any] = json.loads((CAPTURED / f"{name}.json").read_text(encoding="utf-8"))
    return data


def change_record(system: str, table: str, op: str, *, columns: Columns, key: str | tuple[str, ...], engine: Engine,
                  namespace: str, at: dt.datetime, position: int, before: Mapping[str, Any] | None = None,
                  after: Mapping[str, Any] | None = None,
                  parameters: Mapping[str, Mapping[str, str]] | None = None) -> tuple[bytes, bytes]:
    """The key and value bytes of one change of ``system.table`` (primary key column ``key``, or columns, in the
    key's order; every other column optional; a column a row leaves out is null) committed ``at``, at log position
    ``position``. ``parameters``: a column's Connect schema parameters (a Decimal's ``scale``)."""
    keys = (key,) if isinstance(key, str) else key
    parameters = parameters or {}
    fields = [{"field": c, "type": t, "optional": c not in keys, **({"name": n} if n else {}),
               **({"parameters": dict(parameters[c])} if c in parameters else {})}
              for c, (t, n) in columns.items()]
    row_schema = {"type": "struct", "optional": True, "name": f"{system}.{table}.Value", "fields": fields}
    millis = int(at.timestamp() * 1000)
    if engine is Engine.POSTGRESQL:
        source: dict[str, Any] = {"connector": "postgresql", "db": system, "name": system, "schema": namespace,
                                  "table": table, "ts_ms": millis, "ts_us": millis * 1000, "lsn": position,
                                  "txId": position, "snapshot": "false", "version": "3.6.1.Final"}
    else:
        source = {"connector": "mariadb", "db": system, "name": system, "table": table, "ts_ms": millis,
                  "file": "binlog.000001", "pos": position, "row": 0, "server_id": 1, "gtid": f"0-1-{position}",
                  "snapshot": "false", "version": "3.5.0.Final"}
    source_schema = {"type": "struct", "name": "io.debezium.connector.Source", "optional": False,
                     "fields": [{"field": k, "type": "int64" if isinstance(v, int) else "string", "optional": True}
                                for k, v in source.items()]}
    value_schema = {"type": "struct", "name": f"{system}.{table}.Envelope", "optional": False, "fields": [
        {**row_schema, "field": "before"}, {**row_schema, "field": "after"}, {**source_schema, "field": "source"},
        {"field": "op", "type": "string", "optional": False}, {"field": "ts_ms", "type": "int64", "optional": True}]}
    row = after if after is not None else before
    assert row is not None, "a change needs a before or an after image"
    full = dict.fromkeys(columns)
    payload = {"before": None if before is None else {**full, **before},
               "after": None if after is None else {**full, **after}, "op": op, "source": source,
               "ts_ms": millis + 3}
    key_schema = {"type": "struct", "name": f"{system}.{table}.Key", "optional": False,
                  "fields": [{"field": k, "type": columns[k][0], "optional": False} for k in keys]}
    return (json.dumps({"schema": key_schema, "payload": {k: row[k] for k in keys}}).encode(),
            json.dumps({"schema": value_schema, "payload": payload}).encode())
