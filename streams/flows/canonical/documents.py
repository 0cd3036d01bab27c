"""Which source tables become which canonical documents, on which canonical topic, through which mapping."""

from __future__ import annotations

from dataclasses import dataclass

from streams.flows import topics


@dataclass(frozen=True, kw_only=True)
class Document:
    """One source table published as canonical records: ``cdc_topic`` through ``mappings/<mapping>.yaml``
    (its source ``source``) to ``<prefix>.<name>`` as Avro ``schema``."""

    cdc_topic: str
    system: str
    mapping: str
    source: str
    name: str
    schema: str


DOCUMENTS: tuple[Document, ...] = (
    Document(cdc_topic=topics.CRM_SALES_ORDERS, system="crm", mapping="sales_order", source="crm_sales_orders",
             name="orders", schema="isthmus.canonical.SalesOrder"),
    Document(cdc_topic=topics.ERP_SALES_ORDERS, system="erp", mapping="erp_sales_order", source="erp_sales_orders",
             name="erp-orders", schema="isthmus.canonical.ErpSalesOrder"),
    Document(cdc_topic=topics.ERP_SALES_ORDER_LINES, system="erp", mapping="erp_sales_order_line",
             source="erp_sales_order_lines", name="erp-order-lines", schema="isthmus.canonical.ErpSalesOrderLine"),
    Document(cdc_topic=topics.ERP_INVOICES, system="erp", mapping="invoice", source="erp_invoices",
             name="invoices", schema="isthmus.canonical.Invoice"),
    Document(cdc_topic=topics.ERP_PAYMENTS, system="erp", mapping="payment", source="erp_payments",
             name="payments", schema="isthmus.canonical.Payment"),
    Document(cdc_topic=topics.ERP_PRODUCTS, system="erp", mapping="product", source="erp_products",
             name="products", schema="isthmus.canonical.Product"),
    Document(cdc_topic=topics.ERP_STOCK, system="erp", mapping="stock_level", source="erp_stock",
             name="stock", schema="isthmus.canonical.StockLevel"),
)
BY_CDC_TOPIC: dict[str, Document] = {d.cdc_topic: d for d in DOCUMENTS}
