"""What every flow is built with: loaded once per worker, checked at load, shared read-only."""

from __future__ import annotations

from dataclasses import dataclass

from streams.codecs.avro.single_object import SchemaStore
from streams.mapping.loader import load_mappings
from streams.mapping.spec import RecordMapping
from streams.stack.settings import StackSettings


@dataclass(frozen=True, kw_only=True)
class FlowContext:
    settings: StackSettings
    schemas: SchemaStore
    mappings: dict[str, RecordMapping]  # by file stem of mappings/*.yaml

    @classmethod
    def load(cls, settings: StackSettings) -> FlowContext:
        """Schemas and mappings; a mapping with an error raises MappingLoadError naming file, line and field."""
        return cls(settings=settings, schemas=SchemaStore.from_directory(), mappings=load_mappings())
