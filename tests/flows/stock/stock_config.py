"""The reference stock flow's configuration, as flows/stock.yaml declares it."""

from __future__ import annotations

from collections.abc import Mapping

from streams.codecs.avro.single_object import SchemaStore
from streams.flows.files import FLOWS_DIR, load_flow_files
from streams.flows.stock import NAME, DerivedConfig, read_config
from streams.mapping import RecordMapping, load_mappings
from streams.systems import Systems


def stock_config(schemas: SchemaStore, systems: Systems,
                 mappings: Mapping[str, RecordMapping] | None = None) -> DerivedConfig:
    flow = next(f for f in load_flow_files(FLOWS_DIR) if f.name == NAME)
    found = load_mappings(schemas=schemas.schemas, systems=systems) if mappings is None else mappings
    return read_config(flow, found, systems, schemas.schemas.named)
