"""What every flow is built with: loaded once per worker, checked at load, shared read-only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.codecs.avro.single_object import SchemaStore
from streams.mapping.loader import MAPPINGS_DIR, load_mappings
from streams.mapping.spec import RecordMapping
from streams.stack.settings import StackSettings


@dataclass(frozen=True, kw_only=True)
class FlowContext:
    settings: StackSettings
    schemas: SchemaStore
    mappings: dict[str, RecordMapping]  # by file stem of mappings/*.yaml

    @classmethod
    def load(cls, settings: StackSettings, env: Mapping[str, str] | None = None) -> FlowContext:
        """Schemas and mappings (``ISTHMUS_MAPPINGS_DIR`` overrides mappings/); a mapping with an error raises
        MappingLoadError naming file, line and field."""
        env = os.environ if env is None else env
        directory = Path(env["ISTHMUS_MAPPINGS_DIR"]) if env.get("ISTHMUS_MAPPINGS_DIR") else MAPPINGS_DIR
        return cls(settings=settings, schemas=SchemaStore.from_directory(), mappings=load_mappings(directory))
