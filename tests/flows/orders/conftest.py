"""Fixtures of the order-to-cash tests: the flow over the repository's mappings and schemas under LocalRun."""

from __future__ import annotations

import pytest
from order_events import Cdc
from order_harness import Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.orders import OrdersFlow
from streams.flows.orders.mapper import Mapper
from streams.mapping import RecordMapping, load_mappings


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


@pytest.fixture(scope="session")
def mappings(schemas: SchemaStore) -> dict[str, RecordMapping]:
    return load_mappings(schemas=schemas.schemas)


@pytest.fixture
def harness(schemas: SchemaStore, mappings: dict[str, RecordMapping]) -> Harness:
    mapper = Mapper(mappings, schemas.schemas.named, reference_systems("Asia/Shanghai"))
    return Harness(OrdersFlow(schemas=schemas, mapper=mapper), schemas)


@pytest.fixture
def cdc() -> Cdc:
    return Cdc()
