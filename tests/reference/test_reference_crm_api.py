"""The reference CRM through its HTTP API, against its real PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from reference_support import Apps, digits, unique


def _customer_body(name: str) -> dict[str, object]:
    return {
        "name": name,
        "email": "buyer@example.cn",
        "contacts": [{"first_name": "Wei", "last_name": "Li", "role": "purchasing"}],
        "addresses": [{"kind": "billing", "line1": "1 Century Avenue", "city": "Shanghai", "country": "CN"}],
    }


def _count_customers(apps: Apps, name: str) -> int:
    return int(apps.place.crm_rows("SELECT count(*) AS n FROM customers WHERE name = %s", (name,))[0]["n"])


def test_an_idempotent_retry_is_applied_once(apps: Apps, key: Callable[[], str]) -> None:
    name, idem = unique("Retry Co "), key()
    first = apps.crm.post("/customers", json=_customer_body(name), headers={"Idempotency-Key": idem})
    again = apps.crm.post("/customers", json=_customer_body(name), headers={"Idempotency-Key": idem})

    assert first.status_code == 201 and first.headers["Idempotency-Key-Status"] == "stored"
    assert again.status_code == 201 and again.headers["Idempotency-Key-Status"] == "replayed"
    assert again.json() == first.json()
    assert _count_customers(apps, name) == 1
    stored = apps.place.crm_rows(
        "SELECT method, path, status_code, response FROM idempotency_keys WHERE idem_key = %s", (idem,)
    )
    assert [(r["method"], r["path"], r["status_code"]) for r in stored] == [("POST", "/customers", 201)]
    assert stored[0]["response"]["customer_number"] == first.json()["customer_number"]


def test_the_same_key_with_another_body_is_refused(apps: Apps, key: Callable[[], str]) -> None:
    name, idem = unique("Reuse Co "), key()
    assert (
        apps.crm.post("/customers", json=_customer_body(name), headers={"Idempotency-Key": idem}).status_code
        == 201
    )

    other = apps.crm.post("/customers", json=_customer_body(name + " II"), headers={"Idempotency-Key": idem})

    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"
    assert _count_customers(apps, name + " II") == 0


def test_a_write_without_a_key_says_so(apps: Apps) -> None:
    response = apps.crm.post("/customers", json=_customer_body(unique("Human Co ")))

    assert response.status_code == 201
    assert response.headers["Idempotency-Key-Status"] == "absent"


def test_a_stale_version_is_refused_with_the_current_one(apps: Apps) -> None:
    created = apps.crm.post("/customers", json=_customer_body(unique("Version Co "))).json()
    number = created["customer_number"]
    assert (
        apps.crm.patch(f"/customers/{number}", json={"name": "Renamed"}, headers={"If-Match": '"1"'}).json()[
            "version"
        ]
        == 2
    )

    by_header = apps.crm.patch(
        f"/customers/{number}", json={"name": "Lost update"}, headers={"If-Match": '"1"'}
    )
    by_field = apps.crm.patch(f"/customers/{number}", json={"name": "Lost update", "version": 1})

    assert by_header.status_code == 412 and by_header.json()["field"] == "If-Match"
    assert by_field.status_code == 412 and by_field.json()["field"] == "version"
    assert by_header.json()["current_version"] == 2 and by_header.headers["ETag"] == '"2"'
    assert apps.crm.get(f"/customers/{number}").json()["name"] == "Renamed"


def test_every_update_increments_the_version_and_the_etag_follows(apps: Apps) -> None:
    number = apps.crm.post("/customers", json=_customer_body(unique("Etag Co "))).json()["customer_number"]

    patched = apps.crm.patch(f"/customers/{number}", json={"phone": "+86 21 5555 0101"})

    assert patched.json()["version"] == 2
    assert patched.headers["ETag"] == '"2"'
    assert apps.crm.get(f"/customers/{number}").headers["ETag"] == '"2"'


def test_the_erp_owned_mirror_fields_are_written_through_patch(apps: Apps) -> None:
    number = apps.crm.post("/customers", json=_customer_body(unique("Mirror Co "))).json()["customer_number"]
    account_id = digits()

    patched = apps.crm.patch(
        f"/customers/{number}",
        json={
            "erp_account_id": account_id,
            "credit_limit": 50000.5,
            "payment_terms": "NET45",
            "blocked": True,
            "open_balance": "-12.30",
        },
    )

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (
        body["erp_account_id"],
        body["credit_limit"],
        body["payment_terms"],
        body["blocked"],
        body["open_balance"],
    ) == (account_id, "50000.50", "NET45", True, "-12.30")
    row = apps.place.crm_rows(
        "SELECT credit_limit, open_balance FROM customers WHERE customer_number = %s", (number,)
    )[0]
    assert (str(row["credit_limit"]), str(row["open_balance"])) == ("50000.50", "-12.30")


def test_bad_input_names_the_field(apps: Apps) -> None:
    bad_number = apps.crm.post("/customers", json={"name": "X", "customer_number": "123"})
    bad_line = apps.crm.post(
        "/orders", json={"customer_number": "C-000001", "lines": [{"sku": "A", "quantity": 0}]}
    )
    bad_money = apps.crm.patch("/customers/C-000001", json={"credit_limit": "12.345"})
    unknown = apps.crm.post("/customers", json={"name": "X", "colour": "red"})
    not_json = apps.crm.post("/customers", content=b"{", headers={"Content-Type": "application/json"})

    assert (bad_number.status_code, bad_number.json()["field"]) == (422, "customer_number")
    assert (bad_line.status_code, bad_line.json()["field"]) == (422, "lines[0].quantity")
    assert (bad_money.status_code, bad_money.json()["field"]) == (422, "credit_limit")
    assert (unknown.status_code, unknown.json()["field"]) == (422, "colour")
    assert (not_json.status_code, not_json.json()["field"]) == (400, "body")
    for answer in (bad_number, bad_line, bad_money, unknown, not_json):
        assert set(answer.json()) >= {"error", "field", "fix"} and answer.json()["fix"]


def test_an_order_is_created_with_its_lines_and_a_bad_line_writes_nothing(apps: Apps) -> None:
    sku = unique("P-")
    assert (
        apps.crm.post("/products", json={"sku": sku, "name": "Pump", "list_price": "99.90"}).status_code
        == 201
    )
    number = apps.crm.post("/customers", json=_customer_body(unique("Order Co "))).json()["customer_number"]

    refused = apps.crm.post(
        "/orders",
        json={
            "customer_number": number,
            "lines": [{"sku": sku, "quantity": 1}, {"sku": unique("MISSING-"), "quantity": 1}],
        },
    )
    created = apps.crm.post(
        "/orders",
        json={
            "customer_number": number,
            "lines": [{"sku": sku, "quantity": "2.5"}, {"sku": sku, "quantity": 1, "unit_price": 10}],
        },
    )

    assert refused.status_code == 422 and refused.json()["field"] == "lines[1].sku"
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["total_amount"] == "259.75" and order["status"] == "submitted"
    assert [(line["line_no"], line["quantity"], line["unit_price"]) for line in order["lines"]] == [
        (1, "2.500", "99.90"),
        (2, "1.000", "10.00"),
    ]
    rows = apps.place.crm_rows(
        "SELECT o.order_number FROM sales_orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.customer_number = %s",
        (number,),
    )
    assert [r["order_number"] for r in rows] == [order["order_number"]]

    shipped = apps.crm.patch(
        f"/orders/{order['order_number']}", json={"status": "reserved", "erp_order_id": 77, "version": 1}
    )
    assert (
        shipped.status_code == 200
        and shipped.json()["status"] == "reserved"
        and shipped.json()["version"] == 2
    )


def test_available_quantity_is_set_on_the_product(apps: Apps) -> None:
    sku = unique("Q-")
    apps.crm.post("/products", json={"sku": sku, "name": "Valve", "list_price": 5})

    patched = apps.crm.patch(f"/products/{sku}", json={"available_qty": 42}, headers={"If-Match": '"1"'})

    assert patched.status_code == 200 and patched.json()["available_qty"] == "42.000"
    assert patched.headers["ETag"] == '"2"'


def test_contacts_and_addresses_and_a_real_delete_that_cascades(apps: Apps, key: Callable[[], str]) -> None:
    number = apps.crm.post("/customers", json=_customer_body(unique("Delete Co "))).json()["customer_number"]
    contact = apps.crm.post(
        f"/customers/{number}/contacts", json={"first_name": "Na", "last_name": "Wang"}
    ).json()
    patched = apps.crm.patch(
        f"/customers/{number}/contacts/{contact['id']}",
        json={"phone": "+86 10 1234 5678"},
        headers={"If-Match": '"1"'},
    )
    shipping = apps.crm.put(
        f"/customers/{number}/addresses/shipping",
        json={"line1": "9 Keji Road", "city": "Shenzhen", "country": "CN"},
    )
    replaced = apps.crm.put(
        f"/customers/{number}/addresses/shipping",
        json={"line1": "10 Keji Road", "city": "Shenzhen", "country": "CN", "version": 1},
    )
    customer_id = apps.place.crm_rows("SELECT id FROM customers WHERE customer_number = %s", (number,))[0][
        "id"
    ]
    idem = key()

    deleted = apps.crm.delete(f"/customers/{number}", headers={"Idempotency-Key": idem})
    again = apps.crm.delete(f"/customers/{number}", headers={"Idempotency-Key": idem})

    assert patched.json()["version"] == 2
    assert (shipping.status_code, replaced.status_code, replaced.json()["version"]) == (201, 200, 2)
    assert deleted.status_code == 204 and again.status_code == 204
    assert again.headers["Idempotency-Key-Status"] == "replayed"
    assert apps.crm.get(f"/customers/{number}").status_code == 404
    for table in ("contacts", "addresses"):
        rows = apps.place.crm_rows(
            f"SELECT count(*) AS n FROM {table} WHERE customer_id = %s", (customer_id,)
        )
        assert rows[0]["n"] == 0


def test_a_customer_with_orders_is_not_deleted(apps: Apps) -> None:
    sku = unique("D-")
    apps.crm.post("/products", json={"sku": sku, "name": "Drill", "list_price": 1})
    number = apps.crm.post("/customers", json=_customer_body(unique("Kept Co "))).json()["customer_number"]
    apps.crm.post("/orders", json={"customer_number": number, "lines": [{"sku": sku, "quantity": 1}]})

    refused = apps.crm.delete(f"/customers/{number}")

    assert refused.status_code == 409 and refused.json()["field"] == "customer_number"
    assert apps.crm.get(f"/customers/{number}").status_code == 200


def test_lists_page_through_customers(apps: Apps) -> None:
    first = apps.crm.get("/customers", params={"limit": 1}).json()
    second = apps.crm.get("/customers", params={"limit": 1, "after": first["next_after"]}).json()

    assert first["next_after"] == first["items"][0]["customer_number"]
    assert second["items"][0]["customer_number"] > first["items"][0]["customer_number"]


def test_the_openapi_document_describes_the_api(apps: Apps) -> None:
    document = apps.crm.get("/openapi.json").json()

    assert {
        "/customers",
        "/customers/{customer_number}",
        "/orders",
        "/products/{sku}",
        "/_faults",
        "/health",
    } <= set(document["paths"])
    parameters = {p["name"] for p in document["paths"]["/customers"]["post"]["parameters"]}
    assert {"Idempotency-Key", "If-Match"} <= parameters


def test_concurrent_requests_with_one_key_write_once(apps: Apps, key: Callable[[], str]) -> None:
    name, idem = unique("Race Co "), key()
    body = _customer_body(name)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=apps.crm_url, timeout=30) as client:
            return client.post("/customers", json=body, headers={"Idempotency-Key": idem})

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))

    assert [a.status_code for a in answers] == [201] * 6
    assert len({a.json()["customer_number"] for a in answers}) == 1
    assert sorted(a.headers["Idempotency-Key-Status"] for a in answers) == ["replayed"] * 5 + ["stored"]
    assert _count_customers(apps, name) == 1
