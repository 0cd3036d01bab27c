"""ERP local times in a DST overlap and gap reach the canonical topics, flagged in the lineage header."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical import CanonicalFlow, Lineage, LineageError
from streams.flows.canonical.lineage import LINEAGE_HEADER, MAPPING_VERSION_HEADER
from streams.flows.engine.local import LocalRun
from streams.mapping import load_mappings
from streams.systems import load_systems

FIXTURES = Path(__file__).parents[2] / "codecs" / "fixtures"
UTC = dt.UTC


def _order(order_id: int, local: dt.datetime) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(json.loads((FIXTURES / "erp_sales_orders_c_1.json").read_text()))
    # Debezium sends a DATETIME as epoch milliseconds "as if UTC"
    data["value"]["payload"]["after"].update(order_id=order_id,
                                             order_date=int(local.replace(tzinfo=UTC).timestamp() * 1000))
    data["key"]["payload"]["order_id"] = order_id
    return data


def test_orders_in_the_overlap_and_the_gap_are_published_with_the_resolution_in_their_lineage() -> None:
    schemas = SchemaStore.from_directory()
    flow = CanonicalFlow(schemas=schemas, mappings=load_mappings(schemas=schemas.schemas),
                         systems=load_systems(env={"ISTHMUS_ERP_TIME_ZONE": "Europe/Berlin"}))
    run = LocalRun(flow.spec())
    events = [_order(1, dt.datetime(2024, 10, 27, 2, 30)), _order(2, dt.datetime(2024, 3, 31, 2, 30)),
              _order(3, dt.datetime(2024, 10, 27, 3, 30))]
    ctx = asyncio.run(run.feed([run.record(e["topic"].removeprefix("fixture_"), json.dumps(e["key"]).encode(),
                                           json.dumps(e["value"]).encode()) for e in events]))
    assert not ctx.dead_letters
    orders = {e.key: e for e in ctx.emitted if e.topic == "isthmus.canonical.erp-orders"}
    assert {k: schemas.decode(e.value or b"").value["ordered_at"] for k, e in orders.items()} == {
        b"1": dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first pass
        b"2": dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),   # 03:30 CEST: 02:30 never was
        b"3": dt.datetime(2024, 10, 27, 2, 30, tzinfo=UTC)}  # an ordinary time
    notes = {k: Lineage.from_headers(e.headers).local_times for k, e in orders.items()}
    assert notes[b"1"] == ({"field": "ordered_at", "local": "2024-10-27T02:30:00", "zone": "Europe/Berlin",
                            "case": "repeated", "resolution": "earlier", "utc": "2024-10-27T00:30:00+00:00"},)
    assert [n["case"] for n in notes[b"2"]] == ["skipped"] and notes[b"3"] == ()
    body = json.loads(dict(orders[b"3"].headers)[LINEAGE_HEADER])
    assert "local_times" not in body  # a record without such a time has the header it always had


def test_malformed_local_times_in_a_lineage_header_are_refused() -> None:
    body = {"system": "erp", "table": "t", "key": "{}", "commit_time": "2024-01-01T00:00:00+00:00", "change": "c",
            "topic": "t", "partition": 0, "offset": 0, "local_times": "repeated"}
    with pytest.raises(LineageError, match="local_times"):
        Lineage.from_headers([(LINEAGE_HEADER, json.dumps(body).encode()), (MAPPING_VERSION_HEADER, b"m@1")])
