"""Which source tables become which canonical documents, on which canonical topic, through which mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.systems import Systems


@dataclass(frozen=True, kw_only=True)
class Document:
    """One source table published as canonical records: ``table`` of ``system`` through
    ``mappings/<mapping>.yaml`` (its source ``source``) to ``<prefix>.<name>`` as Avro ``schema``."""

    system: str
    table: str
    mapping: str
    source: str
    name: str
    schema: str

    def cdc_topic(self, systems: Systems) -> str:
        """The change-event topic of the table, as its system's file names it."""
        return systems[self.system].topic(self.table)


DOCUMENTS: tuple[Document, ...] = (
    Document(system="crm", table="sales_orders", mapping="sales_order", source="crm_sales_orders",
             name="orders", schema="isthmus.canonical.SalesOrder"),
    Document(system="erp", table="sales_orders", mapping="erp_sales_order", source="erp_sales_orders",
             name="erp-orders", schema="isthmus.canonical.ErpSalesOrder"),
    Document(system="erp", table="sales_order_lines", mapping="erp_sales_order_line",
             source="erp_sales_order_lines", name="erp-order-lines", schema="isthmus.canonical.ErpSalesOrderLine"),
    Document(system="erp", table="invoices", mapping="invoice", source="erp_invoices",
             name="invoices", schema="isthmus.canonical.Invoice"),
    Document(system="erp", table="payments", mapping="payment", source="erp_payments",
             name="payments", schema="isthmus.canonical.Payment"),
    Document(system="erp", table="products", mapping="product", source="erp_products",
             name="products", schema="isthmus.canonical.Product"),
    Document(system="erp", table="stock", mapping="stock_level", source="erp_stock",
             name="stock", schema="isthmus.canonical.StockLevel"),
)
