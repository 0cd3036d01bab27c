"""The canonical documents flow under LocalRun, over captured Debezium records (tests/codecs/fixtures): which
topic and key, the mapped values (ERP local times to UTC), the lineage headers, deletes, dead letters, and
the CRM order that waits for its customer."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.envelopes import captured_change

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical import CanonicalFlow, Lineage, LineageError
from streams.flows.canonical.lineage import LINEAGE_HEADER, MAPPING_VERSION_HEADER, mapping_version
from streams.flows.engine.local import LocalRun
from streams.flows.engine.staging import RecordContext
from streams.mapping import load_mappings
from streams.systems import load_systems

UTC = dt.UTC


@pytest.fixture(scope="module")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


def _run(schemas: SchemaStore, *events: dict[str, Any], zone: str = "Asia/Shanghai") -> RecordContext:
    flow = CanonicalFlow(schemas=schemas, mappings=load_mappings(schemas=schemas.schemas),
                         systems=load_systems(env={"ISTHMUS_ERP_TIME_ZONE": zone}))
    run = LocalRun(flow.spec())
    records = [run.record(e["topic"].removeprefix("fixture_"), json.dumps(e["key"]).encode(),
                          None if e["value"] is None else json.dumps(e["value"]).encode()) for e in events]
    return asyncio.run(run.feed(records))


def _with_after(name: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(captured_change(name))
    data["value"]["payload"]["after"].update(changes)
    return data


def test_an_erp_invoice_becomes_a_canonical_invoice_with_utc_time_and_lineage(schemas: SchemaStore) -> None:
    ctx = _run(schemas, captured_change("erp_invoices_c_1"))
    assert not ctx.dead_letters
    (out,) = ctx.emitted
    assert (out.topic, out.key) == ("isthmus.canonical.invoices", b"5")
    record = schemas.decode(out.value or b"")
    assert record.schema == "isthmus.canonical.Invoice"
    # issued_at 2024-03-11 10:00 wall clock in Shanghai (UTC+8, no daylight saving)
    assert record.value["issued_at"] == dt.datetime(2024, 3, 11, 2, 0, tzinfo=UTC)
    assert (record.value["amount"], record.value["status"], record.value["deleted"]) == (Decimal("59.97"), "open",
                                                                                         False)
    lineage = Lineage.from_headers(out.headers)
    assert (lineage.system, lineage.table, lineage.key) == ("erp", "invoices", '{"invoice_id":5}')
    assert (lineage.topic, lineage.partition, lineage.offset) == ("erp.erp.invoices", 0, 0)
    assert lineage.commit_time == dt.datetime.fromtimestamp(1795626341, UTC)
    assert lineage.change == "fixture_erp:binlog.000001:42493#0:invoices:invoice_id=5"
    assert lineage.mapping_version == mapping_version(Path("mappings/invoice.yaml").resolve())
    assert lineage.mapping_version.startswith("invoice@")


def test_new_york_time_across_the_spring_forward_and_a_skipped_time_is_shifted_and_flagged(
        schemas: SchemaStore) -> None:
    before = _with_after("erp_invoices_c_1", issued_at=int(dt.datetime(2024, 3, 10, 1, 30, tzinfo=UTC).timestamp()
                                                           * 1000))
    after = _with_after("erp_invoices_c_1", issued_at=int(dt.datetime(2024, 3, 10, 3, 30, tzinfo=UTC).timestamp()
                                                          * 1000), invoice_id=6)
    skipped = _with_after("erp_invoices_c_1", issued_at=int(dt.datetime(2024, 3, 10, 2, 30, tzinfo=UTC).timestamp()
                                                            * 1000), invoice_id=7)
    ctx = _run(schemas, before, after, skipped, zone="America/New_York")
    times = [schemas.decode(e.value or b"").value["issued_at"] for e in ctx.emitted]
    assert times == [dt.datetime(2024, 3, 10, 6, 30, tzinfo=UTC),   # 01:30 EST, UTC-5
                     dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC),   # 03:30 EDT, UTC-4
                     dt.datetime(2024, 3, 10, 7, 30, tzinfo=UTC)]   # 02:30 never was: shifted by the gap
    assert not ctx.dead_letters  # invoice.yaml declares `local_times:`; the time alone refuses nothing
    assert [Lineage.from_headers(e.headers).local_times for e in ctx.emitted[:2]] == [(), ()]
    (note,) = Lineage.from_headers(ctx.emitted[2].headers).local_times
    assert note == {"field": "issued_at", "local": "2024-03-10T02:30:00", "zone": "America/New_York",
                    "case": "skipped", "resolution": "shift_forward 1:00:00", "utc": "2024-03-10T07:30:00+00:00"}


def test_a_delete_is_published_whole_with_deleted_set(schemas: SchemaStore) -> None:
    ctx = _run(schemas, captured_change("erp_invoices_d_1"), captured_change("erp_invoices_tombstone_1"))
    (out,) = ctx.emitted
    value = schemas.decode(out.value or b"").value
    assert (value["invoice_id"], value["invoice_no"], value["deleted"]) == (5, "FXI-990001", True)


def test_erp_orders_and_lines_are_keyed_by_their_erp_ids_and_look_up_the_crm_numbers(schemas: SchemaStore) -> None:
    ctx = _run(schemas, captured_change("erp_accounts_r_1"), captured_change("erp_sales_orders_c_1"),
               captured_change("erp_sales_order_lines_c_1"), captured_change("erp_invoices_c_1"))
    by_topic = {e.topic: e for e in ctx.emitted}
    order = schemas.decode(by_topic["isthmus.canonical.erp-orders"].value or b"").value
    assert by_topic["isthmus.canonical.erp-orders"].key == b"5"
    assert (order["erp_order_no"], order["order_number"], order["status"]) == ("FXO-990001", "SO-990001", "reserved")
    line = schemas.decode(by_topic["isthmus.canonical.erp-order-lines"].value or b"").value
    assert by_topic["isthmus.canonical.erp-order-lines"].key == b"5/1"
    assert (line["erp_order_id"], line["line_no"], line["sku"]) == (5, 1, "FIXTURE-SKU-1")
    invoice = schemas.decode(by_topic["isthmus.canonical.invoices"].value or b"").value
    assert invoice["order_number"] == "SO-990001"


def test_crm_orders_wait_for_their_customer_then_are_published_once_in_order(schemas: SchemaStore) -> None:
    ctx = _run(schemas, captured_change("crm_sales_orders_c_1"))
    assert not ctx.emitted and not ctx.dead_letters
    second = _with_after("crm_sales_orders_c_1", id=6, order_number="SO-990002")
    second["key"]["payload"]["id"] = 6
    ctx = _run(schemas, captured_change("crm_sales_orders_c_1"), second, captured_change("crm_customers_r_1"))
    assert [e.key for e in ctx.emitted] == [b"SO-990001", b"SO-990002"]  # in their order, each in a value of its own
    assert len(ctx.memory["parked"]) == 0
    out = ctx.emitted[0]
    assert (out.topic, out.key) == ("isthmus.canonical.orders", b"SO-990001")
    order = schemas.decode(out.value or b"").value
    assert (order["crm_order_id"], order["customer_number"], order["status"]) == (5, "C-990001", "submitted")
    assert order["ordered_at"] == dt.datetime(2024, 3, 10, 6, 30, tzinfo=UTC)
    assert Lineage.from_headers(out.headers).topic == "crm.crm.sales_orders"


def test_missing_or_malformed_lineage_headers_are_named() -> None:
    with pytest.raises(LineageError, match="no isthmus-lineage"):
        Lineage.from_headers([])
    with pytest.raises(LineageError, match="malformed"):
        Lineage.from_headers([(LINEAGE_HEADER, b"{}"), (MAPPING_VERSION_HEADER, b"x@1")])
