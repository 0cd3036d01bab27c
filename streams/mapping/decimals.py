"""Decimals to a scale, for the mapping steps that give a field its decimals (``decimal:``, ``parse_json``, the
compiled mappings): one rounding rule, one way to keep every digit a NUMERIC holds, and one way to refuse what
no decimal field holds: a PostgreSQL NUMERIC's NaN and infinities. Under the connector's ``decimal.handling.mode:
precise`` Debezium sends those as null (with a WARN in Connect's log only); under ``string`` as text, which
:func:`from_text` refuses naming it, as :func:`quantize` refuses a ``Decimal`` NaN."""

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

from streams.mapping.exceptions import MappingValueError, NotANumber

ROUNDING = {"exact": "", "half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP, "down": ROUND_DOWN,
            "up": ROUND_UP, "floor": ROUND_FLOOR, "ceiling": ROUND_CEILING}


#: NaN and the infinities as Debezium writes a NUMERIC's under ``decimal.handling.mode: string`` (its
#: SpecialValueDecimal's names); PostgreSQL's own spellings (NaN, Infinity, -Infinity) ``Decimal`` reads as such.
_SPECIAL = frozenset({"NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY"})


def not_a_number(value: object, *, where: str = "", column: str | None = None) -> NotANumber:
    """The error of a NaN or an infinity (``value`` as it came: text, or a ``Decimal``) where a decimal is wanted;
    ``where``: the binding (``<file>:<line> <field>``), ``column``: the column it read, when one."""
    shown = str(value) if isinstance(value, Decimal) else value
    at = f"{where} (column {column}): " if where and column else f"{where}: " if where else ""
    return NotANumber(
        f"{at}{shown!r} is NaN or an infinity, which no decimal field holds (a PostgreSQL NUMERIC's 'NaN', 'Infinity' "
        "or '-Infinity'; Debezium sends them as text, NAN, POSITIVE_INFINITY and NEGATIVE_INFINITY, under the "
        "connector's decimal.handling.mode: string); fix: set the row's value to a number or NULL in the source, and "
        f"keep such values out with a CHECK constraint, e.g. CHECK ({column or '<column>'} NOT IN ('NaN', 'Infinity', "
        "'-Infinity')) (mappings/README.md, \"Values a change does not carry\")", value)


def from_text(value: str) -> Decimal:
    """Decimal text (a NUMERIC as Debezium sends it under ``decimal.handling.mode: string``) as a ``Decimal``; NaN
    or an infinity, in Debezium's spelling or PostgreSQL's, raises :class:`NotANumber`, other text that is no
    number :class:`MappingValueError`."""
    if value.strip().upper() in _SPECIAL:
        raise not_a_number(value)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise MappingValueError(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise not_a_number(value)
    return number


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
    is kept: whether they fit the field's precision is the writer's to say, naming the field. NaN or an infinity
    raises :class:`NotANumber` (``quantize`` keeps a NaN as it is, and NaN != NaN made it "more than N decimals")."""
    if not value.is_finite():
        raise not_a_number(value)
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
