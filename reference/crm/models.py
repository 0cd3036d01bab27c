"""The CRM's request and answer bodies (they make its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from reference.common.models import Strict
from reference.common.types import (
    Money,
    MoneyIn,
    PriceIn,
    Quantity,
    QuantityIn,
    SignedMoneyIn,
    StockIn,
    TimeIn,
)

CustomerNumber = Annotated[str, Field(pattern=r"^C-[0-9]{6,}$", examples=["C-000123"])]
OrderNumber = Annotated[str, Field(pattern=r"^SO-[0-9]{6,}$", examples=["SO-000042"])]
Sku = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", examples=["SKU-000017"])]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200,
                             examples=["li.wei@example.cn"])]
Phone = Annotated[str, Field(min_length=3, max_length=50)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["CN"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]
PaymentTerms = Annotated[str, Field(pattern=r"^(NET[0-9]{1,3}|COD|PREPAID)$", examples=["NET30"])]
AddressKind = Literal["billing", "shipping"]
#: on_hold: submitted, held by the integration because the customer's ERP account is blocked.
OrderStatus = Literal["draft", "submitted", "on_hold", "reserved", "shipped", "invoiced", "paid", "cancelled"]
Version = Annotated[int, Field(ge=1, description="the version you last read; a mismatch is refused with 412")]



class CrmRequest(Strict):
    """A CRM request body: its text goes to PostgreSQL, which refuses a NUL character in text, so a NUL is
    refused here, naming its field, rather than by the database without one."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text may not contain a NUL character (\\u0000; PostgreSQL cannot store it); "
                             "remove it from the value")
        return value


class ContactIn(CrmRequest):
    first_name: Name
    last_name: Name
    email: Email | None = None
    phone: Phone | None = None
    role: Annotated[str, Field(max_length=50)] | None = None


class ContactPatch(CrmRequest):
    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    role: Annotated[str, Field(max_length=50)] | None = None
    version: Version | None = None


class AddressIn(CrmRequest):
    line1: Name
    line2: Name | None = None
    city: Name
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    country: Country
    version: Version | None = None


class AddressWithKind(CrmRequest):
    kind: AddressKind
    line1: Name
    line2: Name | None = None
    city: Name
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    country: Country


class AddressPatch(CrmRequest):
    line1: Name | None = None
    line2: Name | None = None
    city: Name | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    country: Country | None = None
    version: Version | None = None


class CustomerCreate(CrmRequest):
    customer_number: Annotated[CustomerNumber | None, Field(description="assigned when left out")] = None
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    contacts: Annotated[list[ContactIn], Field(default_factory=list, max_length=50)]
    addresses: Annotated[list[AddressWithKind], Field(default_factory=list, max_length=2)]
    erp_account_id: Annotated[int, Field(ge=1)] | None = None
    credit_limit: MoneyIn | None = None
    payment_terms: PaymentTerms | None = None
    blocked: bool = False
    open_balance: SignedMoneyIn = Decimal("0")

    @model_validator(mode="after")
    def _one_address_per_kind(self) -> CustomerCreate:
        kinds = [a.kind for a in self.addresses]
        if len(kinds) != len(set(kinds)):
            raise ValueError("two addresses of one kind; send at most one billing and one shipping address")
        return self


class CustomerPatch(CrmRequest):
    """CRM-owned fields and the ERP-owned mirror fields (erp_account_id, credit_limit, payment_terms, blocked,
    open_balance) that Isthmus writes back."""

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    erp_account_id: Annotated[int, Field(ge=1)] | None = None
    credit_limit: MoneyIn | None = None
    payment_terms: PaymentTerms | None = None
    blocked: bool | None = None
    open_balance: SignedMoneyIn | None = None
    version: Version | None = None


class ProductCreate(CrmRequest):
    sku: Sku
    name: Name
    list_price: PriceIn
    available_qty: StockIn = Decimal("0")


class ProductPatch(CrmRequest):
    name: Name | None = None
    list_price: PriceIn | None = None
    available_qty: StockIn | None = None
    version: Version | None = None


class OrderLineIn(CrmRequest):
    sku: Sku
    quantity: QuantityIn
    unit_price: Annotated[PriceIn | None, Field(description="the product's list price when left out")] = None


class OrderCreate(CrmRequest):
    order_number: Annotated[OrderNumber | None, Field(description="assigned by the CRM when left out")] = None
    customer_number: CustomerNumber
    status: Literal["draft", "submitted"] = "submitted"
    currency: Currency = "CNY"
    ordered_at: Annotated[TimeIn | None, Field(description="now when left out")] = None
    erp_order_id: Annotated[int, Field(ge=1)] | None = None
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=200)]


class OrderPatch(CrmRequest):
    status: OrderStatus | None = None
    erp_order_id: Annotated[int, Field(ge=1)] | None = None
    currency: Currency | None = None
    version: Version | None = None


class Contact(BaseModel):
    id: int
    customer_number: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    role: str | None
    version: int
    updated_at: datetime


class Address(BaseModel):
    id: int
    customer_number: str
    kind: AddressKind
    line1: str
    line2: str | None
    city: str
    postal_code: str | None
    country: str
    version: int
    updated_at: datetime


class CustomerSummary(BaseModel):
    customer_number: str
    id: int
    name: str
    email: str | None
    phone: str | None
    erp_account_id: int | None
    credit_limit: Money | None
    payment_terms: str | None
    blocked: bool
    open_balance: Money
    version: int
    created_at: datetime
    updated_at: datetime


class Customer(CustomerSummary):
    contacts: list[Contact]
    addresses: list[Address]


class Product(BaseModel):
    sku: str
    name: str
    list_price: Money
    available_qty: Quantity
    version: int
    updated_at: datetime


class OrderLine(BaseModel):
    line_no: int
    sku: str
    quantity: Quantity
    unit_price: Money


class Order(BaseModel):
    order_number: str
    id: int
    customer_number: str
    status: OrderStatus
    currency: str
    total_amount: Money
    erp_order_id: int | None
    ordered_at: datetime
    version: int
    updated_at: datetime
    lines: list[OrderLine]

