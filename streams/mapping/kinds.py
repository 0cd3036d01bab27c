"""What kind of value a column, a transform or an Avro field holds, so a mapping is type-checked at load."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only the type: streams.catalog reads its files with this package's YAML reader
    from streams.catalog.model import Column

#: Each SQL type a columns file names (``isthmus mappings discover``: PostgreSQL's ``information_schema`` spelling, or
#: a ``USER-DEFINED`` type's own name; MariaDB/MySQL's ``data_type``), as the kind of value Debezium sends for it
#: with the shipped connectors' settings (connect-configs/README.md, "Types to expect"). A type missing here is
#: ``any``, unchecked, and ``isthmus mappings validate`` warns of each column of it that a mapping reads.
_SQL: dict[str, str] = {
    "TEXT": "string", "VARCHAR": "string", "CHAR": "string", "CHARACTER": "string",
    "CHARACTER VARYING": "string", "LONGTEXT": "string", "MEDIUMTEXT": "string", "ENUM": "string",
    "TINYTEXT": "string", "UUID": "string",
    # Text as Debezium sends it: JSON as its text (io.debezium.data.Json), a MariaDB SET as its values joined by
    # commas, PostgreSQL's network addresses, ranges, XML, CITEXT, LTREE, TSVECTOR and HSTORE (hstore.handling.mode
    # json, the default) as their text forms.
    "JSON": "string", "JSONB": "string", "XML": "string", "SET": "string", "CITEXT": "string", "LTREE": "string",
    "HSTORE": "string", "TSVECTOR": "string", "INET": "string", "CIDR": "string", "MACADDR": "string",
    "MACADDR8": "string", "INT4RANGE": "string", "INT8RANGE": "string", "NUMRANGE": "string", "TSRANGE": "string",
    "TSTZRANGE": "string", "DATERANGE": "string",
    "BIGINT": "int", "INT": "int", "INTEGER": "int", "SMALLINT": "int", "MEDIUMINT": "int", "TINYINT": "int",
    "BIGSERIAL": "int", "SERIAL": "int", "SMALLSERIAL": "int", "INT2": "int", "INT4": "int", "INT8": "int",
    "OID": "int",
    # MariaDB/MySQL YEAR as the year's number (io.debezium.time.Year).
    "YEAR": "int",
    # A PostgreSQL INTERVAL in microseconds (io.debezium.time.MicroDuration, interval.handling.mode numeric, the
    # default), a month counted as 30.4375 days: '1 mon 2 days' is 2802600000000.
    "INTERVAL": "int",
    "BOOLEAN": "bool", "BOOL": "bool",
    # PostgreSQL MONEY like a NUMERIC of scale 2 (decimal.handling.mode precise, money.fraction.digits 2).
    "NUMERIC": "decimal", "DECIMAL": "decimal", "MONEY": "decimal",
    "REAL": "float", "DOUBLE": "float", "DOUBLE PRECISION": "float", "FLOAT": "float",
    "TIMESTAMPTZ": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp",
    # MariaDB/MySQL TIMESTAMP is stored in UTC; PostgreSQL's zone-less one is spelled WITHOUT TIME ZONE.
    "TIMESTAMP": "timestamp",
    "DATETIME": "local_timestamp", "TIMESTAMP WITHOUT TIME ZONE": "local_timestamp",
    "DATE": "date", "TIME": "time", "TIME WITHOUT TIME ZONE": "time", "TIME WITH TIME ZONE": "time",
    "BYTEA": "bytes", "BLOB": "bytes", "TINYBLOB": "bytes", "MEDIUMBLOB": "bytes", "LONGBLOB": "bytes",
    "BINARY": "bytes", "VARBINARY": "bytes",
    # BIT(1) is a boolean; a longer BIT, and BIT VARYING, its bits as bytes (io.debezium.data.Bits): from_column.
    "BIT": "bytes", "BIT VARYING": "bytes",
    # Points and geometries as a struct: PostgreSQL POINT {x, y}; PostGIS and MariaDB geometries {wkb, srid}.
    "POINT": "record", "GEOMETRY": "record", "GEOGRAPHY": "record", "LINESTRING": "record", "POLYGON": "record",
    "MULTIPOINT": "record", "MULTILINESTRING": "record", "MULTIPOLYGON": "record", "GEOMETRYCOLLECTION": "record",
    # A PostgreSQL array (information_schema spells every one ARRAY): it fills an Avro array, never a text.
    "ARRAY": "array",
}

#: What a value of these types is as it arrives, where that is not what the type's name suggests: said with a
#: binding the kind refuses (``payment_terms: zahlungsziel`` of an INTERVAL into a text field).
ARRIVES_AS: dict[str, str] = {
    "INTERVAL": "microseconds, Debezium's MicroDuration, a month counted as 30.4375 days ('1 mon 2 days' is "
                "2802600000000): `compute: \"round(decimal(<column>) / 86400000000)\"` gives whole days",
    "YEAR": "the year's number",
    "BIT": "bytes (Debezium's Bits, little-endian), a BIT(1) as a boolean",
    "BIT VARYING": "bytes (Debezium's Bits, little-endian)",
    "MONEY": "a decimal of scale 2 (decimal.handling.mode precise)",
    **{t: "a struct: {x, y} for a PostgreSQL POINT, {wkb, srid} for a geometry" for t in (
        "POINT", "GEOMETRY", "GEOGRAPHY", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
        "GEOMETRYCOLLECTION")},
}

#: How a float becomes exact, for the hints of the checks that refuse one where a decimal is expected.
FLOAT_TO_DECIMAL = ("make it a decimal first: a float column (DOUBLE, REAL, FLOAT) with "
                    "`compute: \"decimal(<column>)\"`, which takes the float's shortest text "
                    "(0.1 + 0.2 becomes 0.30000000000000004), and a division in decimals with `decimal(a) / b` "
                    "(`/` of two integers gives a float)")


def known(sql_type: str) -> bool:
    """Whether :func:`from_column` knows the kind of ``sql_type``'s values (else they are ``any``, unchecked)."""
    return sql_type in _SQL


#: The scale of a decimal that can have any number of decimals: a division's (1/3 is 0.333…) until it is rounded,
#: or a PostgreSQL NUMERIC column's declared without a scale.
ANY_SCALE = sys.maxsize

#: The precision of a decimal that can have any number of digits: a PostgreSQL NUMERIC declared without arguments.
ANY_PRECISION = sys.maxsize

#: The bits of the signed integer each integer type's values are (and Debezium sends them as): a BIGINT (PostgreSQL's
#: int8) up to 9223372036854775807 needs an Avro long, not an int. PostgreSQL's OID is unsigned 32 bits; an INTERVAL's
#: microseconds a long.
SIGNED_BITS = {"TINYINT": 8, "SMALLINT": 16, "INT2": 16, "SMALLSERIAL": 16, "MEDIUMINT": 24, "INT": 32,
               "INTEGER": 32, "INT4": 32, "SERIAL": 32, "OID": 33, "BIGINT": 64, "INT8": 64, "BIGSERIAL": 64,
               "INTERVAL": 64}

#: The bits of a signed integer that hold every value of an UNSIGNED MariaDB/MySQL integer column (its largest
#: value needs one bit more than the type's width): an INT UNSIGNED (up to 4294967295) needs an Avro long, a BIGINT
#: UNSIGNED (up to 18446744073709551615) fits no Avro integer.
UNSIGNED_BITS = {"TINYINT": 9, "SMALLINT": 17, "MEDIUMINT": 25, "INT": 33, "INTEGER": 33, "BIGINT": 65}

#: The bits of Avro's integers.
AVRO_BITS = {"int": 32, "long": 64}


@dataclass(frozen=True)
class Kind:
    """A value's kind: ``base`` (string, int, bool, decimal, float, timestamp, local_timestamp, date, time,
    bytes, record, array, map, any), a decimal's scale (at most that many decimals; :data:`ANY_SCALE`: any
    number; None: not known) and precision (at most that many digits; :data:`ANY_PRECISION`: any number; None:
    not known), the values a string may take, and nullability. An integer's ``bits``: those of the signed integer
    that holds every value (an Avro field: 32 for ``int``, 64 for ``long``; a source: its column type's,
    :data:`SIGNED_BITS`, or an UNSIGNED column's, :data:`UNSIGNED_BITS`); None where not known (a literal, a
    length, a value cast with ``int``), which is taken to fit its field.

    ``members``: a MariaDB/MySQL SET column's, in declared order. Its value is not one of them but any combination,
    joined by commas in that order (``bar,karte``; ``''`` for none): :func:`set_values`. ``symbols`` is then None,
    and what checks a string's values checks every combination instead."""

    base: str
    nullable: bool = True
    scale: int | None = None
    symbols: frozenset[str] | None = None
    record: str | None = None
    precision: int | None = None
    bits: int | None = None
    members: tuple[str, ...] | None = None

    def but(self, **changes: Any) -> Kind:
        return replace(self, **changes)

    def __str__(self) -> str:
        text = self.base
        if self.base == "decimal" and self.scale is not None:
            text = "decimal(any scale)" if self.scale == ANY_SCALE else f"decimal(scale {self.scale})"
        if self.base == "local_timestamp":
            text = "zone-less local timestamp"
        if self.record:
            text = f"{self.base} {self.record}"
        if self.symbols is not None:
            text += " of " + ", ".join(sorted(self.symbols))
        if self.members is not None:
            text += " of comma-joined combinations of " + ", ".join(self.members)
        return ("nullable " if self.nullable else "") + text


ANY = Kind("any")


def scale_text(scale: int) -> str:
    """``scale 2``, or what :data:`ANY_SCALE` means, for messages."""
    if scale != ANY_SCALE:
        return f"scale {scale}"
    return "any number of decimals (as a division gives, 1/3 is 0.333…, or a NUMERIC column declared without scale)"


def set_values(members: tuple[str, ...]) -> Iterator[str]:
    """Every value a SET of ``members`` can hold, fewest members first: ``''``, each member, each pair joined by a
    comma in declared order (the order MariaDB/MySQL store and send them in), and so on."""
    for count in range(len(members) + 1):
        for chosen in itertools.combinations(members, count):
            yield ",".join(chosen)


def set_values_outside(members: tuple[str, ...], allowed: frozenset[str] | set[str], most: int = 3) -> list[str]:
    """Up to ``most`` values of a SET of ``members`` that ``allowed`` does not hold (none when it holds all)."""
    return list(itertools.islice((value for value in set_values(members) if value not in allowed), most))


def set_problem(members: tuple[str, ...], missing: list[str]) -> str:
    """What a SET's values are, with ``missing`` as the examples of those not covered, for messages."""
    return (f"a SET value is any combination of {', '.join(members)} joined by commas ('' when none), e.g. "
            f"{', '.join(repr(value) for value in missing)}")


def from_column(column: Column, engine: str) -> Kind:
    """The kind of a column as its system's catalog (``systems/<name>.columns.yaml``, whose ``engine`` is
    ``engine``) describes it."""
    base = _SQL.get(column.sql_type, "any")
    if column.sql_type == "TINYINT" and column.args == ("1",):
        base = "bool"  # MariaDB/MySQL's BOOLEAN is TINYINT(1)
    if column.sql_type == "BIT" and column.args in ((), ("1",)):
        base = "bool"  # a single bit arrives as a boolean
    if column.sql_type == "MONEY":
        # ±92233720368547758.07: 19 digits, 2 after the point
        return Kind(base, nullable=column.nullable, scale=2, precision=19)
    if column.sql_type == "SET":
        return Kind(base, nullable=column.nullable, members=column.allowed)
    symbols = frozenset(column.allowed) if column.allowed is not None else None
    if base != "decimal":
        bits = (UNSIGNED_BITS if column.unsigned else SIGNED_BITS).get(column.sql_type) if base == "int" else None
        return Kind(base, nullable=column.nullable, symbols=symbols, bits=bits)
    precision, scale = _decimal_size(column.args, engine)
    return Kind(base, nullable=column.nullable, scale=scale, precision=precision)


def _decimal_size(args: tuple[str, ...], engine: str) -> tuple[int, int]:
    """A NUMERIC/DECIMAL column's (precision, scale). Without arguments PostgreSQL's holds any number of digits
    and decimals, MariaDB/MySQL's is DECIMAL(10,0); one argument is the precision, with scale 0."""
    if not args:
        return (ANY_PRECISION, ANY_SCALE) if engine == "postgresql" else (10, 0)
    return int(args[0]), int(args[1]) if len(args) > 1 else 0


def from_avro(schema: Any, named: dict[str, Any]) -> Kind:
    """The kind an Avro field type accepts (``named`` resolves references to named types)."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        inner = from_avro(branches[0], named) if len(branches) == 1 else ANY
        return inner.but(nullable="null" in schema)
    if isinstance(schema, str):
        if schema in named:
            return from_avro(named[schema], named)
        return Kind({"string": "string", "int": "int", "long": "int", "boolean": "bool", "float": "float",
                     "double": "float", "bytes": "bytes", "null": "any"}.get(schema, "any"), nullable=False,
                    bits=AVRO_BITS.get(schema))
    logical = schema.get("logicalType")
    if logical == "decimal":
        precision = schema.get("precision")
        return Kind("decimal", nullable=False, scale=int(schema.get("scale", 0)),
                    precision=None if precision is None else int(precision))
    if logical in ("timestamp-millis", "timestamp-micros"):
        return Kind("timestamp", nullable=False)
    if logical in ("local-timestamp-millis", "local-timestamp-micros"):
        return Kind("local_timestamp", nullable=False)
    if logical == "date":
        return Kind("date", nullable=False)
    if logical in ("time-millis", "time-micros"):
        return Kind("time", nullable=False)
    kind = schema.get("type")
    if kind == "enum":
        return Kind("string", nullable=False, symbols=frozenset(schema["symbols"]), record=schema["name"])
    if kind in ("record", "error"):
        return Kind("record", nullable=False, record=schema["name"])
    if kind in ("array", "map"):
        return Kind(kind, nullable=False)
    return from_avro(kind, named)


#: The time kinds, whose values have a fraction of a second, and the most digits of it they hold (microseconds).
TIMES = ("timestamp", "local_timestamp", "time")
MOST_DIGITS = 6


def column_digits(column: Column, engine: str) -> int | None:
    """The digits of a second's fraction a time column keeps (its fractional-second precision): those its type
    declares, else the engine's default, 0 on MariaDB/MySQL (``DATETIME`` keeps whole seconds), 6 on PostgreSQL
    (whose columns file names a precision only when declared otherwise). None: not a time, or not told."""
    if _SQL.get(column.sql_type) not in TIMES:
        return None
    if not column.args:
        return MOST_DIGITS if engine == "postgresql" else 0
    return int(column.args[0]) if column.args[0].isdigit() else None


def avro_digits(schema: Any, named: dict[str, Any]) -> int | None:
    """The digits of a second's fraction an Avro time field holds: 6 for ``*-micros``, 3 for ``*-millis``; None
    for any other type (a union of null and one type is that type's)."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return avro_digits(branches[0], named) if len(branches) == 1 else None
    if isinstance(schema, str):
        return avro_digits(named[schema], named) if schema in named else None
    logical = str(schema.get("logicalType", ""))
    return MOST_DIGITS if logical.endswith("-micros") else 3 if logical.endswith("-millis") else None


def fits(source: Kind, target: Kind) -> tuple[str, str] | None:
    """None when a value of ``source`` can fill ``target``; else (what is wrong, how to fix it)."""
    if source.nullable and not target.nullable:
        return (f"the value may be null but the field is {target}",
                "add a `default: <value>` transform, or make the field nullable in the schema")
    if source.base == "any" or target.base == "any":
        return None
    if source.base == "local_timestamp" and target.base == "timestamp":
        return ("a zone-less local time cannot fill a UTC timestamp",
                "add the transform `local_to_utc` (zone: the `time_zone` of the source's systems/<name>.yaml, or "
                "`zone: <IANA name>`)")
    if source.base == "timestamp" and target.base == "local_timestamp":
        return ("a UTC timestamp cannot fill a zone-less local time: which zone's wall clock it shows is not said",
                "add the transform `utc_to_local: {zone: <IANA name>}` (a source of a system may leave the zone "
                "out: the `time_zone` of its systems/<name>.yaml)")
    if target.base == "decimal" and source.base in ("decimal", "int"):
        if source.base == "decimal" and source.scale is not None and target.scale is not None \
                and source.scale > target.scale:
            return _lossy_decimal(source, source.scale, target, target.scale)
        return None
    if target.base == "int" and source.base == "decimal":
        if source.scale == 0:  # a whole decimal (e.g. `round(x)`) is written as the integer it is, if it fits
            return _too_many_digits(source.precision, target.bits)
        rounding = "add the transform `decimal: {scale: 0, rounding: half_even}` (or another rounding)"
        if source.precision == ANY_PRECISION and target.bits:
            largest = 2 ** (target.bits - 1) - 1
            return (f"a decimal{_UNBOUNDED} would lose digits in an integer field, and one over {largest} does not "
                    f"fit an Avro {_AVRO_NAME[target.bits]} at all",
                    f"{rounding}; a value over {largest} still goes to the dead letters at run time, so make the "
                    f"field a decimal ({_decimal_field('P', 0)}) if the column's values may be larger, or declare "
                    "the column NUMERIC(p,0) in its database")
        with_scale = "" if source.scale is None else f" with {scale_text(source.scale)}"
        return f"a decimal{with_scale} would lose digits in an integer field", rounding
    if source.base == "float" and target.base in ("decimal", "int"):
        return (f"a float value cannot fill a {target} field: a float is not exact",
                f"{FLOAT_TO_DECIMAL}, then round with the transform "
                f"`decimal: {{scale: {target.scale or 0}, rounding: half_even}}`")
    if source.base == "int" and target.base == "int" and source.bits and target.bits and source.bits > target.bits:
        return _too_wide(source.bits, target.bits)
    if source.base != target.base:
        hint = "add `bool`" if target.base == "bool" and source.base == "int" else (
            "map it with a transform or a computed field")
        return (f"{_a(str(source))} value cannot fill {_a(str(target))} field", hint)
    if target.symbols is not None and source.members is not None:
        missing = set_values_outside(source.members, target.symbols)
        if missing:
            return (f"{set_problem(source.members, missing)}, which {target.record or 'the field'} does not allow",
                    "add a value map (`map:`) that sends every combination to an allowed value (a `default:` for "
                    "those it does not list)")
    if target.symbols is not None and source.symbols is not None and not source.symbols <= target.symbols:
        extra = ", ".join(sorted(source.symbols - target.symbols))
        return (f"the source may hold {extra}, which {target.record or 'the field'} does not allow",
                "add a value map (`map:`) that sends every source value to an allowed one")
    if target.record and source.record and target.record != source.record and target.base == "record":
        return (f"a {source.record} record cannot fill a {target.record} field", "map its fields one by one")
    return None


#: The Avro integer of each of :data:`AVRO_BITS`.
_AVRO_NAME = {bits: name for name, bits in AVRO_BITS.items()}

#: How an integer that may not fit its field is bound anyway where the column's values do fit.
_CAST = ("where the column's values stay within the field's range, bind it with `transform: [int]`, which says so "
         "(a larger value is then dead-lettered, naming it)")


def _decimal_field(precision: int | str, scale: int) -> str:
    return f"`{{type: bytes, logicalType: decimal, precision: {precision}, scale: {scale}}}`"


def _too_many_digits(precision: int | None, field_bits: int | None) -> tuple[str, str] | None:
    """What :func:`fits` says of a whole decimal of ``precision`` digits (a NUMERIC(p)/DECIMAL(p) column, MariaDB's
    bare DECIMAL being DECIMAL(10,0)) into an Avro integer of ``field_bits``; None where every value fits."""
    if precision is None or precision == ANY_PRECISION or not field_bits:
        return None
    largest, most = 10 ** precision - 1, 2 ** (field_bits - 1) - 1
    if largest <= most:
        return None
    fix = ("make the field a `long` in the schema" if largest < 2 ** 63 else
           f"make the field a decimal ({_decimal_field(precision, 0)})")
    return (f"a decimal of {precision} digits (up to {largest}) does not fit an Avro {_AVRO_NAME[field_bits]} (at "
            f"most {most})", f"{fix}, or declare the column with fewer digits if its values allow; {_CAST}")


def _too_wide(bits: int, field_bits: int) -> tuple[str, str]:
    """What :func:`fits` says of a column's integers (``bits``: :data:`SIGNED_BITS`, or an UNSIGNED column's,
    :data:`UNSIGNED_BITS`, whose widths are odd) into an Avro integer of ``field_bits``."""
    unsigned = bits % 2 == 1
    column = next((name + " UNSIGNED" * unsigned for name, b in (UNSIGNED_BITS if unsigned else SIGNED_BITS).items()
                   if b == bits), "integer")
    value = f"{_a(column)} value (up to {2 ** (bits - 1) - 1}) does not fit an Avro {_AVRO_NAME[field_bits]}"
    if bits <= 64:
        return (f"{value} (at most {2 ** (field_bits - 1) - 1})",
                "make the field a `long` in the schema" + ("" if unsigned else f", or, {_CAST}"))
    return (f"{value}, nor any Avro integer (a long holds at most {2 ** 63 - 1})",
            f"make the field a decimal ({_decimal_field(20, 0)}) and set the connector's "
            "`bigint.unsigned.handling.mode: precise` (its default, `long`, sends a value over 9223372036854775807 as "
            "a negative number), or declare the column BIGINT (signed) if its values allow; a field of a shipped "
            "schema stays a long: where the column's values stay below 2**63, bind it with `transform: [int]`, "
            "which says so (a larger value is then dead-lettered, naming it)")


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


_UNBOUNDED = " with any number of digits and decimals (a NUMERIC column declared without precision and scale)"


def _lossy_decimal(source: Kind, source_scale: int, target: Kind, scale: int) -> tuple[str, str]:
    """What :func:`fits` says of a decimal with more decimals (``source_scale``) than its field (``scale``); of a
    column whose precision is unbounded too, that a value with more integer digits than the field cannot be
    written at all."""
    rounding = (f"add the transform `decimal: {{scale: {scale}, rounding: half_even}}` (or another rounding: "
                "half_up, down, up, floor, ceiling)")
    if source.precision != ANY_PRECISION or target.precision is None:
        return f"a decimal with {scale_text(source_scale)} would lose digits in a field of scale {scale}", rounding
    digits = target.precision - scale
    return (f"a decimal{_UNBOUNDED} would lose digits in a field of scale {scale}, and one with more than "
            f"{digits} integer digits does not fit its precision {target.precision} at all",
            f"{rounding}; a value over {digits} integer digits still goes to the dead letters at run time, so declare "
            f"the column NUMERIC({target.precision},{scale}) in its database if its values allow")
