"""SQL for the CRM's resources; every function runs inside the transaction its caller holds."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from psycopg import sql

from reference.common.concurrency import Precondition
from reference.common.errors import ApiError, not_found
from reference.common.models import Page, page_cut
from reference.common.patching import changes
from reference.crm.database import Connection
from reference.crm.models import (
    Address,
    AddressIn,
    AddressPatch,
    Contact,
    ContactIn,
    ContactPatch,
    Customer,
    CustomerCreate,
    CustomerPatch,
    CustomerSummary,
    Order,
    OrderCreate,
    OrderLine,
    OrderPatch,
    Product,
    ProductCreate,
    ProductPatch,
)

Row = dict[str, Any]
CENT = Decimal("0.01")


def _fetch(conn: Connection, query: sql.Composable | str, params: Any = ()) -> Row | None:
    return conn.execute(query, params).fetchone()  # type: ignore[arg-type]


def _fetch_all(conn: Connection, query: sql.Composable | str, params: Any = ()) -> list[Row]:
    return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def allocate_number(conn: Connection, table: str, column: str, prefix: str) -> tuple[int, str]:
    """The next id from the table's sequence and the number made from it, skipping numbers already taken
    (clients and the generator may choose numbers themselves)."""
    next_id = sql.SQL("SELECT nextval(pg_get_serial_sequence({}, 'id')) AS n").format(sql.Literal(table))
    taken = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(column))
    for _ in range(10_000):
        row = _fetch(conn, next_id)
        assert row is not None
        number = f"{prefix}{row['n']:06d}"
        if _fetch(conn, taken, (number,)) is None:
            return int(row["n"]), number
    raise ApiError(503, f"no free {column} found", field=column, fix=f"send {column} yourself")


def next_id(conn: Connection, table: str) -> int:
    query = sql.SQL("SELECT nextval(pg_get_serial_sequence({}, 'id')) AS n").format(sql.Literal(table))
    row = _fetch(conn, query)
    assert row is not None
    return int(row["n"])


def _update(conn: Connection, table: str, row_id: int, values: dict[str, Any]) -> Row:
    """Set ``values``, bump ``version`` and ``updated_at``; return the new row."""
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values]
    assignments += [sql.SQL("version = version + 1"), sql.SQL("updated_at = now()")]
    query = sql.SQL("UPDATE {} SET {} WHERE id = {} RETURNING *").format(
        sql.Identifier(table), sql.SQL(", ").join(assignments), sql.Placeholder())
    row = _fetch(conn, query, [*values.values(), row_id])
    assert row is not None
    return row



# customers

def customer_row(conn: Connection, number: str, *, lock: bool = False) -> Row:
    query = "SELECT * FROM customers WHERE customer_number = %s" + (" FOR UPDATE" if lock else "")
    row = _fetch(conn, query, (number,))
    if row is None:
        raise not_found("customer", "customer_number", number)
    return row


def render_customer(conn: Connection, row: Row) -> Customer:
    number = row["customer_number"]
    contacts = _fetch_all(conn, "SELECT * FROM contacts WHERE customer_id = %s ORDER BY id", (row["id"],))
    addresses = _fetch_all(conn, "SELECT * FROM addresses WHERE customer_id = %s ORDER BY kind", (row["id"],))
    return Customer(
        **CustomerSummary.model_validate(row).model_dump(),
        contacts=[Contact.model_validate({**c, "customer_number": number}) for c in contacts],
        addresses=[Address.model_validate({**a, "customer_number": number}) for a in addresses],
    )


def create_customer(conn: Connection, body: CustomerCreate) -> Customer:
    if body.customer_number is None:
        customer_id, number = allocate_number(conn, "customers", "customer_number", "C-")
    else:
        number = body.customer_number
        if _fetch(conn, "SELECT 1 FROM customers WHERE customer_number = %s", (number,)):
            raise ApiError(409, f"customer {number} already exists", field="customer_number",
                           fix="leave customer_number out to get a new one, or PATCH the existing customer")
        customer_id = next_id(conn, "customers")
    row = _fetch(conn, """
        INSERT INTO customers (id, customer_number, name, email, phone, erp_account_id, credit_limit,
                               payment_terms, blocked, open_balance)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
        (customer_id, number, body.name, body.email, body.phone, body.erp_account_id, body.credit_limit,
         body.payment_terms, body.blocked, body.open_balance))
    assert row is not None
    for contact in body.contacts:
        _insert_contact(conn, customer_id, contact)
    for address in body.addresses:
        _insert_address(conn, customer_id, address.kind, AddressIn(**address.model_dump(exclude={"kind"})))
    return render_customer(conn, row)


def list_customers(conn: Connection, *, after: str | None, limit: int,
                   erp_account_id: int | None) -> Page[CustomerSummary]:
    conditions = [sql.SQL("TRUE")]
    params: list[Any] = []
    if after is not None:
        conditions.append(sql.SQL("customer_number > %s"))
        params.append(after)
    if erp_account_id is not None:
        conditions.append(sql.SQL("erp_account_id = %s"))
        params.append(erp_account_id)
    query = sql.SQL("SELECT * FROM customers WHERE {} ORDER BY customer_number LIMIT %s").format(
        sql.SQL(" AND ").join(conditions))
    rows, next_after = page_cut(_fetch_all(conn, query, [*params, limit + 1]), limit, "customer_number")
    items = [CustomerSummary.model_validate(r) for r in rows]
    return Page[CustomerSummary](items=items, next_after=next_after)


def patch_customer(conn: Connection, number: str, patch: CustomerPatch, expected: Precondition) -> Customer:
    row = customer_row(conn, number, lock=True)
    expected.check("customer", row)
    values = changes(patch, not_null=("name", "blocked", "open_balance"))
    return render_customer(conn, _update(conn, "customers", row["id"], values))


def delete_customer(conn: Connection, number: str, expected: Precondition) -> None:
    row = customer_row(conn, number, lock=True)
    expected.check("customer", row)
    if _fetch(conn, "SELECT 1 FROM sales_orders WHERE customer_id = %s LIMIT 1", (row["id"],)):
        raise ApiError(409, f"customer {number} has sales orders and cannot be deleted",
                       field="customer_number",
                       fix="keep the customer (block it instead), or delete a customer without orders")
    conn.execute("DELETE FROM customers WHERE id = %s", (row["id"],))


# contacts

def _insert_contact(conn: Connection, customer_id: int, body: ContactIn) -> Row:
    row = _fetch(conn, """
        INSERT INTO contacts (customer_id, first_name, last_name, email, phone, role)
        VALUES (%s, %s, %s, %s, %s, %s) RETURNING *""",
        (customer_id, body.first_name, body.last_name, body.email, body.phone, body.role))
    assert row is not None
    return row


def _contact(number: str, row: Row) -> Contact:
    return Contact.model_validate({**row, "customer_number": number})


def _contact_row(conn: Connection, customer: Row, contact_id: int, *, lock: bool = False) -> Row:
    query = "SELECT * FROM contacts WHERE id = %s AND customer_id = %s" + (" FOR UPDATE" if lock else "")
    row = _fetch(conn, query, (contact_id, customer["id"]))
    if row is None:
        raise ApiError(404, f"customer {customer['customer_number']} has no contact {contact_id}",
                       field="contact_id", fix="list the customer's contacts to find the id")
    return row


def create_contact(conn: Connection, number: str, body: ContactIn) -> Contact:
    customer = customer_row(conn, number)
    return _contact(number, _insert_contact(conn, customer["id"], body))


def list_contacts(conn: Connection, number: str) -> Page[Contact]:
    customer = customer_row(conn, number)
    rows = _fetch_all(conn, "SELECT * FROM contacts WHERE customer_id = %s ORDER BY id", (customer["id"],))
    return Page[Contact](items=[_contact(number, r) for r in rows], next_after=None)


def get_contact(conn: Connection, number: str, contact_id: int) -> Contact:
    return _contact(number, _contact_row(conn, customer_row(conn, number), contact_id))


def patch_contact(conn: Connection, number: str, contact_id: int, patch: ContactPatch,
                  expected: Precondition) -> Contact:
    row = _contact_row(conn, customer_row(conn, number), contact_id, lock=True)
    expected.check("contact", row)
    values = changes(patch, not_null=("first_name", "last_name"))
    return _contact(number, _update(conn, "contacts", row["id"], values))


def delete_contact(conn: Connection, number: str, contact_id: int, expected: Precondition) -> None:
    row = _contact_row(conn, customer_row(conn, number), contact_id, lock=True)
    expected.check("contact", row)
    conn.execute("DELETE FROM contacts WHERE id = %s", (row["id"],))


# addresses

_ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "country")


def _insert_address(conn: Connection, customer_id: int, kind: str, body: AddressIn) -> Row:
    row = _fetch(conn, """
        INSERT INTO addresses (customer_id, kind, line1, line2, city, postal_code, country)
        VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *""",
        (customer_id, kind, body.line1, body.line2, body.city, body.postal_code, body.country))
    assert row is not None
    return row


def _address(number: str, row: Row) -> Address:
    return Address.model_validate({**row, "customer_number": number})


def _address_row(conn: Connection, customer: Row, kind: str, *, lock: bool = False) -> Row | None:
    query = "SELECT * FROM addresses WHERE customer_id = %s AND kind = %s" + (" FOR UPDATE" if lock else "")
    return _fetch(conn, query, (customer["id"], kind))


def _existing_address(conn: Connection, customer: Row, kind: str, *, lock: bool = False) -> Row:
    row = _address_row(conn, customer, kind, lock=lock)
    if row is None:
        raise ApiError(404, f"customer {customer['customer_number']} has no {kind} address", field="kind",
                       fix=f"PUT the {kind} address to create it")
    return row


def list_addresses(conn: Connection, number: str) -> Page[Address]:
    customer = customer_row(conn, number)
    rows = _fetch_all(conn, "SELECT * FROM addresses WHERE customer_id = %s ORDER BY kind", (customer["id"],))
    return Page[Address](items=[_address(number, r) for r in rows], next_after=None)


def get_address(conn: Connection, number: str, kind: str) -> Address:
    return _address(number, _existing_address(conn, customer_row(conn, number), kind))


def put_address(conn: Connection, number: str, kind: str, body: AddressIn,
                expected: Precondition) -> tuple[bool, Address]:
    """Create or replace the customer's address of ``kind``; True when it was created."""
    customer = customer_row(conn, number)
    row = _address_row(conn, customer, kind, lock=True)
    if row is None:
        expected.check_absent(f"{kind} address")
        return True, _address(number, _insert_address(conn, customer["id"], kind, body))
    expected.check(f"{kind} address", row)
    values = {name: getattr(body, name) for name in _ADDRESS_FIELDS}
    return False, _address(number, _update(conn, "addresses", row["id"], values))


def patch_address(conn: Connection, number: str, kind: str, patch: AddressPatch,
                  expected: Precondition) -> Address:
    row = _existing_address(conn, customer_row(conn, number), kind, lock=True)
    expected.check(f"{kind} address", row)
    values = changes(patch, not_null=("line1", "city", "country"))
    return _address(number, _update(conn, "addresses", row["id"], values))


def delete_address(conn: Connection, number: str, kind: str, expected: Precondition) -> None:
    row = _existing_address(conn, customer_row(conn, number), kind, lock=True)
    expected.check(f"{kind} address", row)
    conn.execute("DELETE FROM addresses WHERE id = %s", (row["id"],))


# products

def _product_row(conn: Connection, sku: str, *, lock: bool = False) -> Row:
    row = _fetch(conn, "SELECT * FROM products WHERE sku = %s" + (" FOR UPDATE" if lock else ""), (sku,))
    if row is None:
        raise not_found("product", "sku", sku)
    return row


def create_product(conn: Connection, body: ProductCreate) -> Product:
    if _fetch(conn, "SELECT 1 FROM products WHERE sku = %s", (body.sku,)):
        raise ApiError(409, f"product {body.sku} already exists", field="sku",
                       fix="PATCH the existing product")
    row = _fetch(conn, "INSERT INTO products (sku, name, list_price, available_qty) VALUES (%s, %s, %s, %s) "
                       "RETURNING *", (body.sku, body.name, body.list_price, body.available_qty))
    return Product.model_validate(row)


def get_product(conn: Connection, sku: str) -> Product:
    return Product.model_validate(_product_row(conn, sku))


def list_products(conn: Connection, *, after: str | None, limit: int) -> Page[Product]:
    rows = _fetch_all(conn, "SELECT * FROM products WHERE %s::text IS NULL OR sku > %s ORDER BY sku LIMIT %s",
                      (after, after, limit + 1))
    rows, next_after = page_cut(rows, limit, "sku")
    return Page[Product](items=[Product.model_validate(r) for r in rows], next_after=next_after)


def patch_product(conn: Connection, sku: str, patch: ProductPatch, expected: Precondition) -> Product:
    row = _product_row(conn, sku, lock=True)
    expected.check("product", row)
    values = changes(patch, not_null=("name", "list_price", "available_qty"))
    assignments = [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values]
    query = sql.SQL("UPDATE products SET {}, version = version + 1, updated_at = now() WHERE sku = %s "
                    "RETURNING *").format(sql.SQL(", ").join(assignments))
    return Product.model_validate(_fetch(conn, query, [*values.values(), sku]))


# sales orders

_ORDER_SELECT = ("SELECT o.*, c.customer_number FROM sales_orders o JOIN customers c ON c.id = o.customer_id "
                 "WHERE o.order_number = %s")


def _order_row(conn: Connection, number: str, *, lock: bool = False) -> Row:
    row = _fetch(conn, _ORDER_SELECT + (" FOR UPDATE OF o" if lock else ""), (number,))
    if row is None:
        raise not_found("sales order", "order_number", number)
    return row


def render_order(conn: Connection, row: Row) -> Order:
    lines = _fetch_all(conn, "SELECT line_no, sku, quantity, unit_price FROM sales_order_lines "
                             "WHERE order_id = %s ORDER BY line_no", (row["id"],))
    return Order.model_validate({**row, "lines": [OrderLine.model_validate(line) for line in lines]})


def create_order(conn: Connection, body: OrderCreate) -> Order:
    customer = _fetch(conn, "SELECT id FROM customers WHERE customer_number = %s", (body.customer_number,))
    if customer is None:
        raise ApiError(422, f"no customer {body.customer_number}", field="customer_number",
                       fix="create the customer first, or correct customer_number")
    skus = sorted({line.sku for line in body.lines})
    prices = {r["sku"]: r["list_price"] for r in
              _fetch_all(conn, "SELECT sku, list_price FROM products WHERE sku = ANY(%s)", (skus,))}
    lines: list[tuple[int, str, Decimal, Decimal]] = []
    for index, line in enumerate(body.lines):
        if line.sku not in prices:
            raise ApiError(422, f"no product {line.sku}", field=f"lines[{index}].sku",
                           fix="create the product first, or correct the SKU")
        price = line.unit_price if line.unit_price is not None else prices[line.sku]
        lines.append((index + 1, line.sku, line.quantity, price))
    total = sum((q * p for _, _, q, p in lines), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    if body.order_number is None:
        order_id, number = allocate_number(conn, "sales_orders", "order_number", "SO-")
    else:
        number = body.order_number
        if _fetch(conn, "SELECT 1 FROM sales_orders WHERE order_number = %s", (number,)):
            raise ApiError(409, f"sales order {number} already exists", field="order_number",
                           fix="leave order_number out to get a new one, or PATCH the existing order")
        order_id = next_id(conn, "sales_orders")
    conn.execute("""
        INSERT INTO sales_orders (id, order_number, customer_id, status, currency, total_amount, erp_order_id,
                                  ordered_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, COALESCE(%s, now()))""",
        (order_id, number, customer["id"], body.status, body.currency, total, body.erp_order_id,
         body.ordered_at))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO sales_order_lines (order_id, line_no, sku, quantity, unit_price) "
                        "VALUES (%s, %s, %s, %s, %s)", [(order_id, *line) for line in lines])
    return render_order(conn, _order_row(conn, number))


def get_order(conn: Connection, number: str) -> Order:
    return render_order(conn, _order_row(conn, number))


def list_orders(conn: Connection, *, customer_number: str | None, status: str | None, after: str | None,
                limit: int) -> Page[Order]:
    conditions = [sql.SQL("TRUE")]
    params: list[Any] = []
    if customer_number is not None:
        conditions.append(sql.SQL("c.customer_number = %s"))
        params.append(customer_number)
    if status is not None:
        conditions.append(sql.SQL("o.status = %s"))
        params.append(status)
    if after is not None:
        conditions.append(sql.SQL("o.order_number > %s"))
        params.append(after)
    query = sql.SQL("SELECT o.*, c.customer_number FROM sales_orders o "
                    "JOIN customers c ON c.id = o.customer_id WHERE {} "
                    "ORDER BY o.order_number LIMIT %s").format(sql.SQL(" AND ").join(conditions))
    rows, next_after = page_cut(_fetch_all(conn, query, [*params, limit + 1]), limit, "order_number")
    return Page[Order](items=[render_order(conn, r) for r in rows], next_after=next_after)


def patch_order(conn: Connection, number: str, patch: OrderPatch, expected: Precondition) -> Order:
    row = _order_row(conn, number, lock=True)
    expected.check("sales order", row)
    values = changes(patch, not_null=("status", "currency"))
    _update(conn, "sales_orders", row["id"], values)
    return render_order(conn, _order_row(conn, number))
