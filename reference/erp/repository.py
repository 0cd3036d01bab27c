"""SQL for the ERP's resources; every function runs inside the transaction its caller holds.

Times cross this module's edge as aware datetimes; inside, they are the zone's wall-clock time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from reference.common.concurrency import Precondition
from reference.common.errors import ApiError, not_found
from reference.common.models import Page, page_cut
from reference.common.patching import changes
from reference.erp import lifecycle
from reference.erp.database import Connection, allocate_id
from reference.erp.localtime import from_local, local_now, to_local
from reference.erp.models import (
    Account,
    AccountCreate,
    AccountPatch,
    Invoice,
    Order,
    OrderCreate,
    OrderLine,
    OrderLinesAdd,
    OrderPatch,
    OrderReplace,
    Payment,
    PaymentCreate,
    Product,
    ProductCreate,
    ProductPatch,
    Shipment,
    Stock,
    StockPut,
    StockReceipt,
    Warehouse,
    WarehouseCreate,
    WarehousePatch,
)

Row = dict[str, Any]
CENT = Decimal("0.01")
DEFAULT_CARRIER = "SF Express"


def _fetch(conn: Connection, query: str, params: Sequence[Any] = ()) -> Row | None:
    with conn.cursor() as cur:
        cur.execute(query, tuple(params))
        row: Row | None = cur.fetchone()
        return row


def _fetch_all(conn: Connection, query: str, params: Sequence[Any] = ()) -> list[Row]:
    with conn.cursor() as cur:
        cur.execute(query, tuple(params))
        return list(cur.fetchall())


def _execute(conn: Connection, query: str, params: Sequence[Any] = ()) -> int:
    with conn.cursor() as cur:
        cur.execute(query, tuple(params))
        return int(cur.rowcount)


def _where(conditions: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``[("status = %s", "paid"), ("x = %s", None)]`` -> ``"WHERE status = %s", ["paid"]``: None skips."""
    used = [(clause, value) for clause, value in conditions if value is not None]
    if not used:
        return "", []
    return "WHERE " + " AND ".join(clause for clause, _ in used), [value for _, value in used]


def _set_clause(values: dict[str, Any]) -> str:
    return ", ".join(f"`{column}` = %s" for column in values)


def _aware(row: Row, zone: ZoneInfo, *columns: str) -> Row:
    return {**row, **{c: from_local(row[c], zone) for c in columns if row.get(c) is not None}}


# accounts

def _account_row(conn: Connection, account_id: int, *, lock: bool = False) -> Row:
    row = _fetch(conn, "SELECT * FROM accounts WHERE account_id = %s" + (" FOR UPDATE" if lock else ""),
                 (account_id,))
    if row is None:
        raise not_found("account", "account_id", account_id)
    return row


def render_account(row: Row, zone: ZoneInfo) -> Account:
    return Account.model_validate(_aware(row, zone, "created_at", "updated_at"))


def code_taken(code: str, holder: Row, customer: str | None) -> ApiError:
    """The 409 of an account code another account has: which one, and what to do for a client that chose the
    code (Isthmus makes it from the CRM customer number through mappings/account.yaml, so it cannot be left out
    there): link that account to the customer, or rename one of the two."""
    held_for = (f"CRM customer {holder['crm_customer_number']}" if holder["crm_customer_number"]
                else "no CRM customer")
    link = (f"PATCH /accounts/{holder['account_id']} with crm_customer_number {customer}" if customer
            else f"PATCH /accounts/{holder['account_id']} with its crm_customer_number")
    return ApiError(
        409, f"account code {code} is taken by account {holder['account_id']} (linked to {held_for})",
        field="account_code", account_id=holder["account_id"],
        fix=(f"if account {holder['account_id']} is this customer's account, link it ({link}) and use it instead "
             "of creating one; if not, rename one of the two: that account's code in the ERP, or the customer's "
             "number (through Isthmus the code is made from the customer number, see mappings/account.yaml, so "
             "it cannot be left out); an API client may leave account_code out to get a new one"))


def create_account(conn: Connection, body: AccountCreate, zone: ZoneInfo) -> Account:
    if body.crm_customer_number and _fetch(conn, "SELECT 1 FROM accounts WHERE crm_customer_number = %s",
                                           (body.crm_customer_number,)):
        raise ApiError(409, f"an account for CRM customer {body.crm_customer_number} already exists",
                       field="crm_customer_number",
                       fix="look it up with GET /accounts/by-customer/{crm_customer_number} and PATCH it")
    holder = body.account_code and _fetch(conn, "SELECT account_id, crm_customer_number FROM accounts "
                                                "WHERE account_code = %s", (body.account_code,))
    if holder:
        raise code_taken(str(body.account_code), holder, body.crm_customer_number)
    account_id = allocate_id(conn, "accounts", "account_id")
    code = body.account_code or f"AC{account_id:06d}"
    now = local_now(zone, precision=6)
    _execute(conn, """
        INSERT INTO accounts (account_id, account_code, name, email, phone, billing_line1, billing_city,
                              billing_postal_code, billing_country, crm_customer_number, credit_limit,
                              payment_terms, blocked, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (account_id, code, body.name, body.email, body.phone, body.billing_line1, body.billing_city,
         body.billing_postal_code, body.billing_country, body.crm_customer_number, body.credit_limit,
         body.payment_terms, body.blocked, now, now))
    return render_account(_account_row(conn, account_id), zone)


def get_account(conn: Connection, account_id: int, zone: ZoneInfo) -> Account:
    return render_account(_account_row(conn, account_id), zone)


def get_account_by_customer(conn: Connection, customer_number: str, zone: ZoneInfo) -> Account:
    row = _fetch(conn, "SELECT * FROM accounts WHERE crm_customer_number = %s", (customer_number,))
    if row is None:
        raise not_found("account", "crm_customer_number", customer_number)
    return render_account(row, zone)


def list_accounts(conn: Connection, *, after: int | None, limit: int, crm_customer_number: str | None,
                  active: bool | None, zone: ZoneInfo) -> Page[Account]:
    where, params = _where([("account_id > %s", after), ("crm_customer_number = %s", crm_customer_number),
                            ("active = %s", active)])
    rows = _fetch_all(conn, f"SELECT * FROM accounts {where} ORDER BY account_id LIMIT %s",
                      [*params, limit + 1])
    rows, next_after = page_cut(rows, limit, "account_id")
    return Page[Account](items=[render_account(r, zone) for r in rows], next_after=next_after)


def _update_account(conn: Connection, account_id: int, values: dict[str, Any], zone: ZoneInfo) -> Account:
    _execute(conn, f"UPDATE accounts SET {_set_clause(values)}, version = version + 1, updated_at = %s "
                   "WHERE account_id = %s", [*values.values(), local_now(zone, precision=6), account_id])
    return render_account(_account_row(conn, account_id), zone)


def patch_account(conn: Connection, account_id: int, patch: AccountPatch, expected: Precondition,
                  zone: ZoneInfo) -> Account:
    row = _account_row(conn, account_id, lock=True)
    expected.check("account", row)
    values = changes(patch, not_null=("name", "credit_limit", "payment_terms", "blocked", "active"))
    return _update_account(conn, account_id, values, zone)


def deactivate_account(conn: Connection, account_id: int, expected: Precondition, zone: ZoneInfo) -> Account:
    """Accounts are never deleted (orders and invoices refer to them); they are deactivated."""
    row = _account_row(conn, account_id, lock=True)
    expected.check("account", row)
    if not row["active"]:
        return render_account(row, zone)
    return _update_account(conn, account_id, {"active": False}, zone)


# products and warehouses (no version column: their ETag is a hash of their content)

def _product(conn: Connection, sku: str, *, lock: bool = False) -> Product:
    row = _fetch(conn, "SELECT * FROM products WHERE sku = %s" + (" FOR UPDATE" if lock else ""), (sku,))
    if row is None:
        raise not_found("product", "sku", sku)
    return Product.model_validate(row)


def create_product(conn: Connection, body: ProductCreate) -> Product:
    if _fetch(conn, "SELECT 1 FROM products WHERE sku = %s", (body.sku,)):
        raise ApiError(409, f"product {body.sku} already exists", field="sku",
                       fix="PATCH the existing product")
    _execute(conn, "INSERT INTO products (sku, description, unit_price, uom) VALUES (%s, %s, %s, %s)",
             (body.sku, body.description, body.unit_price, body.uom))
    return _product(conn, body.sku)


def get_product(conn: Connection, sku: str) -> Product:
    return _product(conn, sku)


def list_products(conn: Connection, *, after: str | None, limit: int) -> Page[Product]:
    where, params = _where([("sku > %s", after)])
    rows, next_after = page_cut(
        _fetch_all(conn, f"SELECT * FROM products {where} ORDER BY sku LIMIT %s", [*params, limit + 1]),
        limit, "sku")
    return Page[Product](items=[Product.model_validate(r) for r in rows], next_after=next_after)


def patch_product(conn: Connection, sku: str, patch: ProductPatch, expected: Precondition) -> Product:
    current = _product(conn, sku, lock=True)
    expected.check("product", current.model_dump(mode="json"))
    values = changes(patch, not_null=("description", "unit_price", "uom"))
    _execute(conn, f"UPDATE products SET {_set_clause(values)} WHERE sku = %s", [*values.values(), sku])
    return _product(conn, sku)


def _warehouse(conn: Connection, code: str, *, lock: bool = False) -> Warehouse:
    row = _fetch(conn, "SELECT * FROM warehouses WHERE code = %s" + (" FOR UPDATE" if lock else ""), (code,))
    if row is None:
        raise not_found("warehouse", "code", code)
    return Warehouse.model_validate(row)


def create_warehouse(conn: Connection, body: WarehouseCreate) -> Warehouse:
    if _fetch(conn, "SELECT 1 FROM warehouses WHERE code = %s", (body.code,)):
        raise ApiError(409, f"warehouse {body.code} already exists", field="code", fix="use another code")
    _execute(conn, "INSERT INTO warehouses (code, name) VALUES (%s, %s)", (body.code, body.name))
    return _warehouse(conn, body.code)


def get_warehouse(conn: Connection, code: str) -> Warehouse:
    return _warehouse(conn, code)


def list_warehouses(conn: Connection) -> Page[Warehouse]:
    rows = _fetch_all(conn, "SELECT * FROM warehouses ORDER BY code")
    return Page[Warehouse](items=[Warehouse.model_validate(r) for r in rows], next_after=None)


def patch_warehouse(conn: Connection, code: str, patch: WarehousePatch, expected: Precondition) -> Warehouse:
    current = _warehouse(conn, code, lock=True)
    expected.check("warehouse", current.model_dump(mode="json"))
    values = changes(patch, not_null=("name",))
    _execute(conn, f"UPDATE warehouses SET {_set_clause(values)} WHERE code = %s", [*values.values(), code])
    return _warehouse(conn, code)


# stock

def _stock(row: Row) -> Stock:
    return Stock.model_validate({**row, "available": row["on_hand"] - row["reserved"]})


def _stock_row(conn: Connection, sku: str, warehouse_code: str, *, lock: bool = False) -> Row | None:
    return _fetch(conn, "SELECT * FROM stock WHERE sku = %s AND warehouse_code = %s"
                        + (" FOR UPDATE" if lock else ""), (sku, warehouse_code))


def get_stock(conn: Connection, sku: str, warehouse_code: str) -> Stock:
    row = _stock_row(conn, sku, warehouse_code)
    if row is None:
        raise ApiError(404, f"no stock of {sku} in warehouse {warehouse_code}", field="sku",
                       fix="PUT the stock to record it")
    return _stock(row)


def list_stock(conn: Connection, *, sku: str | None, warehouse_code: str | None, after: str | None,
               limit: int) -> Page[Stock]:
    """``after`` is ``<sku>/<warehouse_code>`` of the last row of the previous page."""
    after_key = tuple(after.rsplit("/", 1)) if after else None
    if after_key is not None and len(after_key) != 2:
        raise ApiError(422, f"after {after!r} is not <sku>/<warehouse_code>", field="after",
                       fix="pass the next_after of the previous page")
    where, params = _where([("sku = %s", sku), ("warehouse_code = %s", warehouse_code),
                            ("(sku, warehouse_code) > (%s, %s)", after_key)])
    flat = [p for value in params for p in (value if isinstance(value, tuple) else (value,))]
    rows = _fetch_all(conn, f"SELECT * FROM stock {where} ORDER BY sku, warehouse_code LIMIT %s",
                      [*flat, limit + 1])
    rows, more = page_cut(rows, limit, "sku")
    next_after = f"{rows[-1]['sku']}/{rows[-1]['warehouse_code']}" if more is not None else None
    return Page[Stock](items=[_stock(r) for r in rows], next_after=next_after)


def _require_product_and_warehouse(conn: Connection, sku: str, warehouse_code: str) -> None:
    if _fetch(conn, "SELECT 1 FROM products WHERE sku = %s", (sku,)) is None:
        raise not_found("product", "sku", sku)
    if _fetch(conn, "SELECT 1 FROM warehouses WHERE code = %s", (warehouse_code,)) is None:
        raise not_found("warehouse", "warehouse_code", warehouse_code)


def put_stock(conn: Connection, sku: str, warehouse_code: str, body: StockPut,
              expected: Precondition) -> tuple[bool, Stock]:
    """Set on-hand stock (a count); True when the stock row was created."""
    _require_product_and_warehouse(conn, sku, warehouse_code)
    row = _stock_row(conn, sku, warehouse_code, lock=True)
    if row is None:
        expected.check_absent(f"stock of {sku} in {warehouse_code}")
        _execute(conn, "INSERT INTO stock (sku, warehouse_code, on_hand) VALUES (%s, %s, %s)",
                 (sku, warehouse_code, body.on_hand))
        return True, get_stock(conn, sku, warehouse_code)
    expected.check(f"stock of {sku} in {warehouse_code}", row)
    if body.on_hand < row["reserved"]:
        raise ApiError(409, f"{row['reserved']} of {sku} are reserved in {warehouse_code}; on_hand cannot go "
                       f"below that", field="on_hand", fix="ship or cancel the orders holding it first",
                       reserved=str(row["reserved"]))
    _execute(conn, "UPDATE stock SET on_hand = %s, version = version + 1 "
                   "WHERE sku = %s AND warehouse_code = %s", (body.on_hand, sku, warehouse_code))
    return False, get_stock(conn, sku, warehouse_code)


def receive_stock(conn: Connection, sku: str, warehouse_code: str, body: StockReceipt,
                  expected: Precondition) -> Stock:
    """A goods receipt: on-hand grows by the quantity."""
    _require_product_and_warehouse(conn, sku, warehouse_code)
    row = _stock_row(conn, sku, warehouse_code, lock=True)
    if row is None:
        expected.check_absent(f"stock of {sku} in {warehouse_code}")
        _execute(conn, "INSERT INTO stock (sku, warehouse_code, on_hand) VALUES (%s, %s, %s)",
                 (sku, warehouse_code, body.quantity))
    else:
        expected.check(f"stock of {sku} in {warehouse_code}", row)
        _execute(conn, "UPDATE stock SET on_hand = on_hand + %s, version = version + 1 "
                       "WHERE sku = %s AND warehouse_code = %s", (body.quantity, sku, warehouse_code))
    return get_stock(conn, sku, warehouse_code)


# sales orders

def _order_row(conn: Connection, order_id: int, *, lock: bool = False) -> Row:
    row = _fetch(conn, "SELECT * FROM sales_orders WHERE order_id = %s" + (" FOR UPDATE" if lock else ""),
                 (order_id,))
    if row is None:
        raise not_found("sales order", "order_id", order_id)
    return row


def _invoices(conn: Connection, condition: str, params: Sequence[Any], zone: ZoneInfo) -> list[Invoice]:
    rows = _fetch_all(conn, "SELECT i.*, COALESCE((SELECT SUM(p.amount) FROM payments p "
                            "WHERE p.invoice_id = i.invoice_id), 0) AS paid_amount "
                            f"FROM invoices i {condition}", params)
    return [Invoice.model_validate(_aware(r, zone, "issued_at")) for r in rows]


def render_order(conn: Connection, row: Row, zone: ZoneInfo) -> Order:
    order_id = row["order_id"]
    lines = _fetch_all(conn, "SELECT * FROM sales_order_lines WHERE order_id = %s ORDER BY line_no",
                       (order_id,))
    shipments = _fetch_all(conn, "SELECT * FROM shipments WHERE order_id = %s ORDER BY shipment_id",
                           (order_id,))
    return Order.model_validate({
        **_aware(row, zone, "order_date", "updated_at"),
        "lines": [OrderLine.model_validate(line) for line in lines],
        "shipments": [Shipment.model_validate(_aware(s, zone, "shipped_at")) for s in shipments],
        "invoices": _invoices(conn, "WHERE i.order_id = %s ORDER BY i.invoice_id", (order_id,), zone),
    })


def get_order(conn: Connection, order_id: int, zone: ZoneInfo) -> Order:
    return render_order(conn, _order_row(conn, order_id), zone)


def list_orders(conn: Connection, *, account_id: int | None, status: str | None, crm_order_number: str | None,
                after: int | None, limit: int, zone: ZoneInfo) -> Page[Order]:
    where, params = _where([("account_id = %s", account_id), ("status = %s", status),
                            ("crm_order_number = %s", crm_order_number), ("order_id > %s", after)])
    rows = _fetch_all(conn, f"SELECT * FROM sales_orders {where} ORDER BY order_id LIMIT %s",
                      [*params, limit + 1])
    rows, next_after = page_cut(rows, limit, "order_id")
    return Page[Order](items=[render_order(conn, r, zone) for r in rows], next_after=next_after)


def _orderable_account(conn: Connection, account_id: int) -> Row:
    account = _fetch(conn, "SELECT * FROM accounts WHERE account_id = %s", (account_id,))
    if account is None:
        raise ApiError(422, f"no account {account_id}", field="account_id", fix="create the account first")
    if not account["active"]:
        raise ApiError(409, f"account {account_id} is inactive", field="account_id",
                       fix="reactivate the account (PATCH active true) first")
    if account["blocked"]:
        raise ApiError(409, f"account {account_id} is blocked", field="account_id",
                       fix="unblock the account (PATCH blocked false) first")
    return account


def _reserve(conn: Connection, body: OrderCreate | OrderLinesAdd | OrderReplace,
             first_line_no: int = 1) -> list[tuple[int, str, str, Decimal, Decimal]]:
    """Choose a warehouse per line and reserve its stock; the stock rows are locked in key order first, so
    concurrent orders cannot deadlock on them. Lines are numbered from ``first_line_no``."""
    skus = sorted({line.sku for line in body.lines})
    prices = {r["sku"]: r["unit_price"] for r in
              _fetch_all(conn, "SELECT sku, unit_price FROM products WHERE sku IN %s", (skus,))}
    known_warehouses = {r["code"] for r in _fetch_all(conn, "SELECT code FROM warehouses")}
    stock = {(r["sku"], r["warehouse_code"]): r["on_hand"] - r["reserved"] for r in _fetch_all(
        conn, "SELECT * FROM stock WHERE sku IN %s ORDER BY sku, warehouse_code FOR UPDATE", (skus,))}
    lines = []
    for index, line in enumerate(body.lines):
        if line.sku not in prices:
            raise ApiError(422, f"no product {line.sku}", field=f"lines[{index}].sku",
                           fix="create the product first, or correct the SKU")
        if line.warehouse_code is not None and line.warehouse_code not in known_warehouses:
            raise ApiError(422, f"no warehouse {line.warehouse_code}", field=f"lines[{index}].warehouse_code",
                           fix="leave warehouse_code out to let the ERP choose, or correct it")
        candidates = sorted(((available, code) for (sku, code), available in stock.items()
                             if sku == line.sku and line.warehouse_code in (None, code)),
                            key=lambda c: (-c[0], c[1]))
        if not candidates or candidates[0][0] < line.quantity:
            available = candidates[0][0] if candidates else Decimal(0)
            where = line.warehouse_code or "any warehouse"
            raise ApiError(409, f"not enough stock of {line.sku}: {line.quantity} requested, {available} "
                           f"available in {where}", field=f"lines[{index}].quantity",
                           fix=f"order at most {available} of {line.sku}, or receive stock first",
                           sku=line.sku, available=str(available))
        code = candidates[0][1]
        stock[(line.sku, code)] -= line.quantity
        price = line.unit_price if line.unit_price is not None else prices[line.sku]
        lines.append((first_line_no + index, line.sku, code, line.quantity, price))
    for _, sku, code, quantity, _ in lines:
        _execute(conn, "UPDATE stock SET reserved = reserved + %s, version = version + 1 "
                       "WHERE sku = %s AND warehouse_code = %s", (quantity, sku, code))
    return lines


def create_order(conn: Connection, body: OrderCreate, zone: ZoneInfo) -> Order:
    """Create the order and reserve its stock in one transaction; 409 naming the SKU when stock is short."""
    _orderable_account(conn, body.account_id)
    if body.crm_order_number and _fetch(conn, "SELECT order_id FROM sales_orders WHERE crm_order_number = %s",
                                        (body.crm_order_number,)):
        raise ApiError(409, f"CRM order {body.crm_order_number} already has an ERP order",
                       field="crm_order_number", fix="GET /orders?crm_order_number=... to find it")
    if body.order_no and _fetch(conn, "SELECT 1 FROM sales_orders WHERE order_no = %s", (body.order_no,)):
        raise ApiError(409, f"order number {body.order_no} is taken", field="order_no",
                       fix="leave order_no out to get a new one")
    lines = _reserve(conn, body)
    total = sum((q * p for *_, q, p in lines), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    order_id = allocate_id(conn, "sales_orders", "order_id")
    order_date = to_local(body.order_date, zone) if body.order_date else local_now(zone)
    _execute(conn, """
        INSERT INTO sales_orders (order_id, order_no, account_id, crm_order_number, status, order_date,
                                  currency, total_amount, updated_at)
        VALUES (%s, %s, %s, %s, 'reserved', %s, %s, %s, %s)""",
        (order_id, body.order_no or f"ORD{order_id:08d}", body.account_id, body.crm_order_number, order_date,
         body.currency, total, local_now(zone, precision=6)))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO sales_order_lines (order_id, line_no, sku, warehouse_code, quantity, "
                        "unit_price) VALUES (%s, %s, %s, %s, %s, %s)", [(order_id, *line) for line in lines])
    return get_order(conn, order_id, zone)


def add_order_lines(conn: Connection, order_id: int, body: OrderLinesAdd, zone: ZoneInfo) -> Order:
    """Append lines to a reserved order and reserve their stock, in one transaction: the parts of an order bigger
    than one call (``MAX_LINES_PER_CALL``). 409 when the order is past ``reserved`` or the stock is short."""
    order = _order_row(conn, order_id, lock=True)
    if order["status"] != "reserved":
        raise ApiError(409, f"order {order_id} is {order['status']}; lines are added only while it is reserved",
                       field="status", fix="add lines before the order ships, or create another order")
    last = _fetch(conn, "SELECT COALESCE(MAX(line_no), 0) AS n FROM sales_order_lines WHERE order_id = %s",
                  (order_id,))
    lines = _reserve(conn, body, first_line_no=int((last or {}).get("n", 0)) + 1)
    added = sum((q * p for *_, q, p in lines), Decimal(0))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO sales_order_lines (order_id, line_no, sku, warehouse_code, quantity, "
                        "unit_price) VALUES (%s, %s, %s, %s, %s, %s)", [(order_id, *line) for line in lines])
    _execute(conn, "UPDATE sales_orders SET total_amount = %s, version = version + 1, updated_at = %s "
                   "WHERE order_id = %s",
             ((order["total_amount"] + added).quantize(CENT, ROUND_HALF_UP), local_now(zone, precision=6),
              order_id))
    return get_order(conn, order_id, zone)


def replace_order(conn: Connection, order_id: int, body: OrderReplace, expected: Precondition,
                  zone: ZoneInfo) -> Order:
    """Replace a reserved order's lines (numbered from 1) and the header fields given, in one transaction: the old
    lines' stock is released and the new lines' reserved. 409 once the order is past ``reserved`` (field
    ``status``) or when the stock is short (field ``lines``, naming the line)."""
    order = _order_row(conn, order_id, lock=True)
    expected.check("sales order", order)
    lifecycle.check_editable(order_id, order["status"])
    old = {r["sku"] for r in _fetch_all(conn, "SELECT sku FROM sales_order_lines WHERE order_id = %s", (order_id,))}
    # the stock rows of the old and the new lines locked in key order first, as _reserve locks them: no deadlock
    _fetch_all(conn, "SELECT sku FROM stock WHERE sku IN %s ORDER BY sku, warehouse_code FOR UPDATE",
               (sorted(old | {line.sku for line in body.lines}),))
    _move_stock(conn, order_id, shipped=False)
    _execute(conn, "DELETE FROM sales_order_lines WHERE order_id = %s", (order_id,))
    try:
        lines = _reserve(conn, body)
    except ApiError as exc:
        if exc.status != 409 or not (exc.field or "").startswith("lines["):
            raise
        # one field for every line: a client can declare it as the business answer it is (the stock is short)
        raise ApiError(409, exc.error, field="lines", fix=exc.fix, line=exc.field, **exc.extra) from exc
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO sales_order_lines (order_id, line_no, sku, warehouse_code, quantity, "
                        "unit_price) VALUES (%s, %s, %s, %s, %s, %s)", [(order_id, *line) for line in lines])
    values: dict[str, Any] = {"total_amount": sum((q * p for *_, q, p in lines), Decimal(0)).quantize(
        CENT, ROUND_HALF_UP)}
    if body.order_date is not None:
        values["order_date"] = to_local(body.order_date, zone)
    if body.currency is not None:
        values["currency"] = body.currency
    _execute(conn, f"UPDATE sales_orders SET {_set_clause(values)}, version = version + 1, updated_at = %s "
                   "WHERE order_id = %s", [*values.values(), local_now(zone, precision=6), order_id])
    return get_order(conn, order_id, zone)


def _move_stock(conn: Connection, order_id: int, *, shipped: bool) -> None:
    """Release the order's reservations; when shipped, the goods also leave on-hand."""
    lines = _fetch_all(conn, "SELECT sku, warehouse_code, quantity FROM sales_order_lines "
                             "WHERE order_id = %s ORDER BY sku, warehouse_code", (order_id,))
    for line in lines:
        _execute(conn, "UPDATE stock SET reserved = reserved - %s, on_hand = on_hand - %s, "
                       "version = version + 1 WHERE sku = %s AND warehouse_code = %s",
                 (line["quantity"], line["quantity"] if shipped else 0, line["sku"], line["warehouse_code"]))


def _ship(conn: Connection, order: Row, patch: OrderPatch, at: datetime) -> None:
    _move_stock(conn, order["order_id"], shipped=True)
    _execute(conn, "INSERT INTO shipments (order_id, shipped_at, carrier, tracking_no) "
                   "VALUES (%s, %s, %s, %s)",
             (order["order_id"], at, patch.carrier or DEFAULT_CARRIER, patch.tracking_no))


def _invoice(conn: Connection, order: Row, at: datetime) -> None:
    account = _fetch(conn, "SELECT payment_terms FROM accounts WHERE account_id = %s", (order["account_id"],))
    assert account is not None
    invoice_id = allocate_id(conn, "invoices", "invoice_id")
    _execute(conn, "INSERT INTO invoices (invoice_id, invoice_no, order_id, account_id, amount, issued_at, "
                   "due_date) VALUES (%s, %s, %s, %s, %s, %s, %s)",
             (invoice_id, f"INV{invoice_id:08d}", order["order_id"], order["account_id"],
              order["total_amount"], at, lifecycle.due_date(at.date(), account["payment_terms"])))


def _pay(conn: Connection, order: Row, at: datetime) -> None:
    """Pay what is still open on the order's invoice."""
    invoice = _fetch(conn, "SELECT * FROM invoices WHERE order_id = %s AND status = 'open' FOR UPDATE",
                     (order["order_id"],))
    if invoice is None:
        return
    paid = _fetch(conn, "SELECT COALESCE(SUM(amount), 0) AS paid FROM payments WHERE invoice_id = %s",
                  (invoice["invoice_id"],))
    outstanding = invoice["amount"] - (paid or {}).get("paid", 0)
    if outstanding > 0:
        _execute(conn, "INSERT INTO payments (invoice_id, account_id, amount, paid_at) "
                       "VALUES (%s, %s, %s, %s)",
                 (invoice["invoice_id"], invoice["account_id"], outstanding, at))
    _execute(conn, "UPDATE invoices SET status = 'paid' WHERE invoice_id = %s", (invoice["invoice_id"],))


def patch_order(conn: Connection, order_id: int, patch: OrderPatch, expected: Precondition,
                zone: ZoneInfo) -> Order:
    """Move the order along its lifecycle (each step writes its shipment, invoice or payment) and/or set
    its CRM order number. Setting the status it already has changes nothing."""
    order = _order_row(conn, order_id, lock=True)
    expected.check("sales order", order)
    target = patch.status if patch.status != order["status"] else None
    if (patch.carrier or patch.tracking_no) and target != "shipped":
        raise ApiError(422, "carrier and tracking_no belong to the change to shipped",
                       field="carrier" if patch.carrier else "tracking_no",
                       fix="send them together with status shipped")
    values: dict[str, Any] = {}
    if "crm_order_number" in patch.model_fields_set and patch.crm_order_number != order["crm_order_number"]:
        values["crm_order_number"] = patch.crm_order_number
    if target is None and not values:
        if patch.status is None and "crm_order_number" not in patch.model_fields_set:
            raise ApiError(422, "the patch changes nothing", field="body",
                           fix="send status and/or crm_order_number")
        return render_order(conn, order, zone)
    if target is not None:
        lifecycle.check_transition(order["status"], target)
        at = to_local(patch.at, zone) if patch.at else local_now(zone)
        if target == "shipped":
            _ship(conn, order, patch, at)
        elif target == "invoiced":
            _invoice(conn, order, at)
        elif target == "paid":
            _pay(conn, order, at)
        elif target == "cancelled":
            _move_stock(conn, order_id, shipped=False)
        values["status"] = target
    _execute(conn, f"UPDATE sales_orders SET {_set_clause(values)}, version = version + 1, updated_at = %s "
                   "WHERE order_id = %s", [*values.values(), local_now(zone, precision=6), order_id])
    return get_order(conn, order_id, zone)


# invoices and payments

def get_invoice(conn: Connection, invoice_id: int, zone: ZoneInfo) -> Invoice:
    found = _invoices(conn, "WHERE i.invoice_id = %s", (invoice_id,), zone)
    if not found:
        raise not_found("invoice", "invoice_id", invoice_id)
    return found[0]


def list_invoices(conn: Connection, *, account_id: int | None, order_id: int | None, status: str | None,
                  after: int | None, limit: int, zone: ZoneInfo) -> Page[Invoice]:
    where, params = _where([("i.account_id = %s", account_id), ("i.order_id = %s", order_id),
                            ("i.status = %s", status), ("i.invoice_id > %s", after)])
    items = _invoices(conn, f"{where} ORDER BY i.invoice_id LIMIT %s", [*params, limit + 1], zone)
    next_after = str(items[limit - 1].invoice_id) if len(items) > limit else None
    return Page[Invoice](items=items[:limit], next_after=next_after)


def _payment(row: Row, zone: ZoneInfo) -> Payment:
    return Payment.model_validate(_aware(row, zone, "paid_at"))


def get_payment(conn: Connection, payment_id: int, zone: ZoneInfo) -> Payment:
    row = _fetch(conn, "SELECT * FROM payments WHERE payment_id = %s", (payment_id,))
    if row is None:
        raise not_found("payment", "payment_id", payment_id)
    return _payment(row, zone)


def list_payments(conn: Connection, *, account_id: int | None, invoice_id: int | None, after: int | None,
                  limit: int, zone: ZoneInfo) -> Page[Payment]:
    where, params = _where([("account_id = %s", account_id), ("invoice_id = %s", invoice_id),
                            ("payment_id > %s", after)])
    rows = _fetch_all(conn, f"SELECT * FROM payments {where} ORDER BY payment_id LIMIT %s",
                      [*params, limit + 1])
    rows, next_after = page_cut(rows, limit, "payment_id")
    return Page[Payment](items=[_payment(r, zone) for r in rows], next_after=next_after)


def create_payment(conn: Connection, body: PaymentCreate, zone: ZoneInfo) -> Payment:
    """Record a (possibly partial) payment; the one that settles the invoice also marks the order paid."""
    invoice = _fetch(conn, "SELECT * FROM invoices WHERE invoice_id = %s FOR UPDATE", (body.invoice_id,))
    if invoice is None:
        raise ApiError(422, f"no invoice {body.invoice_id}", field="invoice_id", fix="correct invoice_id")
    if invoice["status"] == "paid":
        raise ApiError(409, f"invoice {invoice['invoice_no']} is already paid", field="invoice_id",
                       fix="do not pay it again")
    paid = _fetch(conn, "SELECT COALESCE(SUM(amount), 0) AS paid FROM payments WHERE invoice_id = %s",
                  (body.invoice_id,))
    outstanding = invoice["amount"] - (paid or {}).get("paid", 0)
    if body.amount > outstanding:
        raise ApiError(422, f"{body.amount} is more than the {outstanding} still open on "
                       f"{invoice['invoice_no']}", field="amount", fix=f"pay at most {outstanding}")
    at = to_local(body.paid_at, zone) if body.paid_at else local_now(zone)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO payments (invoice_id, account_id, amount, paid_at) VALUES (%s, %s, %s, %s)",
                    (body.invoice_id, invoice["account_id"], body.amount, at))
        payment_id = cur.lastrowid
    if body.amount == outstanding:
        _execute(conn, "UPDATE invoices SET status = 'paid' WHERE invoice_id = %s", (body.invoice_id,))
        _execute(conn, "UPDATE sales_orders SET status = 'paid', version = version + 1, updated_at = %s "
                       "WHERE order_id = %s AND status = 'invoiced'",
                 (local_now(zone, precision=6), invoice["order_id"]))
    return get_payment(conn, payment_id, zone)
