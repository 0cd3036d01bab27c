"""What every flow is built with: loaded once per worker, checked at load, shared read-only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from streams.codecs.avro.single_object import SchemaStore
from streams.mapping.loader import load_mappings, mappings_dir
from streams.mapping.spec import RecordMapping
from streams.systems import Systems, load_systems


@dataclass(frozen=True, kw_only=True)
class FlowContext:
    schemas: SchemaStore
    mappings: dict[str, RecordMapping]  # by file stem of mappings/*.yaml
    #: The declared systems (systems/*.yaml): each one's topics, time zone and whether it takes commands.
    systems: Systems

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> FlowContext:
        """Systems (``ISTHMUS_SYSTEMS_DIR`` overrides systems/), schemas and mappings (``ISTHMUS_MAPPINGS_DIR``
        overrides mappings/); a system or mapping file with an error raises SystemConfigError or
        MappingLoadError naming file, line and field. A system's zone read from the environment (the
        reference ERP's ``ISTHMUS_ERP_TIME_ZONE``) is read from ``env``."""
        env = os.environ if env is None else env
        directory = mappings_dir(env)
        systems = load_systems(env=env)
        return cls(schemas=SchemaStore.from_directory(), systems=systems,
                   mappings=load_mappings(directory, systems=systems))
