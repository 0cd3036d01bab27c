"""The CRM's HTTP API: routes only; the SQL is in ``repository``, the shared parts in ``reference.common``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import BaseModel
from starlette.responses import Response

from reference.common import batch
from reference.common.app import new_app
from reference.common.errors import error_responses
from reference.common.models import Page
from reference.common.transactions import Answer, BatchWrite, ReaderDep, Transactions, WriterDep
from reference.crm import database
from reference.crm import repository as repo
from reference.crm.config import CrmConfig
from reference.crm.models import (
    Address,
    AddressIn,
    AddressKind,
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
    OrderPatch,
    OrderStatus,
    Product,
    ProductCreate,
    ProductPatch,
)

DESCRIPTION = """The reference CRM, one of the two systems Isthmus integrates.

Every write (POST, PUT, PATCH, DELETE) takes an `Idempotency-Key` header: a repeat returns the first answer
(status and body, with `Idempotency-Key-Status: replayed`) without writing again, and the same key with a
different body is refused with 422. A write without the header is applied and answered with
`Idempotency-Key-Status: absent`. Every resource carries `version` and `ETag: "<version>"`; a write with an
`If-Match` or `version` that is not current is refused with 412 naming the current version. Money is a
string with two decimals. Errors are `{"error", "field", "fix"}`.
"""

_CUSTOMER_NUMBER = re.compile(r"C-[0-9]{6,}")
CustomerNumberPath = Annotated[str, Path(pattern=r"^C-[0-9]{6,}$", examples=["C-000123"])]
OrderNumberPath = Annotated[str, Path(pattern=r"^SO-[0-9]{6,}$", examples=["SO-000042"])]
SkuPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
After = Annotated[str | None, Query(description="the next_after of the previous page")]

WRITE_ERRORS = error_responses(400, 404, 409, 412, 422, 429, 503)
READ_ERRORS = error_responses(404, 422)

router = APIRouter()


def _json(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


# customers

@router.post("/customers", status_code=201, response_model=Customer, tags=["customers"],
             responses=WRITE_ERRORS, summary="Create a customer, with its contacts and addresses")
def create_customer(body: CustomerCreate, w: WriterDep) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_customer(conn, body))))


@router.get("/customers", response_model=Page[CustomerSummary], tags=["customers"], responses=READ_ERRORS)
def list_customers(r: ReaderDep, after: After = None, limit: Limit = 100,
                   erp_account_id: Annotated[int | None, Query(ge=1)] = None) -> Response:
    return r.run(lambda conn: _json(repo.list_customers(conn, after=after, limit=limit,
                                                        erp_account_id=erp_account_id)))


@router.get("/customers/{customer_number}", response_model=Customer, tags=["customers"],
            responses=READ_ERRORS)
def get_customer(customer_number: CustomerNumberPath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.render_customer(conn, repo.customer_row(conn, customer_number))))


@router.patch("/customers/batch", tags=["customers"], responses=error_responses(400, 422, 429, 503),
              summary=f"Patch up to {batch.MAX_ITEMS} customers in one transaction; each item holds its "
                      "customer_number and is answered as PATCH /customers/{customer_number} would answer it")
def patch_customers(body: batch.BatchRequest, t: batch.TransactionsDep) -> Response:
    def path(fields: dict[str, Any]) -> str:
        number = batch.path_field(fields, "customer_number", _CUSTOMER_NUMBER, "C-000123")
        return f"/customers/{number}"

    items = [batch.prepare(raw, method="PATCH", path=path, model=CustomerPatch) for raw in body.items]

    def patch(conn: Any, item: BatchWrite[CustomerPatch]) -> Answer:
        assert item.value is not None
        number = item.request.path.rpartition("/")[2]
        expected = item.request.precondition(item.value.version)
        return Answer(status=200, body=_json(repo.patch_customer(conn, number, item.value, expected)))

    return batch.answer(t.write_batch(items, patch))


@router.patch("/customers/{customer_number}", response_model=Customer, tags=["customers"],
              responses=WRITE_ERRORS, summary="Change CRM fields or the ERP-owned mirror fields")
def patch_customer(customer_number: CustomerNumberPath, body: CustomerPatch, w: WriterDep) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_customer(conn, customer_number, body, expected))))


@router.delete("/customers/{customer_number}", status_code=204, tags=["customers"], responses=WRITE_ERRORS,
               summary="Delete a customer without orders; its contacts and addresses go with it")
def delete_customer(customer_number: CustomerNumberPath, w: WriterDep) -> Response:
    expected = w.precondition()

    def delete(conn: Any) -> Answer:
        repo.delete_customer(conn, customer_number, expected)
        return Answer(status=204, body=None)

    return w.run(delete)


# contacts

@router.post("/customers/{customer_number}/contacts", status_code=201, response_model=Contact,
             tags=["contacts"], responses=WRITE_ERRORS)
def create_contact(customer_number: CustomerNumberPath, body: ContactIn, w: WriterDep) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(
        repo.create_contact(conn, customer_number, body))))


@router.get("/customers/{customer_number}/contacts", response_model=Page[Contact], tags=["contacts"],
            responses=READ_ERRORS)
def list_contacts(customer_number: CustomerNumberPath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.list_contacts(conn, customer_number)))


@router.get("/customers/{customer_number}/contacts/{contact_id}", response_model=Contact, tags=["contacts"],
            responses=READ_ERRORS)
def get_contact(customer_number: CustomerNumberPath, contact_id: int, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_contact(conn, customer_number, contact_id)))


@router.patch("/customers/{customer_number}/contacts/{contact_id}", response_model=Contact, tags=["contacts"],
              responses=WRITE_ERRORS)
def patch_contact(customer_number: CustomerNumberPath, contact_id: int, body: ContactPatch,
                  w: WriterDep) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_contact(conn, customer_number, contact_id, body, expected))))


@router.delete("/customers/{customer_number}/contacts/{contact_id}", status_code=204, tags=["contacts"],
               responses=WRITE_ERRORS)
def delete_contact(customer_number: CustomerNumberPath, contact_id: int, w: WriterDep) -> Response:
    expected = w.precondition()

    def delete(conn: Any) -> Answer:
        repo.delete_contact(conn, customer_number, contact_id, expected)
        return Answer(status=204, body=None)

    return w.run(delete)


# addresses

@router.get("/customers/{customer_number}/addresses", response_model=Page[Address], tags=["addresses"],
            responses=READ_ERRORS)
def list_addresses(customer_number: CustomerNumberPath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.list_addresses(conn, customer_number)))


@router.get("/customers/{customer_number}/addresses/{kind}", response_model=Address, tags=["addresses"],
            responses=READ_ERRORS)
def get_address(customer_number: CustomerNumberPath, kind: AddressKind, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_address(conn, customer_number, kind)))


@router.put("/customers/{customer_number}/addresses/{kind}", response_model=Address, tags=["addresses"],
            responses={201: {"description": "created", "model": Address}, **WRITE_ERRORS},
            summary="Create (201) or replace (200) the billing or shipping address")
def put_address(customer_number: CustomerNumberPath, kind: AddressKind, body: AddressIn,
                w: WriterDep) -> Response:
    expected = w.precondition(body.version)

    def put(conn: Any) -> Answer:
        created, address = repo.put_address(conn, customer_number, kind, body, expected)
        return Answer(status=201 if created else 200, body=_json(address))

    return w.run(put)


@router.patch("/customers/{customer_number}/addresses/{kind}", response_model=Address, tags=["addresses"],
              responses=WRITE_ERRORS)
def patch_address(customer_number: CustomerNumberPath, kind: AddressKind, body: AddressPatch,
                  w: WriterDep) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_address(conn, customer_number, kind, body, expected))))


@router.delete("/customers/{customer_number}/addresses/{kind}", status_code=204, tags=["addresses"],
               responses=WRITE_ERRORS)
def delete_address(customer_number: CustomerNumberPath, kind: AddressKind, w: WriterDep) -> Response:
    expected = w.precondition()

    def delete(conn: Any) -> Answer:
        repo.delete_address(conn, customer_number, kind, expected)
        return Answer(status=204, body=None)

    return w.run(delete)


# products

@router.post("/products", status_code=201, response_model=Product, tags=["products"], responses=WRITE_ERRORS)
def create_product(body: ProductCreate, w: WriterDep) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_product(conn, body))))


@router.get("/products", response_model=Page[Product], tags=["products"], responses=READ_ERRORS)
def list_products(r: ReaderDep, after: After = None, limit: Limit = 100) -> Response:
    return r.run(lambda conn: _json(repo.list_products(conn, after=after, limit=limit)))


@router.get("/products/{sku}", response_model=Product, tags=["products"], responses=READ_ERRORS)
def get_product(sku: SkuPath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_product(conn, sku)))


@router.patch("/products/{sku}", response_model=Product, tags=["products"], responses=WRITE_ERRORS,
              summary="Change a product, including available_qty (written by Isthmus from ERP stock)")
def patch_product(sku: SkuPath, body: ProductPatch, w: WriterDep) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(repo.patch_product(conn, sku, body, expected))))


# sales orders

@router.post("/orders", status_code=201, response_model=Order, tags=["sales orders"], responses=WRITE_ERRORS,
             summary="Create a sales order with its lines, in one transaction")
def create_order(body: OrderCreate, w: WriterDep) -> Response:
    return w.run(lambda conn: Answer(status=201, body=_json(repo.create_order(conn, body))))


@router.get("/orders", response_model=Page[Order], tags=["sales orders"], responses=READ_ERRORS)
def list_orders(r: ReaderDep, after: After = None, limit: Limit = 100,
                customer_number: Annotated[str | None, Query(pattern=r"^C-[0-9]{6,}$")] = None,
                status: OrderStatus | None = None) -> Response:
    return r.run(lambda conn: _json(repo.list_orders(conn, customer_number=customer_number, status=status,
                                                     after=after, limit=limit)))


@router.get("/orders/{order_number}", response_model=Order, tags=["sales orders"], responses=READ_ERRORS)
def get_order(order_number: OrderNumberPath, r: ReaderDep) -> Response:
    return r.run(lambda conn: _json(repo.get_order(conn, order_number)))


@router.patch("/orders/{order_number}", response_model=Order, tags=["sales orders"], responses=WRITE_ERRORS,
              summary="Change an order's status, ERP order id or currency")
def patch_order(order_number: OrderNumberPath, body: OrderPatch, w: WriterDep) -> Response:
    expected = w.precondition(body.version)
    return w.run(lambda conn: Answer(status=200, body=_json(
        repo.patch_order(conn, order_number, body, expected))))


def _ping(conn: Any) -> None:
    conn.execute("SELECT 1")


def create_app(config: CrmConfig) -> FastAPI:
    """Apply schema.sql to the configured schema, then build the app over a connection pool."""
    database.apply_schema(config.app.db, config.schema)
    pool = database.new_pool(config.app.db, config.schema)
    transactions: Transactions[database.Connection] = Transactions(pool, database.PostgresDialect())
    app = new_app(title="Reference CRM", description=DESCRIPTION, transactions=transactions, ping=_ping)
    app.include_router(router)
    return app
