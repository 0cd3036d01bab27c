"""The data generator: deterministic for a seed, bulk-loaded into both databases, refusing to overwrite."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from reference_support import Place, isolated_place, running_apps

from reference.generate import GenerationSpec, generate
from reference.generate.exceptions import DataCollision
from streams.stack.running import RunningStack

ROOT = Path(__file__).resolve().parents[2]
SPEC = GenerationSpec(
    customers=150, seed=11, orders_per_customer=2, skus=20, as_of=datetime(2025, 6, 1, tzinfo=UTC)
)

CRM_DUMP = {
    "customers": "SELECT customer_number, name, email, phone FROM customers ORDER BY customer_number",
    "contacts": "SELECT c.customer_number, k.first_name, k.last_name, k.email, k.phone, k.role "
    "FROM contacts k JOIN customers c ON c.id = k.customer_id ORDER BY c.customer_number, k.id",
    "addresses": "SELECT c.customer_number, a.kind, a.line1, a.line2, a.city, a.postal_code, a.country "
    "FROM addresses a JOIN customers c ON c.id = a.customer_id ORDER BY c.customer_number, a.kind",
    "products": "SELECT sku, name, list_price, available_qty FROM products ORDER BY sku",
    "orders": "SELECT o.order_number, c.customer_number, o.status, o.total_amount, o.ordered_at "
    "FROM sales_orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.order_number",
    "lines": "SELECT o.order_number, l.line_no, l.sku, l.quantity, l.unit_price FROM sales_order_lines l "
    "JOIN sales_orders o ON o.id = l.order_id ORDER BY o.order_number, l.line_no",
}
ERP_DUMP = {
    "products": "SELECT sku, description, unit_price, uom FROM products ORDER BY sku",
    "warehouses": "SELECT code, name FROM warehouses ORDER BY code",
    "stock": "SELECT sku, warehouse_code, on_hand, reserved FROM stock ORDER BY sku, warehouse_code",
}


def _dump(place: Place) -> dict[str, list[dict[str, Any]]]:
    dump = {f"crm.{name}": place.crm_rows(query) for name, query in CRM_DUMP.items()}
    dump |= {f"erp.{name}": place.erp_rows(query) for name, query in ERP_DUMP.items()}
    return dump


def _load(place: Place, spec: GenerationSpec, progress: list[str]) -> Any:
    with place.stack.connect_crm(options=f"-c search_path={place.crm_schema}") as crm:
        erp = place.stack.connect_erp()
        try:
            with erp.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{place.erp_database}`")
                cur.execute(f"USE `{place.erp_database}`")
            return generate(
                spec, crm=crm, erp=erp, crm_schema=place.crm_schema, progress=progress.append, batch_size=40
            )
        finally:
            erp.close()


@pytest.fixture(scope="module")
def loaded(stack: RunningStack) -> Any:
    with isolated_place(stack, "gen") as place:
        progress: list[str] = []
        summary = _load(place, SPEC, progress)
        yield place, summary, progress


def test_the_generator_loads_both_databases_and_reports_progress(loaded: Any) -> None:
    place, summary, progress = loaded
    dump = _dump(place)

    assert summary.customers == len(dump["crm.customers"]) == 150
    assert summary.contacts == len(dump["crm.contacts"]) and summary.contacts >= 150
    assert summary.orders == len(dump["crm.orders"]) and summary.order_lines == len(dump["crm.lines"])
    assert [p["sku"] for p in dump["crm.products"]] == [p["sku"] for p in dump["erp.products"]]
    assert len(dump["erp.stock"]) == 20 * len(dump["erp.warehouses"])
    assert place.erp_rows("SELECT count(*) AS n FROM accounts")[0]["n"] == 0
    available = {p["sku"]: p["available_qty"] for p in dump["crm.products"]}
    for sku, qty in available.items():
        assert qty == sum(s["on_hand"] for s in dump["erp.stock"] if s["sku"] == sku)
    assert any("150/150 customers" in line for line in progress) and any(
        line.startswith("erp:") for line in progress
    )


def test_the_same_seed_gives_the_same_data_through_the_command(loaded: Any, stack: RunningStack) -> None:
    place, _, _ = loaded
    with isolated_place(stack, "gen2") as other:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "reference.generate",
                "--customers",
                "150",
                "--seed",
                "11",
                "--skus",
                "20",
                "--orders-per-customer",
                "2",
                "--as-of",
                "2025-06-01T00:00:00+00:00",
                "--crm-schema",
                other.crm_schema,
                "--erp-database",
                other.erp_database,
            ],
            cwd=ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "CRM: 150 customers" in result.stdout
        assert _dump(other) == _dump(place)


def test_loading_twice_is_refused_and_writes_nothing(loaded: Any) -> None:
    place, _, _ = loaded
    before = _dump(place)

    with pytest.raises(DataCollision, match="SKU-000001 already exists"):
        _load(place, SPEC, [])
    with pytest.raises(DataCollision, match="customer C-000001 already exists"):
        _load(place, GenerationSpec(customers=150, seed=11, skus=20, sku_prefix="OTHER"), [])

    assert _dump(place) == before


def test_the_api_numbers_new_customers_after_the_generated_ones(loaded: Any) -> None:
    place, _, _ = loaded
    with running_apps(place) as apps:
        created = apps.crm.post("/customers", json={"name": "After the load"})
        order = apps.crm.post(
            "/orders", json={"customer_number": "C-000001", "lines": [{"sku": "SKU-000001", "quantity": 1}]}
        )

    assert created.json()["customer_number"] == "C-000151"
    last_generated = place.crm_rows(
        "SELECT max(order_number) AS n FROM sales_orders WHERE order_number <> %s",
        (order.json()["order_number"],),
    )[0]["n"]
    assert order.json()["order_number"] > last_generated
