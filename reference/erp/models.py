"""The ERP's request and answer bodies (they make its OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from reference.common.models import Strict
from reference.common.types import Money, MoneyIn, PriceIn, Quantity, QuantityIn, StockIn, TimeIn

AccountCode = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,19}$", examples=["AC000123"])]
CustomerNumber = Annotated[str, Field(pattern=r"^C-[0-9]{6,18}$", examples=["C-000123"])]
CrmOrderNumber = Annotated[str, Field(pattern=r"^SO-[0-9]{6,17}$", examples=["SO-000042"])]
OrderNo = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,19}$", examples=["ORD00000042"])]
Sku = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", examples=["SKU-000017"])]
WarehouseCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,10}$", examples=["SH01"])]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)]
Phone = Annotated[str, Field(min_length=3, max_length=50)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["CN"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]
PaymentTerms = Annotated[str, Field(pattern=r"^(NET[0-9]{1,3}|COD|PREPAID)$", examples=["NET30"])]
Uom = Annotated[str, Field(pattern=r"^[A-Z]{1,8}$", examples=["EA"])]
OrderStatus = Literal["reserved", "shipped", "invoiced", "paid", "cancelled"]
Version = Annotated[int, Field(ge=1, description="the version you last read; a mismatch is refused with 412")]



class AccountCreate(Strict):
    account_code: Annotated[AccountCode | None, Field(description="assigned when left out")] = None
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    billing_line1: Name | None = None
    billing_city: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    billing_postal_code: Annotated[str, Field(max_length=20)] | None = None
    billing_country: Country | None = None
    crm_customer_number: CustomerNumber | None = None
    credit_limit: MoneyIn = Decimal("0")
    payment_terms: PaymentTerms = "NET30"
    blocked: bool = False


class AccountPatch(Strict):
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    billing_line1: Name | None = None
    billing_city: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    billing_postal_code: Annotated[str, Field(max_length=20)] | None = None
    billing_country: Country | None = None
    crm_customer_number: CustomerNumber | None = None
    credit_limit: MoneyIn | None = None
    payment_terms: PaymentTerms | None = None
    blocked: bool | None = None
    active: bool | None = None
    version: Version | None = None


class ProductCreate(Strict):
    sku: Sku
    description: Name
    unit_price: PriceIn
    uom: Uom = "EA"


class ProductPatch(Strict):
    description: Name | None = None
    unit_price: PriceIn | None = None
    uom: Uom | None = None


class WarehouseCreate(Strict):
    code: WarehouseCode
    name: Annotated[str, Field(min_length=1, max_length=100)]


class WarehousePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class StockPut(Strict):
    on_hand: StockIn
    version: Version | None = None


class StockReceipt(Strict):
    quantity: QuantityIn


class OrderLineIn(Strict):
    sku: Sku
    quantity: QuantityIn
    unit_price: Annotated[PriceIn | None, Field(description="the product's unit price when left out")] = None
    warehouse_code: Annotated[WarehouseCode | None, Field(
        description="the warehouse with the most available stock when left out")] = None


#: The most lines one call takes (a create, or an add of lines); a bigger order is created, then added to.
MAX_LINES_PER_CALL = 200


class OrderCreate(Strict):
    order_no: Annotated[OrderNo | None, Field(description="assigned when left out")] = None
    account_id: Annotated[int, Field(ge=1)]
    crm_order_number: CrmOrderNumber | None = None
    order_date: Annotated[TimeIn | None, Field(description="now when left out")] = None
    currency: Currency = "CNY"
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES_PER_CALL)]


class OrderLinesAdd(Strict):
    """More lines for a reserved order: how a document bigger than one call (``MAX_LINES_PER_CALL``) arrives."""

    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES_PER_CALL)]


class OrderReplace(Strict):
    """An order's content as its origin has it now: its lines replace the order's (numbered from 1, stock reserved
    again), and the header fields given replace the order's. Only while the order takes edits (``reserved``)."""

    order_date: Annotated[TimeIn | None, Field(description="kept when left out")] = None
    currency: Annotated[Currency | None, Field(description="kept when left out")] = None
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES_PER_CALL)]
    version: Version | None = None


class OrderPatch(Strict):
    status: Annotated[OrderStatus | None, Field(
        description="reserved -> shipped (creates a shipment) -> invoiced (an invoice) -> paid (a payment); "
                    "reserved -> cancelled releases the stock")] = None
    at: Annotated[TimeIn | None, Field(description="when the status changed; now when left out")] = None
    carrier: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    tracking_no: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    crm_order_number: CrmOrderNumber | None = None
    version: Version | None = None


class PaymentCreate(Strict):
    invoice_id: Annotated[int, Field(ge=1)]
    amount: Annotated[MoneyIn, Field(gt=0)]
    paid_at: Annotated[TimeIn | None, Field(description="now when left out")] = None


class Account(BaseModel):
    account_id: int
    account_code: str
    name: str
    email: str | None
    phone: str | None
    billing_line1: str | None
    billing_city: str | None
    billing_postal_code: str | None
    billing_country: str | None
    crm_customer_number: str | None
    credit_limit: Money
    payment_terms: str
    blocked: bool
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class Product(BaseModel):
    sku: str
    description: str
    unit_price: Money
    uom: str


class Warehouse(BaseModel):
    code: str
    name: str


class Stock(BaseModel):
    sku: str
    warehouse_code: str
    on_hand: Quantity
    reserved: Quantity
    available: Quantity
    version: int


class OrderLine(BaseModel):
    line_no: int
    sku: str
    warehouse_code: str
    quantity: Quantity
    unit_price: Money


class Shipment(BaseModel):
    shipment_id: int
    order_id: int
    shipped_at: datetime
    carrier: str
    tracking_no: str | None


class Invoice(BaseModel):
    invoice_id: int
    invoice_no: str
    order_id: int
    account_id: int
    amount: Money
    paid_amount: Money
    issued_at: datetime
    due_date: date
    status: Literal["open", "paid"]


class Payment(BaseModel):
    payment_id: int
    invoice_id: int
    account_id: int
    amount: Money
    paid_at: datetime


class Order(BaseModel):
    order_id: int
    order_no: str
    account_id: int
    crm_order_number: str | None
    status: OrderStatus
    order_date: datetime
    currency: str
    total_amount: Money
    version: int
    updated_at: datetime
    lines: list[OrderLine]
    shipments: list[Shipment]
    invoices: list[Invoice]

