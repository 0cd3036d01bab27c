"""Fixtures of the customer flow tests: the flow over the repository's mappings and schemas, run with
LocalRun, and a model of both systems that applies its commands and returns their echoes."""

from __future__ import annotations

import pytest
from customer_harness import SETTLED_AT, Harness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.customers import CustomerFlow
from streams.mapping import RecordMapping, load_mappings


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


@pytest.fixture(scope="session")
def mappings(schemas: SchemaStore) -> dict[str, RecordMapping]:
    return load_mappings(schemas=schemas.schemas)


@pytest.fixture
def harness(mappings: dict[str, RecordMapping], schemas: SchemaStore) -> Harness:
    return Harness(flow=CustomerFlow(mappings=mappings, schemas=schemas, systems=reference_systems(),
                                          clock=lambda: SETTLED_AT), schemas=schemas)
