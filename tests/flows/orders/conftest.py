"""Fixtures of the order-to-cash tests: the flow over the repository's mappings and schemas under LocalRun."""

from __future__ import annotations

import pytest
from order_events import Cdc
from order_harness import Harness, orders_flow_file
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.orders import document_flow
from streams.mapping import RecordMapping, load_mappings


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


@pytest.fixture(scope="session")
def mappings(schemas: SchemaStore) -> dict[str, RecordMapping]:
    return load_mappings(schemas=schemas.schemas)


@pytest.fixture
def harness(schemas: SchemaStore, mappings: dict[str, RecordMapping]) -> Harness:
    flow = document_flow(orders_flow_file(), schemas=schemas, mappings=mappings,
                         systems=reference_systems("Asia/Shanghai"))
    return Harness(flow, schemas)


@pytest.fixture
def cdc() -> Cdc:
    return Cdc()
