"""Stock availability under LocalRun: on hand minus reserved summed over warehouses per SKU, latest value to
the CRM only when it changed, and the CRM's echo of it commands nothing."""

from __future__ import annotations

from pathlib import Path

from stock_events import Cdc, Rec, product_row, stock_row
from stock_harness import StockHarness

from reference.topics import CRM_PRODUCTS, ERP_STOCK
from streams.sinks.adapters.mapping import render_fields, render_path
from streams.sinks.config.loader import load_target
from streams.sinks.config.model import HttpRoute


def stock(cdc: Cdc, sku: str, warehouse: str, on_hand: str, reserved: str = "0",
          before: tuple[str, str] | None = None) -> Rec:
    if before is None:
        return cdc.stock("c", after=stock_row(sku, warehouse, on_hand, reserved))
    return cdc.stock("u", before=stock_row(sku, warehouse, *before), after=stock_row(sku, warehouse, on_hand, reserved))


def product(cdc: Cdc, sku: str, available: str, *, before: str | None = None, name: str = "Widget") -> list[Rec]:
    if before is None:
        return [cdc.product("c", after=product_row(sku, available, name=name))]
    return [cdc.product("u", before=product_row(sku, before), after=product_row(sku, available, name=name))]


def test_availability_is_summed_over_warehouses_and_sent_to_the_crm(flow: StockHarness) -> None:
    cdc = Cdc()
    assert flow.feed(*product(cdc, "SKU-1", "0")) == []
    (first,) = flow.feed(stock(cdc, "SKU-1", "SH01", "10", "3"))
    assert (first["target"], first["operation"], first["payload_type"]) == (
        "crm", "update", "isthmus.canonical.ProductAvailability")
    assert first["key"] == "SKU-1" and first["payload"]["available_qty"] == "7.000"
    assert first["changed_fields"] == ["available_qty"]
    assert first["source"]["table"] == "stock" and first["source"]["system"] == "erp"
    (second,) = flow.feed(stock(cdc, "SKU-1", "BJ02", "5", "1"))
    assert second["payload"]["available_qty"] == "11.000"
    (third,) = flow.feed(stock(cdc, "SKU-1", "SH01", "10", "8", before=("10", "3")))
    assert third["payload"]["available_qty"] == "6.000"
    (fourth,) = flow.feed(cdc.stock("d", before=stock_row("SKU-1", "BJ02", "5", "1")))
    assert fourth["payload"]["available_qty"] == "2.000"


def test_only_a_changed_total_is_sent(flow: StockHarness) -> None:
    cdc = Cdc()
    flow.feed(*product(cdc, "SKU-1", "0"), stock(cdc, "SKU-1", "SH01", "10", "3"))
    # a receipt and a reservation of the same size: per warehouse it moved, the SKU's total did not
    assert flow.feed(stock(cdc, "SKU-1", "SH01", "12", "5", before=("10", "3"))) == []


def test_the_crm_echo_and_other_product_edits_command_nothing(flow: StockHarness) -> None:
    cdc = Cdc()
    flow.feed(*product(cdc, "SKU-1", "0"))
    sent = flow.feed(stock(cdc, "SKU-1", "SH01", "10", "3"), stock(cdc, "SKU-1", "SH01", "10", "4", before=("10", "3")))
    assert [c["payload"]["available_qty"] for c in sent] == ["7.000", "6.000"]
    assert flow.feed(*product(cdc, "SKU-1", "7", before="0")) == []  # late echo of the first write
    assert flow.feed(*product(cdc, "SKU-1", "6", before="7")) == []
    assert flow.feed(*product(cdc, "SKU-1", "6", before="6", name="Widget Pro")) == []


def test_a_crm_edit_of_availability_is_overwritten_with_the_erp_total(flow: StockHarness) -> None:
    cdc = Cdc()
    flow.feed(*product(cdc, "SKU-1", "0"), stock(cdc, "SKU-1", "SH01", "10", "3"))
    flow.feed(*product(cdc, "SKU-1", "7", before="0"))
    (fix,) = flow.feed(*product(cdc, "SKU-1", "99", before="7"))
    assert fix["payload"]["available_qty"] == "7.000" and fix["source"]["system"] == "crm"
    assert flow.feed(*product(cdc, "SKU-1", "7", before="99")) == []


def test_a_sku_without_a_crm_product_waits_for_it(flow: StockHarness) -> None:
    cdc = Cdc()
    assert flow.feed(stock(cdc, "SKU-2", "SH01", "4", "1")) == []
    (sent,) = flow.feed(*product(cdc, "SKU-2", "0"))
    assert sent["payload"]["available_qty"] == "3.000"
    assert flow.feed(*product(cdc, "SKU-2", "3", before="0")) == []
    assert flow.feed(*product(cdc, "SKU-3", "0")) == []


def test_the_same_changes_give_the_same_idempotency_keys(flow: StockHarness) -> None:
    def run(harness: StockHarness) -> list[str]:
        cdc = Cdc()
        sent = harness.feed(*product(cdc, "SKU-1", "0"), stock(cdc, "SKU-1", "SH01", "10", "3"),
                            stock(cdc, "SKU-1", "SH01", "9", "3", before=("10", "3")))
        return [c["idempotency_key"] for c in sent]

    first = run(flow)
    assert first == run(StockHarness(flow.flow, flow.schemas)) and len(set(first)) == 2


def test_poison_stock_records_are_dead_lettered_and_the_flow_goes_on(flow: StockHarness) -> None:
    cdc = Cdc()
    flow.feed(*product(cdc, "SKU-1", "0"))
    sent = flow.feed(Rec(ERP_STOCK, None, b"\xff\xfe"), Rec(CRM_PRODUCTS, None, b'{"schema": {"type": "struct"}}'),
                      stock(cdc, "SKU-1", "SH01", "10", "3"))
    assert [c["payload"]["available_qty"] for c in sent] == ["7.000"]
    assert [d.stage for d in flow.dead_letters] == ["flow.isthmus-stock"] * 2
    assert "MalformedJson" in flow.dead_letters[0].reason and "not JSON" in flow.dead_letters[0].reason


def test_the_availability_command_renders_through_the_crm_route(flow: StockHarness) -> None:
    cdc = Cdc()
    (sent,) = flow.feed(*product(cdc, "SKU-1", "0"), stock(cdc, "SKU-1", "SH01", "10", "3"))
    target = load_target(Path(__file__).resolve().parents[3] / "targets" / "crm.yaml", flow.schemas.schemas)
    route = target.route(sent["payload_type"], sent["operation"])
    assert isinstance(route, HttpRoute) and route.body is not None
    assert (route.method, render_path(route.path, sent["payload"], {})) == ("PATCH", "/products/SKU-1")
    assert render_fields(route.body, sent["payload"], {}) == {"available_qty": "7.000"}
