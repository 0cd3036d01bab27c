"""The declarative mapping engine: mapping files (``mappings/*.yaml``) bind source tables to canonical
records, checked at load; the engine maps Debezium changes; ``reconcile`` settles field ownership."""

from streams.mapping.aggregate import Step, fold, totals_of
from streams.mapping.engine import Engine, MappedChange, map_change, map_source, project
from streams.mapping.exceptions import (
    ColumnsMissing,
    ExpressionError,
    LookupMissing,
    MappingError,
    MappingLoadError,
    MappingValueError,
    Problem,
)
from streams.mapping.loader import MAPPINGS_DIR, load_mapping, load_mappings
from streams.mapping.reconcile import Reconciled, Stamp, reconcile, stamps_from_avro, stamps_to_avro
from streams.mapping.spec import FieldPolicy, Policy, RecordMapping, SourceMapping
from streams.mapping.transforms import Context, Lookup

__all__ = [
    "MAPPINGS_DIR", "ColumnsMissing", "Context", "Engine", "ExpressionError", "FieldPolicy", "Lookup",
    "LookupMissing",
    "MappedChange", "MappingError", "MappingLoadError", "MappingValueError", "Policy", "Problem", "Reconciled",
    "RecordMapping", "SourceMapping", "Stamp", "Step", "fold", "load_mapping", "load_mappings", "map_change",
    "map_source",
    "project", "reconcile", "stamps_from_avro", "stamps_to_avro", "totals_of",
]
