"""Decimals to a scale, for the mapping steps that give a field its decimals (``decimal:``, ``parse_json``, the
compiled mappings): one rounding rule and one way to keep every digit a NUMERIC holds."""

from __future__ import annotations

import decimal
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
)

from streams.mapping.exceptions import MappingValueError

ROUNDING = {"exact": "", "half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP, "down": ROUND_DOWN,
            "up": ROUND_UP, "floor": ROUND_FLOOR, "ceiling": ROUND_CEILING}


def _quantized(value: Decimal, scale: int, rounding: str | None) -> Decimal:
    """``value.quantize`` to ``scale`` decimals, exactly however many digits it takes: Python's default context
    keeps 28, and a NUMERIC (or a ``decimal(38, 10)`` field) holds more, so 123456789012345678901234.5 with 10
    decimals (34 digits) raised ``InvalidOperation``. The wider context is made only then (the rare case)."""
    exponent = Decimal(1).scaleb(-scale)
    try:
        return value.quantize(exponent, rounding=rounding)
    except InvalidOperation:
        if not value.is_finite():
            raise
        digits = max(value.adjusted(), 0) + 1 + max(scale, 0)
        return value.quantize(exponent, rounding=rounding, context=decimal.Context(prec=digits + 1))


def quantize(value: Decimal, scale: int, rounding: str = "exact") -> Decimal:
    """``value`` with exactly ``scale`` decimals; ``exact`` refuses to drop a non-zero digit. Any number of digits
    is kept: whether they fit the field's precision is the writer's to say, naming the field."""
    try:
        if rounding == "exact":
            result = _quantized(value, scale, None)
            if result != value:
                raise MappingValueError(f"{value} has more than {scale} decimals; map it with "
                                        f"`decimal: {{scale: {scale}, rounding: half_even}}`")
            return result
        return _quantized(value, scale, ROUNDING[rounding])
    except InvalidOperation as exc:
        raise MappingValueError(f"{value} does not fit scale {scale}") from exc
