"""Fixtures of the stock flow tests: the flow over the repository's mapping under LocalRun."""

from __future__ import annotations

import pytest
from stock_config import stock_config
from stock_harness import StockHarness
from support.systems import reference_systems

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.stock import StockFlow


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore.from_directory()


@pytest.fixture
def flow(schemas: SchemaStore) -> StockHarness:
    systems = reference_systems("Asia/Shanghai")
    return StockHarness(StockFlow(schemas=schemas, config=stock_config(schemas, systems), systems=systems), schemas)
