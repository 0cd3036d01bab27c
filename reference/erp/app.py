"""The ERP's HTTP API: routes only; the SQL is in ``repository``, the shared parts in ``reference.common``."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from reference.common import batch
from reference.common.app import new_app
from reference.common.errors import error_responses
from reference.common.models import Page
from reference.common.transactions import Answer, BatchWrite, ReaderDep, Transactions, WriterDep
from reference.erp import database
from reference.erp import repository as repo
from reference.erp.config import ErpConfig
from reference.erp.models import (
    Account,
    AccountCreate,
    AccountPatch,
    Invoice,
    Order,
    OrderCreate,
    OrderLinesAdd,
    OrderPatch,
    OrderReplace,
    OrderStatus,
    Payment,
    PaymentCreate,
    Product,
    ProductCreate,
    ProductPatch,
    Stock,
    StockPut,
    StockReceipt,
    Warehouse,
    WarehouseCreate,
    WarehousePatch,
)

DESCRIPTION = """The reference ERP, one of the two systems Isthmus integrates.

Order dates, shipment, invoice and payment times are stored as wall-clock time of the ERP's zone
(REFERENCE_ERP_TIME_ZONE, default Asia/Shanghai) without an offset; this API takes and gives ISO 8601 times
with offsets and converts. Every write takes an `Idempotency-Key` header: a repeat returns the first answer
(with `Idempotency-Key-Status: replayed`) without writing again; the same key with a different body is
refused with 422; without the header the write is applied and answered with `Idempotency-Key-Status: absent`.
Resources carry `ETag` (`"<version>"` where the table has a version, a content hash otherwise) and writes
honour `If-Match` or a `version` field with 412. Money is a string with two decimals. Errors are
`{"error", "field", "fix"}`.
"""

SkuPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
WarehousePath = Annotated[str, Path(pattern=r"^[A-Z0-9]{1,10}$")]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
IdAfter = Annotated[int | None, Query(ge=0, description="the next_after of the previous page")]

WRITE_ERRORS = error_responses(400, 404, 409, 412, 422, 429, 503)
READ_ERRORS = error_responses(404, 422)


async def _zone(request: Request) -> ZoneInfo:
    zone: ZoneInfo = request.app.state.zone
    return zone


Zone = Annotated[ZoneInfo, Depends(_zone)]

router = APIRouter()


def _json(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


# accounts

@router.post("/accounts", status_code=201, response_model=Account, tags=["accounts"], responses=WRITE_ERRORS)
def create_account(body: AccountCreate, w: WriterDep, zone: Zone) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_account(conn, body, zone))))


@router.post("/accounts/batch", tags=["accounts"], responses=error_responses(400, 422, 429, 503),
             summary=f"Create up to {batch.MAX_ITEMS} accounts in one transaction, each item answered as "
                     "POST /accounts would answer it")
def create_accounts(body: batch.BatchRequest, t: batch.TransactionsDep, zone: Zone) -> Response:
    items = [batch.prepare(raw, method="POST", path=lambda _: "/accounts", model=AccountCreate)
             for raw in body.items]

    def create(conn: Any, item: BatchWrite[AccountCreate]) -> Answer:
        assert item.value is not None
        return Answer(status=201, body=_json(repo.create_account(conn, item.value, zone)))

    return batch.answer(t.write_batch(items, create))


@router.get("/accounts", response_model=Page[Account], tags=["accounts"], responses=READ_ERRORS)
def list_accounts(r: ReaderDep, zone: Zone, after: IdAfter = None, limit: Limit = 100,
                  crm_customer_number: Annotated[str | None, Query(pattern=r"^C-[0-9]{6,}$")] = None,
                  active: bool | None = None) -> Response:
    return r.run(lambda conn: _json(repo.list_accounts(
        conn, after=after, limit=limit, crm_customer_number=crm_customer_number, active=active, zone=zone)))


@router.get("/accounts/by-customer/{crm_customer_number}", response_model=Account, tags=["accounts"],
            responses=READ_ERRORS, summary="The account of a CRM customer number")
def get_account_by_customer(crm_customer_number: Annotated[str, Path(pattern=r"^C-[0-9]{6,}$")], r: ReaderDep,
                            zone: Zone) -> Response:
    return r.run(lambda conn: _json(repo.get_account_by_customer(conn, crm_customer_number, zone)))


@router.get("/accounts/{account_id}", response_model=Account, tags=["accounts"], responses=READ_ERRORS)
def get_account(account_id: int, r: ReaderDep, zone: Zone) -> Response:
    return r.run(lambda conn: _json(repo.get_account(conn, account_id, zone)))


@router.patch("/accounts/{account_id}", response_model=Account, tags=["accounts"], responses=WRITE_ERRORS)
def patch_account(account_id: int, body: AccountPatch, w: WriterDep, zone: Zone) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_account(conn, account_id, body, expected, zone))))


@router.delete("/accounts/{account_id}", response_model=Account, tags=["accounts"], responses=WRITE_ERRORS,
               summary="Deactivate the account (active false); ERP accounts are never deleted")
def deactivate_account(account_id: int, w: WriterDep, zone: Zone) -> Response:
    expected = w.precondition()
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.deactivate_account(conn, account_id, expected, zone))))


# products

@router.post("/products", status_code=201, response_model=Product, tags=["products"], responses=WRITE_ERRORS)
def create_product(body: ProductCreate, w: WriterDep) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_product(conn, body))))


@router.get("/products", response_model=Page[Product], tags=["products"], responses=READ_ERRORS)
def list_products(r: ReaderDep, after: Annotated[str | None, Query()] = None, limit: Limit = 100) -> Response:
    return r.run(lambda conn: _json(repo.list_products(conn, after=after, limit=limit)))


@router.get("/products/{sku}", response_model=Product, tags=["products"], responses=READ_ERRORS)
def get_product(sku: SkuPath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_product(conn, sku)))


@router.patch("/products/{sku}", response_model=Product, tags=["products"], responses=WRITE_ERRORS)
def patch_product(sku: SkuPath, body: ProductPatch, w: WriterDep) -> Response:
    expected = w.precondition()
    return w.run(lambda conn: Answer(status=200, body=_json(repo.patch_product(conn, sku, body, expected))))


# warehouses

@router.post("/warehouses", status_code=201, response_model=Warehouse, tags=["warehouses"],
             responses=WRITE_ERRORS)
def create_warehouse(body: WarehouseCreate, w: WriterDep) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_warehouse(conn, body))))


@router.get("/warehouses", response_model=Page[Warehouse], tags=["warehouses"], responses=READ_ERRORS)
def list_warehouses(r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.list_warehouses(conn)))


@router.get("/warehouses/{code}", response_model=Warehouse, tags=["warehouses"], responses=READ_ERRORS)
def get_warehouse(code: WarehousePath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_warehouse(conn, code)))


@router.patch("/warehouses/{code}", response_model=Warehouse, tags=["warehouses"], responses=WRITE_ERRORS)
def patch_warehouse(code: WarehousePath, body: WarehousePatch, w: WriterDep) -> Response:
    expected = w.precondition()
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_warehouse(conn, code, body, expected))))


# stock

@router.get("/stock", response_model=Page[Stock], tags=["stock"], responses=READ_ERRORS)
def list_stock(r: ReaderDep, sku: Annotated[str | None, Query()] = None,
               warehouse_code: Annotated[str | None, Query()] = None,
               after: Annotated[str | None, Query(description="<sku>/<warehouse_code> of the last")] = None,
               limit: Limit = 100) -> Response:
    return r.run(lambda conn: _json(repo.list_stock(conn, sku=sku, warehouse_code=warehouse_code, after=after,
                                                    limit=limit)))


@router.get("/stock/{sku}/{warehouse_code}", response_model=Stock, tags=["stock"], responses=READ_ERRORS)
def get_stock(sku: SkuPath, warehouse_code: WarehousePath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_stock(conn, sku, warehouse_code)))


@router.put("/stock/{sku}/{warehouse_code}", response_model=Stock, tags=["stock"],
            responses={201: {"description": "created", "model": Stock}, **WRITE_ERRORS},
            summary="Set on-hand stock (a stock count); reserved is moved by orders only")
def put_stock(sku: SkuPath, warehouse_code: WarehousePath, body: StockPut, w: WriterDep) -> Response:
    expected = w.precondition(body.version)

    def put(conn: Any) -> Answer:
        created, stock = repo.put_stock(conn, sku, warehouse_code, body, expected)
        return Answer(status=201 if created else 200, body=_json(stock))

    return w.run(put)


@router.post("/stock/{sku}/{warehouse_code}/receipts", response_model=Stock, tags=["stock"],
             responses=WRITE_ERRORS, summary="Receive goods: on-hand grows by the quantity")
def receive_stock(sku: SkuPath, warehouse_code: WarehousePath, body: StockReceipt, w: WriterDep) -> Response:
    expected = w.precondition()
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.receive_stock(conn, sku, warehouse_code, body, expected))))


# sales orders

@router.post("/orders", status_code=201, response_model=Order, tags=["sales orders"], responses=WRITE_ERRORS,
             summary="Create an order and reserve its stock in one transaction (409 naming the SKU if short)")
def create_order(body: OrderCreate, w: WriterDep, zone: Zone) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_order(conn, body, zone))))


@router.post("/orders/{order_id}/lines", response_model=Order, tags=["sales orders"], responses=WRITE_ERRORS,
             summary="Add lines to a reserved order and reserve their stock (an order bigger than one call)")
def add_order_lines(order_id: int, body: OrderLinesAdd, w: WriterDep, zone: Zone) -> Response:
    return w.run(lambda conn: Answer(status=200, body=_json(repo.add_order_lines(conn, order_id, body, zone))))


@router.get("/orders", response_model=Page[Order], tags=["sales orders"], responses=READ_ERRORS)
def list_orders(r: ReaderDep, zone: Zone, after: IdAfter = None, limit: Limit = 100,
                account_id: Annotated[int | None, Query(ge=1)] = None, status: OrderStatus | None = None,
                crm_order_number: Annotated[str | None, Query()] = None) -> Response:
    return r.run(lambda conn: _json(repo.list_orders(
        conn, account_id=account_id, status=status, crm_order_number=crm_order_number, after=after,
        limit=limit, zone=zone)))


@router.get("/orders/{order_id}", response_model=Order, tags=["sales orders"], responses=READ_ERRORS)
def get_order(order_id: int, r: ReaderDep, zone: Zone) -> Response:
    return r.run(lambda conn: _json(repo.get_order(conn, order_id, zone)))


@router.put("/orders/{order_id}", response_model=Order, tags=["sales orders"], responses=WRITE_ERRORS,
            summary="Replace a reserved order's lines and dates, its stock reserved again (409 once it is past "
                    "reserved, or when the stock is short)")
def replace_order(order_id: int, body: OrderReplace, w: WriterDep, zone: Zone) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.replace_order(conn, order_id, body, expected, zone))))


@router.patch("/orders/{order_id}", response_model=Order, tags=["sales orders"], responses=WRITE_ERRORS,
              summary="Move the order along reserved -> shipped -> invoiced -> paid (or cancel it)")
def patch_order(order_id: int, body: OrderPatch, w: WriterDep, zone: Zone) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_order(conn, order_id, body, expected, zone))))


# invoices and payments

@router.get("/invoices", response_model=Page[Invoice], tags=["invoices"], responses=READ_ERRORS)
def list_invoices(r: ReaderDep, zone: Zone, after: IdAfter = None, limit: Limit = 100,
                  account_id: Annotated[int | None, Query(ge=1)] = None,
                  order_id: Annotated[int | None, Query(ge=1)] = None,
                  status: Annotated[str | None, Query(pattern="^(open|paid)$")] = None) -> Response:
    return r.run(lambda conn: _json(repo.list_invoices(
        conn, account_id=account_id, order_id=order_id, status=status, after=after, limit=limit, zone=zone)))


@router.get("/invoices/{invoice_id}", response_model=Invoice, tags=["invoices"], responses=READ_ERRORS)
def get_invoice(invoice_id: int, r: ReaderDep, zone: Zone) -> Response:
    return r.run(lambda conn: _json(repo.get_invoice(conn, invoice_id, zone)))


@router.post("/payments", status_code=201, response_model=Payment, tags=["payments"], responses=WRITE_ERRORS,
             summary="Record a payment; the one that settles the invoice marks the order paid")
def create_payment(body: PaymentCreate, w: WriterDep, zone: Zone) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_payment(conn, body, zone))))


@router.get("/payments", response_model=Page[Payment], tags=["payments"], responses=READ_ERRORS)
def list_payments(r: ReaderDep, zone: Zone, after: IdAfter = None, limit: Limit = 100,
                  account_id: Annotated[int | None, Query(ge=1)] = None,
                  invoice_id: Annotated[int | None, Query(ge=1)] = None) -> Response:
    return r.run(lambda conn: _json(repo.list_payments(
        conn, account_id=account_id, invoice_id=invoice_id, after=after, limit=limit, zone=zone)))


@router.get("/payments/{payment_id}", response_model=Payment, tags=["payments"], responses=READ_ERRORS)
def get_payment(payment_id: int, r: ReaderDep, zone: Zone) -> Response:
    return r.run(lambda conn: _json(repo.get_payment(conn, payment_id, zone)))


def _ping(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")


def create_app(config: ErpConfig) -> FastAPI:
    """Apply schema.sql to the configured database, then build the app over a connection pool."""
    database.apply_schema(config.app.db)
    pool = database.new_pool(config.app.db)
    transactions: Transactions[Any] = Transactions(pool, database.MariaDbDialect())
    app = new_app(title="Reference ERP", description=DESCRIPTION, transactions=transactions, ping=_ping)
    app.state.zone = config.time_zone
    app.include_router(router)
    return app
