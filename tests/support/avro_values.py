"""Random values of a fastavro-parsed schema (seeded), for tests that run every schema of ``schemas/`` through a
writer or a check: nulls and values in every ``["null", X]`` union, fields with a default left out, decimals at
and below the schema's scale and negative, UTC times before and after the epoch, dates, non-ASCII and long strings,
large and negative longs, empty and filled arrays and maps."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

TEXTS = ["", "a", "Zhang Wei", "张伟 GmbH & Co. KG", "Müller-Lüdenscheidt", "x" * 63, "é" * 40, "ü" * 300,
         "emoji 🚚 line"]


class AvroValues:
    """Random values of a parsed schema's nodes. A decimal has up to ``precision`` digits as written, fastavro's
    rule (a whole ``1234567890123`` in a ``decimal(14,2)``); with ``within_precision``, at most ``precision -
    scale`` of them before the point, the Avro specification's."""

    def __init__(self, named: dict[str, Any], rng: random.Random, *, within_precision: bool = False) -> None:
        self.named = named
        self.rng = rng
        self.within_precision = within_precision

    def of(self, schema: Any, depth: int = 0) -> Any:
        rng = self.rng
        if isinstance(schema, list):
            return None if rng.random() < 0.35 else self.of(schema[1], depth)
        if isinstance(schema, str):
            if schema in self.named:
                return self.of(self.named[schema], depth)
            return self.primitive(schema)
        kind, logical = schema["type"], schema.get("logicalType")
        if logical == "decimal":
            return self.decimal(schema["precision"], schema.get("scale", 0))
        if logical in ("timestamp-micros", "timestamp-millis"):
            return dt.datetime(1960, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                microseconds=rng.randint(0, 3_000_000_000_000_000))
        if logical == "date":
            return dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 40_000))
        if kind in ("record", "error"):
            value = {}
            for field in schema["fields"]:
                if "default" in field and rng.random() < 0.2:
                    continue  # left out: the default is written
                value[field["name"]] = self.of(field["type"], depth + 1)
            return value
        if kind == "enum":
            return rng.choice(schema["symbols"])
        if kind == "array":
            return [self.of(schema["items"], depth + 1) for _ in range(rng.randint(0, 3 if depth < 3 else 0))]
        if kind == "map":
            return {rng.choice(TEXTS) + str(n): self.of(schema["values"], depth + 1)
                    for n in range(rng.randint(0, 3 if depth < 3 else 0))}
        return self.primitive(kind)

    def decimal(self, precision: int, scale: int) -> Decimal:
        rng = self.rng
        digits = rng.randint(1, precision)
        places = rng.randint(0, scale)  # fewer places than the scale are padded by both writers
        if self.within_precision:
            digits = min(digits, precision - scale + places)
        unscaled = rng.randint(-(10 ** digits - 1), 10 ** digits - 1)
        return Decimal(unscaled).scaleb(-places) if digits > places else Decimal(unscaled).scaleb(-scale)

    def primitive(self, kind: str) -> Any:
        rng = self.rng
        if kind == "string":
            return rng.choice(TEXTS)
        if kind == "long":
            return rng.choice([0, 1, -1, 63, 64, -65, 2 ** 31, -(2 ** 40) - 3, 2 ** 63 - 1, -(2 ** 63),
                               rng.randint(-(2 ** 62), 2 ** 62)])
        if kind == "int":
            return rng.choice([0, 1, -1, 63, 64, 2 ** 31 - 1, -(2 ** 31), rng.randint(-10 ** 6, 10 ** 6)])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "bytes":
            return bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 70])))
        if kind in ("float", "double"):
            return rng.uniform(-1e6, 1e6)
        if kind == "null":
            return None
        raise AssertionError(f"no generator for {kind}")
