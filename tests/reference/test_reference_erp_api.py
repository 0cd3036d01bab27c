"""The reference ERP through its HTTP API, against its real MariaDB database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
from reference_support import Apps, ErpGoods, digits, unique


def _order(apps: Apps, goods: ErpGoods, quantity: str = "4", **extra: object) -> dict[str, object]:
    response = apps.erp.post(
        "/orders",
        json={"account_id": goods.account_id, "lines": [{"sku": goods.sku, "quantity": quantity}], **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _stock(apps: Apps, goods: ErpGoods) -> tuple[str, str]:
    row = apps.place.erp_rows(
        "SELECT on_hand, reserved FROM stock WHERE sku = %s AND warehouse_code = %s",
        (goods.sku, goods.warehouse),
    )[0]
    return str(row["on_hand"]), str(row["reserved"])


def test_creating_an_order_reserves_its_stock(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "4")

    assert order["status"] == "reserved" and order["total_amount"] == "10.00"
    assert order["lines"] == [
        {
            "line_no": 1,
            "sku": erp_goods.sku,
            "warehouse_code": erp_goods.warehouse,
            "quantity": "4.000",
            "unit_price": "2.50",
        }
    ]
    assert _stock(apps, erp_goods) == ("10.000", "4.000")


def test_short_stock_is_refused_naming_the_sku_and_nothing_is_reserved(
    apps: Apps, erp_goods: ErpGoods
) -> None:
    refused = apps.erp.post(
        "/orders",
        json={
            "account_id": erp_goods.account_id,
            "lines": [{"sku": erp_goods.sku, "quantity": "6"}, {"sku": erp_goods.sku, "quantity": "5"}],
        },
    )

    assert refused.status_code == 409
    assert refused.json()["sku"] == erp_goods.sku and erp_goods.sku in refused.json()["error"]
    assert refused.json()["field"] == "lines[1].quantity"
    assert _stock(apps, erp_goods) == ("10.000", "0.000")
    assert (
        apps.place.erp_rows(
            "SELECT count(*) AS n FROM sales_orders WHERE account_id = %s", (erp_goods.account_id,)
        )[0]["n"]
        == 0
    )


def test_the_lifecycle_creates_shipment_invoice_and_payment(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "4")
    path = f"/orders/{order['order_id']}"

    shipped = apps.erp.patch(path, json={"status": "shipped", "carrier": "EMS", "tracking_no": "E1"})
    invoiced = apps.erp.patch(path, json={"status": "invoiced", "at": "2024-05-01T10:00:00+08:00"})
    paid = apps.erp.patch(path, json={"status": "paid", "version": invoiced.json()["version"]})

    assert [r.status_code for r in (shipped, invoiced, paid)] == [200, 200, 200]
    assert [r.json()["version"] for r in (shipped, invoiced, paid)] == [2, 3, 4]
    assert paid.json()["status"] == "paid"
    shipments = apps.place.erp_rows(
        "SELECT carrier, tracking_no FROM shipments WHERE order_id = %s", (order["order_id"],)
    )
    invoices = apps.place.erp_rows(
        "SELECT invoice_id, amount, due_date, status FROM invoices WHERE order_id = %s", (order["order_id"],)
    )
    assert [(s["carrier"], s["tracking_no"]) for s in shipments] == [("EMS", "E1")]
    assert [(str(i["amount"]), str(i["due_date"]), i["status"]) for i in invoices] == [
        ("10.00", "2024-05-31", "paid")
    ]
    payments = apps.place.erp_rows(
        "SELECT amount FROM payments WHERE invoice_id = %s", (invoices[0]["invoice_id"],)
    )
    assert [str(p["amount"]) for p in payments] == ["10.00"]
    assert _stock(apps, erp_goods) == ("6.000", "0.000")


def test_an_illegal_transition_is_refused(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "1")

    skipped = apps.erp.patch(f"/orders/{order['order_id']}", json={"status": "paid"})

    assert skipped.status_code == 409 and skipped.json()["field"] == "status"
    assert "shipped" in skipped.json()["fix"]
    assert apps.erp.get(f"/orders/{order['order_id']}").json()["status"] == "reserved"


def test_cancelling_releases_the_reservation(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "3")

    cancelled = apps.erp.patch(f"/orders/{order['order_id']}", json={"status": "cancelled"})

    assert cancelled.json()["status"] == "cancelled"
    assert _stock(apps, erp_goods) == ("10.000", "0.000")


def test_replacing_a_reserved_orders_content_reserves_its_new_lines_once(
    apps: Apps, erp_goods: ErpGoods, key: Callable[[], str]
) -> None:
    order = _order(apps, erp_goods, "4")
    path, idem = f"/orders/{order['order_id']}", key()
    body = {"order_date": "2024-06-01T09:00:00+08:00",
            "lines": [{"sku": erp_goods.sku, "quantity": "3"}, {"sku": erp_goods.sku, "quantity": "2"}]}

    replaced = apps.erp.put(path, json=body, headers={"Idempotency-Key": idem})
    again = apps.erp.put(path, json=body, headers={"Idempotency-Key": idem})

    assert replaced.status_code == 200, replaced.text
    assert again.headers["Idempotency-Key-Status"] == "replayed" and again.json() == replaced.json()
    answer = replaced.json()
    assert [(line["line_no"], line["quantity"]) for line in answer["lines"]] == [(1, "3.000"), (2, "2.000")]
    assert (answer["total_amount"], answer["order_date"], answer["version"]) == (
        "12.50", "2024-06-01T09:00:00+08:00", 2)
    assert _stock(apps, erp_goods) == ("10.000", "5.000")  # the 4 released, the 3 and 2 reserved


def test_an_order_past_reserved_or_short_of_stock_is_not_replaced(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "4")
    path = f"/orders/{order['order_id']}"

    short = apps.erp.put(path, json={"lines": [{"sku": erp_goods.sku, "quantity": "11"}]})
    assert short.status_code == 409 and short.json()["field"] == "lines", short.text
    assert short.json()["line"] == "lines[0].quantity" and _stock(apps, erp_goods) == ("10.000", "4.000")
    apps.erp.patch(path, json={"status": "shipped"})
    shipped = apps.erp.put(path, json={"lines": [{"sku": erp_goods.sku, "quantity": "1"}]})

    assert shipped.status_code == 409 and shipped.json()["field"] == "status"
    assert shipped.json()["current_status"] == "shipped" and "cancel" in shipped.json()["fix"]
    assert [line["quantity"] for line in apps.erp.get(path).json()["lines"]] == ["4.000"]


def test_partial_payments_settle_the_invoice(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "4")
    apps.erp.patch(f"/orders/{order['order_id']}", json={"status": "shipped"})
    invoice = apps.erp.patch(f"/orders/{order['order_id']}", json={"status": "invoiced"}).json()["invoices"][
        0
    ]

    first = apps.erp.post("/payments", json={"invoice_id": invoice["invoice_id"], "amount": 4})
    too_much = apps.erp.post("/payments", json={"invoice_id": invoice["invoice_id"], "amount": "6.01"})
    rest = apps.erp.post("/payments", json={"invoice_id": invoice["invoice_id"], "amount": "6.00"})

    assert (first.status_code, too_much.status_code, rest.status_code) == (201, 422, 201)
    assert too_much.json()["field"] == "amount"
    assert apps.erp.get(f"/invoices/{invoice['invoice_id']}").json()["status"] == "paid"
    assert apps.erp.get(f"/orders/{order['order_id']}").json()["status"] == "paid"


def test_order_times_are_stored_as_zone_local_time_without_offset(apps: Apps, erp_goods: ErpGoods) -> None:
    order = _order(apps, erp_goods, "1", order_date="2024-03-01T00:30:00Z")
    apps.erp.patch(
        f"/orders/{order['order_id']}", json={"status": "shipped", "at": "2024-03-02T10:00:00+01:00"}
    )

    stored = apps.place.erp_rows(
        "SELECT order_date FROM sales_orders WHERE order_id = %s", (order["order_id"],)
    )
    shipped = apps.place.erp_rows(
        "SELECT shipped_at FROM shipments WHERE order_id = %s", (order["order_id"],)
    )

    assert stored[0]["order_date"] == datetime(2024, 3, 1, 8, 30)
    assert shipped[0]["shipped_at"] == datetime(2024, 3, 2, 17, 0)
    assert order["order_date"] == "2024-03-01T08:30:00+08:00"
    naive = apps.erp.post(
        "/orders",
        json={
            "account_id": erp_goods.account_id,
            "order_date": "2024-03-01T00:30:00",
            "lines": [{"sku": erp_goods.sku, "quantity": 1}],
        },
    )
    assert naive.status_code == 422 and naive.json()["field"] == "order_date"


def test_accounts_are_found_by_customer_number_and_deactivated_not_deleted(
    apps: Apps, key: Callable[[], str]
) -> None:
    number = f"C-{digits(9)}"
    created = apps.erp.post(
        "/accounts",
        json={"name": "Lookup Co", "crm_customer_number": number, "credit_limit": "1000"},
        headers={"Idempotency-Key": key()},
    )
    account_id = created.json()["account_id"]

    found = apps.erp.get(f"/accounts/by-customer/{number}")
    listed = apps.erp.get("/accounts", params={"crm_customer_number": number})
    duplicate = apps.erp.post("/accounts", json={"name": "Again", "crm_customer_number": number})
    deactivated = apps.erp.delete(f"/accounts/{account_id}", headers={"If-Match": '"1"'})

    assert created.json()["account_code"] == f"AC{account_id:06d}"
    assert found.json()["account_id"] == account_id and listed.json()["items"][0]["account_id"] == account_id
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "crm_customer_number"
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    assert (
        apps.place.erp_rows("SELECT active FROM accounts WHERE account_id = %s", (account_id,))[0]["active"]
        == 0
    )
    blocked = apps.erp.post(
        "/orders", json={"account_id": account_id, "lines": [{"sku": "X", "quantity": 1}]}
    )
    assert blocked.status_code == 409 and blocked.json()["field"] == "account_id"


def test_an_idempotent_retry_on_the_erp_is_applied_once(
    apps: Apps, erp_goods: ErpGoods, key: Callable[[], str]
) -> None:
    idem = key()
    body = {"account_id": erp_goods.account_id, "lines": [{"sku": erp_goods.sku, "quantity": "2"}]}

    first = apps.erp.post("/orders", json=body, headers={"Idempotency-Key": idem})
    again = apps.erp.post("/orders", json=body, headers={"Idempotency-Key": idem})
    changed = apps.erp.post("/orders", json={**body, "currency": "USD"}, headers={"Idempotency-Key": idem})

    assert (first.status_code, again.status_code, changed.status_code) == (201, 201, 422)
    assert again.headers["Idempotency-Key-Status"] == "replayed" and again.json() == first.json()
    assert _stock(apps, erp_goods) == ("10.000", "2.000")
    assert (
        apps.place.erp_rows("SELECT count(*) AS n FROM idempotency_keys WHERE idem_key = %s", (idem,))[0]["n"]
        == 1
    )


def test_stock_versions_and_content_etags_refuse_stale_writes(apps: Apps, erp_goods: ErpGoods) -> None:
    stock_path = f"/stock/{erp_goods.sku}/{erp_goods.warehouse}"
    stale_stock = apps.erp.put(stock_path, json={"on_hand": 12, "version": 7})
    product = apps.erp.get(f"/products/{erp_goods.sku}")
    changed = apps.erp.patch(
        f"/products/{erp_goods.sku}",
        json={"unit_price": "3.00"},
        headers={"If-Match": product.headers["ETag"]},
    )
    stale_product = apps.erp.patch(
        f"/products/{erp_goods.sku}",
        json={"unit_price": "4.00"},
        headers={"If-Match": product.headers["ETag"]},
    )
    received = apps.erp.post(f"{stock_path}/receipts", json={"quantity": "2.5"})

    assert stale_stock.status_code == 412 and stale_stock.json()["current_version"] == 1
    assert changed.status_code == 200 and changed.headers["ETag"] != product.headers["ETag"]
    assert stale_product.status_code == 412 and stale_product.json()["field"] == "If-Match"
    assert received.json()["on_hand"] == "12.500" and received.json()["version"] == 2


def test_on_hand_cannot_drop_below_reserved(apps: Apps, erp_goods: ErpGoods) -> None:
    _order(apps, erp_goods, "4")

    refused = apps.erp.put(f"/stock/{erp_goods.sku}/{erp_goods.warehouse}", json={"on_hand": 3})

    assert refused.status_code == 409 and refused.json()["field"] == "on_hand"


def test_the_erp_openapi_document_lists_its_resources(apps: Apps) -> None:
    paths = set(apps.erp.get("/openapi.json").json()["paths"])

    assert {
        "/accounts",
        "/accounts/{account_id}",
        "/accounts/by-customer/{crm_customer_number}",
        "/products",
        "/warehouses",
        "/stock/{sku}/{warehouse_code}",
        "/orders/{order_id}",
        "/invoices",
        "/payments",
    } <= paths


def test_unknown_records_answer_404_naming_the_key(apps: Apps) -> None:
    missing = apps.erp.get(f"/products/{unique('NOPE-')}")

    assert missing.status_code == 404 and missing.json()["field"] == "sku"


def test_concurrent_orders_never_reserve_more_than_on_hand(apps: Apps, erp_goods: ErpGoods) -> None:
    body = {"account_id": erp_goods.account_id, "lines": [{"sku": erp_goods.sku, "quantity": "3"}]}

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=apps.erp_url, timeout=30) as client:
            return client.post("/orders", json=body)

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(send, range(5)))

    assert sorted(a.status_code for a in answers) == [201, 201, 201, 409, 409]
    assert _stock(apps, erp_goods) == ("10.000", "9.000")
