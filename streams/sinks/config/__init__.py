"""Target files (``targets/<system>.yaml``): the declarative description of how a sink applies commands."""

from streams.sinks.config.loader import load_target, target_path
from streams.sinks.config.model import (
    AuthSpec,
    BatchSpec,
    Constant,
    EachItem,
    FieldSpec,
    FromField,
    HttpOptions,
    HttpRoute,
    LookupSpec,
    SqlOptions,
    SqlRoute,
    TargetConfig,
)

__all__ = [
    "AuthSpec", "BatchSpec", "Constant", "EachItem", "FieldSpec", "FromField", "HttpOptions", "HttpRoute",
    "LookupSpec", "SqlOptions", "SqlRoute", "TargetConfig", "load_target", "target_path",
]
