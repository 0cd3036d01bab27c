"""A flow's input topics are named by the systems' files, not by the table name or a fixed prefix."""

from __future__ import annotations

import pytest
from support.systems import reference_with, system

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.canonical import CanonicalFlow
from streams.flows.customers import CustomerFlow
from streams.flows.files import FLOWS_DIR, load_flow_files
from streams.flows.orders import document_flow
from streams.flows.stock import StockFlow, read_config
from streams.flows.topics import cdc_topic, transaction_topic
from streams.mapping import load_mappings
from streams.systems import Systems, UnknownSystem


def _renamed() -> Systems:
    """The reference pair captured under other connector prefixes and schema names."""
    return reference_with(system("crm", prefix="sales", namespace="public", writable=True),
                          system("erp", prefix="ledger", namespace="prod_db", writable=True))


def test_cdc_and_transaction_topics_follow_the_declared_prefix_and_namespace() -> None:
    systems = reference_with(system("shop", prefix="web", namespace="shopdb"))
    assert cdc_topic("shop", "orders", systems) == "web.shopdb.orders"
    assert transaction_topic("shop", systems) == "web.transaction"
    assert cdc_topic("crm", "customers", systems) == "crm.crm.customers"
    with pytest.raises(UnknownSystem, match="crm, erp, shop"):
        cdc_topic("billing", "x", systems)


def test_flows_read_the_topics_their_systems_declare() -> None:
    systems = _renamed()
    schemas = SchemaStore.from_directory()
    mappings = load_mappings(schemas=schemas.schemas, systems=systems)
    customers = CustomerFlow(mappings=mappings, schemas=schemas, systems=systems)
    assert customers.tables == {"sales.public.customers": ("crm", "customers"),
                                "sales.public.contacts": ("crm", "contacts"),
                                "sales.public.addresses": ("crm", "addresses"),
                                "ledger.prod_db.accounts": ("erp", "accounts")}
    stock_file = next(f for f in load_flow_files(FLOWS_DIR) if f.block == "derived")
    config = read_config(stock_file, mappings, systems, schemas.schemas.named)
    stock = StockFlow(schemas=schemas, config=config, systems=systems).spec()
    assert stock.inputs == ("ledger.prod_db.stock", "sales.public.products", "ledger.transaction")
    canonical = CanonicalFlow(schemas=schemas, mappings=mappings, systems=systems).spec()
    assert "ledger.prod_db.invoices" in canonical.inputs and "sales.public.sales_orders" in canonical.inputs
    assert not any(t.startswith(("crm.", "erp.")) for t in canonical.inputs)
    (orders_file,) = [f for f in load_flow_files(FLOWS_DIR, env={}) if f.block == "document"]
    orders = document_flow(orders_file, schemas=schemas, mappings=mappings, systems=systems)
    assert orders.spec().inputs[0] == "sales.transaction"
    assert orders.topics.joined == ("public.sales_orders", "public.sales_order_lines")
