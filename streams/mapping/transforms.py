"""The transforms a mapping file can chain on a value, each checked at load (arguments and kinds).

A step in YAML is a name (``trim``) or a one-key mapping (``strip_prefix: "C-"``,
``local_to_utc: {zone: Asia/Shanghai}``). Built-ins are in :data:`BUILTINS`; a user's own transform is a
plugin (see :mod:`streams.mapping.plugins`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import (
    Decimal,
)
from typing import TYPE_CHECKING, Any, Protocol

from streams.codecs.avro.schemas import SchemaSet
from streams.codecs.exceptions import CodecError, UnknownSchema
from streams.codecs.local_time import Ambiguous, Nonexistent, local_to_utc, utc_to_local, zone
from streams.mapping.decimals import ROUNDING, from_text, quantize
from streams.mapping.exceptions import LookupMissing, MappingValueError, NotANumber
from streams.mapping.json_text import json_path, parse_json_text, value_at
from streams.mapping.kinds import (
    ANY,
    FLOAT_TO_DECIMAL,
    MOST_DIGITS,
    Kind,
    from_avro,
    scale_text,
    set_problem,
    set_values_outside,
)
from streams.mapping.local_times import DEFAULT as DEFAULT_LOCAL_TIMES
from streams.mapping.local_times import LocalTimeNote, LocalTimePolicy, Occurrence, resolve

if TYPE_CHECKING:  # streams.systems reads its files with this package's YAML reader
    from streams.systems import Systems


class Lookup(Protocol):
    """The cross-reference the flows provide: the record of ``record`` whose field ``by`` equals ``key``."""

    def __call__(self, record: str, by: str, key: Any) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a mapping needs at run time besides the row: the zone of each system's zone-less times (by system
    name, from ``systems/<name>.yaml``), the cross-reference, and the system whose row is being mapped (set by
    the engine for each source, :meth:`reading`)."""

    time_zones: Mapping[str, str] = field(default_factory=dict)
    lookup: Lookup | None = None
    system: str | None = None
    #: Where ``local_to_utc`` notes each repeated or skipped local time it resolved (None: not noted); a flow
    #: gives a fresh list per record and puts what it holds into the record's lineage.
    notes: list[LocalTimeNote] | None = None
    #: This context reading each system, made once (mapping a change asks for it per source and per image).
    _readings: dict[str | None, Context] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, systems: Systems, lookup: Lookup | None = None) -> Context:
        """The zones the declared systems give."""
        return cls(time_zones={name: spec.time_zone for name, spec in systems.items()}, lookup=lookup)

    def reading(self, system: str | None) -> Context:
        """This context while a row of ``system`` is mapped (None: a canonical record)."""
        if system == self.system:
            return self
        found = self._readings.get(system)
        if found is None:
            found = self._readings[system] = replace(self, system=system)
        return found

    @property
    def time_zone(self) -> str:
        """The zone of the zone-less times of the row being mapped: its system's ``time_zone``."""
        if self.system is None:
            raise MappingValueError("a canonical record has no zone-less local times to convert; give the "
                                    "transform a `zone: <IANA name>`")
        try:
            return self.time_zones[self.system]
        except KeyError:
            raise MappingValueError(f"no time zone for system {self.system!r} in the mapping's context (known: "
                                    f"{', '.join(sorted(self.time_zones)) or 'none'}); build the context from "
                                    "the declared systems (Context.of)") from None


@dataclass(frozen=True, kw_only=True)
class StepInput:
    """A value on its way through the chain, with the row it came from (plugins may read other columns)."""

    row: Mapping[str, Any]
    context: Context


class ArgumentProblem(ValueError):
    """A transform's arguments or input kind are wrong; ``fix`` says what to write instead."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


@dataclass(frozen=True, kw_only=True)
class Environment:
    """What compiling a step may consult: the Avro schemas, the file's value maps and its plugins."""

    schemas: SchemaSet
    value_maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    plugins: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    #: The file's ``local_times:`` policy (None: not declared; ``local_to_utc`` then takes the default).
    local_times: LocalTimePolicy | None = None


class Step(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, value: Any, given: StepInput) -> Any: ...

    def out(self, kind: Kind) -> Kind: ...


def _expect_text(kind: Kind, name: str) -> None:
    if kind.base not in ("string", "any"):
        raise ArgumentProblem(f"{name} works on text, the value is {kind}",
                              f"remove {name}, or convert first with `string`")


@dataclass(frozen=True)
class TextStep:
    name: str
    function: Callable[[str], Any]
    keeps_null: bool = True

    def apply(self, value: Any, given: StepInput) -> Any:
        return None if value is None else self.function(str(value))

    def out(self, kind: Kind) -> Kind:
        _expect_text(kind, self.name)
        if self.name == "null_if_empty":
            return kind.but(nullable=True, symbols=None, members=None)
        return kind.but(symbols=None, members=None)


@dataclass(frozen=True)
class CharStep:
    """How a ``CHAR(n)`` column keeps text: its trailing spaces dropped, as MariaDB and MySQL return it (``length``
    None), then padded with spaces to ``length``, as PostgreSQL's ``character(n)`` reports it (to Debezium too).
    Derived from a columns file, never written in a mapping (``rstrip`` is the transform)."""

    length: int | None = None
    name: str = "char"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        kept = str(value).rstrip(" ")
        return kept if self.length is None else kept.ljust(self.length)

    def out(self, kind: Kind) -> Kind:
        _expect_text(kind, self.name)
        return kind.but(symbols=None, members=None)


@dataclass(frozen=True)
class BoolStep:
    name: str = "bool"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise MappingValueError(f"bool expects 0, 1, true or false, got {value!r}")

    def out(self, kind: Kind) -> Kind:
        if kind.base not in ("int", "bool", "any"):
            raise ArgumentProblem(f"bool works on 0/1 integers, the value is {kind}", "remove `bool`")
        return kind.but(base="bool", symbols=None)


@dataclass(frozen=True)
class CastStep:
    name: str
    base: str

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        try:
            return str(value) if self.base == "string" else int(value)
        except (TypeError, ValueError) as exc:
            raise MappingValueError(f"{self.name}: cannot convert {value!r}") from exc

    def out(self, kind: Kind) -> Kind:
        return Kind(self.base, nullable=kind.nullable)


@dataclass(frozen=True)
class ParseJsonStep:
    """JSON text (a JSON or TEXT column, which Debezium delivers as text) into a value of the field it fills,
    shaped by the field's Avro type (:mod:`streams.mapping.json_text`): a target's JSON column of a list of records
    mapped back, so the echo of a write is recognised. With ``path`` (``parse_json: {path: given_name}``, compiled at
    load) the value at that path in the document instead, null where it has none. The loader sets the field's type
    and the named types."""

    name: str = "parse_json"
    avro_type: Any = None
    named: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: The target field it fills (set by the loader), named in errors.
    field: str = ""
    #: The keys and list indexes of ``path:`` (empty: the whole document).
    path: tuple[str | int, ...] = ()

    def apply(self, value: Any, given: StepInput) -> Any:
        if self.path:
            return value_at(value, self.path, self.avro_type, self.named)
        return parse_json_text(value, self.avro_type, self.named, self.field or self.name)

    def out(self, kind: Kind) -> Kind:
        if kind.base not in ("string", "bytes", "any"):
            raise ArgumentProblem(f"parse_json reads JSON text, the value is {kind}", "remove `parse_json`")
        return ANY.but(nullable=kind.nullable or bool(self.path))  # a document may leave the path out


def _parse_json(args: Any, env: Environment) -> Step:
    """``parse_json`` (the whole document), or ``parse_json: {path: <keys by dots, [n] for a list's item>}``."""
    if args is None:
        return ParseJsonStep()
    example = "write `parse_json: {path: given_name}` (or `items[0].sku`), or `parse_json` for the whole document"
    options = _options(args, "parse_json", {"path"})
    text = options.get("path")
    if not isinstance(text, str):
        raise ArgumentProblem("parse_json takes the `path` of the value to read in the document", example)
    try:
        return ParseJsonStep(path=json_path(text))
    except ValueError as exc:
        raise ArgumentProblem(f"parse_json path: {exc}", example) from exc


@dataclass(frozen=True)
class ReplaceStep:
    """``replace: {pattern: <Python regular expression>, with: <text>}``: every match in a text replaced (``with``
    may name the pattern's groups, ``\\1``; left out: the matches removed), as a system that normalises text keeps it
    (a phone in E.164, ``+49 30 0000125`` as ``+49300000125``; an IBAN without spaces)."""

    pattern: re.Pattern[str]
    replacement: str
    name: str = "replace"

    def apply(self, value: Any, given: StepInput) -> Any:
        return None if value is None else self.pattern.sub(self.replacement, str(value))

    def out(self, kind: Kind) -> Kind:
        _expect_text(kind, self.name)
        return kind.but(symbols=None, members=None)


def _replace(args: Any, env: Environment) -> Step:
    """The pattern and its replacement, both checked here: a pattern Python's ``re`` refuses, or a ``with`` naming
    a group the pattern lacks, is refused at load, never at the first value."""
    example = "write `replace: {pattern: '\\s+', with: ''}` (single quotes keep the backslashes as written)"
    options = _options(args, "replace", {"pattern", "with"})
    pattern, replacement = options.get("pattern"), options.get("with")
    if not isinstance(pattern, str) or not pattern:
        raise ArgumentProblem("replace needs a `pattern`, a regular expression as text", example)
    if replacement is None:
        replacement = ""
    if not isinstance(replacement, str):
        raise ArgumentProblem(f"replace's `with` is text, not {replacement!r}", "quote it: `with: '0'`")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ArgumentProblem(f"replace: {pattern!r} is no regular expression: {exc}",
                              "write a Python regular expression (docs.python.org/3/library/re.html), in single "
                              "quotes: `pattern: '[\\s-]+'`") from exc
    try:
        compiled.sub(replacement, "")  # the replacement's group references are checked even with no match
    except (re.error, IndexError) as exc:
        raise ArgumentProblem(f"replace: `with` {replacement!r} does not fit the pattern: {exc}",
                              f"name only the pattern's groups ({compiled.groups} numbered"
                              f"{', ' + ', '.join(compiled.groupindex) if compiled.groupindex else ''}) as \\1 or "
                              "\\g<name>, and write a backslash as \\\\") from exc
    return ReplaceStep(pattern=compiled, replacement=replacement)


@dataclass(frozen=True)
class PrefixStep:
    name: str
    remove: str
    add: str

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        text = str(value)
        if self.remove:
            if not text.startswith(self.remove):
                raise MappingValueError(f"{self.name}: {text!r} does not start with {self.remove!r}")
            text = text[len(self.remove):]
        return self.add + text

    def out(self, kind: Kind) -> Kind:
        _expect_text(kind, self.name)
        return kind.but(symbols=None, members=None)


@dataclass(frozen=True)
class LocalToUtcStep:
    """A zone-less local time to UTC. A repeated or skipped time is resolved by ``policy`` (the file's
    ``local_times:``, :mod:`streams.mapping.local_times`) and noted in ``Context.notes``, unless the step itself
    says ``nonexistent: raise`` or ``ambiguous: raise`` (then such a time is refused)."""

    zone: str | None
    nonexistent: Nonexistent
    ambiguous: Ambiguous
    name: str = "local_to_utc"
    policy: LocalTimePolicy = DEFAULT_LOCAL_TIMES
    #: The target field it fills (set by the loader), named in the notes.
    field: str = ""

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise MappingValueError(f"local_to_utc expects a datetime, got {value!r}")
        zone_name = self.zone or given.context.time_zone
        try:
            if self.ambiguous is Ambiguous.RAISE or self.nonexistent is Nonexistent.RAISE:
                # refused as the step says; a time it does not refuse is resolved by the policy below
                local_to_utc(value, zone_name, nonexistent=self.nonexistent, ambiguous=self.ambiguous)
            resolved = resolve(value, zone_name, self.policy, given.row)
        except CodecError as exc:
            raise MappingValueError(exc.reason) from exc
        notes = given.context.notes
        if resolved.case is not None and notes is not None:
            notes.append(LocalTimeNote(field=self.field, local=value, zone=zone_name, case=resolved.case,
                                       resolution=resolved.resolution, utc=resolved.utc))
        return resolved.utc

    def out(self, kind: Kind) -> Kind:
        if kind.base == "timestamp":
            raise ArgumentProblem("the value already is a UTC timestamp (the column has a zone)",
                                  "remove `local_to_utc`")
        if kind.base not in ("local_timestamp", "any"):
            raise ArgumentProblem(f"local_to_utc converts zone-less local times, the value is {kind}",
                                  "remove `local_to_utc`")
        return kind.but(base="timestamp")


@dataclass(frozen=True)
class UtcToLocalStep:
    zone: str | None
    name: str = "utc_to_local"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        try:
            return utc_to_local(value, self.zone or given.context.time_zone)
        except CodecError as exc:
            raise MappingValueError(exc.reason) from exc

    def out(self, kind: Kind) -> Kind:
        if kind.base not in ("timestamp", "any"):
            raise ArgumentProblem(f"utc_to_local converts UTC timestamps, the value is {kind}",
                                  "remove `utc_to_local`")
        return kind.but(base="local_timestamp")


@dataclass(frozen=True)
class TruncateStep:
    """``truncate: second | millisecond | <digits>``: a time cut down to ``digits`` digits of a second's fraction
    (the rest dropped, never rounded), as MariaDB stores a finer time in a ``DATETIME`` (whole seconds) or a
    ``DATETIME(3)``."""

    digits: int
    name: str = "truncate"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        return _time_of(value, self.name).replace(microsecond=value.microsecond - value.microsecond % _unit(self))

    def out(self, kind: Kind) -> Kind:
        return _time_out(kind, self.name)


@dataclass(frozen=True)
class RoundStep:
    """``round: second | millisecond | <digits>``: a time rounded to ``digits`` digits of a second's fraction, a half
    up (01.5 to 02), as MySQL and PostgreSQL store a finer time in a ``DATETIME`` or ``timestamp(0)``. A time of
    day rounded past midnight is refused (it would be 24:00)."""

    digits: int
    name: str = "round"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        unit = _unit(self)
        rest = _time_of(value, self.name).microsecond % unit
        cut = value.replace(microsecond=value.microsecond - rest)
        if 2 * rest < unit:
            return cut
        up = dt.timedelta(microseconds=unit)
        if isinstance(cut, dt.datetime):
            try:
                return cut + up
            except OverflowError as exc:
                raise MappingValueError(f"round: {value!r} rounds past the last time there is") from exc
        later = dt.datetime.combine(dt.date.min, cut) + up
        if later.date() != dt.date.min:
            raise MappingValueError(f"round: {value!r} rounds past midnight")
        return later.timetz()

    def out(self, kind: Kind) -> Kind:
        return _time_out(kind, self.name)


#: The units ``truncate`` and ``round`` take, as the digits of a second's fraction they keep.
_UNITS = {"second": 0, "millisecond": 3}

def _unit(step: TruncateStep | RoundStep) -> int:
    """The step's unit in microseconds: 1,000,000 for whole seconds, 1,000 for milliseconds."""
    return int(10 ** (MOST_DIGITS - step.digits))


def _time_of(value: Any, name: str) -> dt.datetime | dt.time:
    if not isinstance(value, (dt.datetime, dt.time)):
        raise MappingValueError(f"{name} expects a time, got {value!r}")
    return value


def _time_out(kind: Kind, name: str) -> Kind:
    if kind.base not in ("timestamp", "local_timestamp", "time", "any"):
        raise ArgumentProblem(f"{name} works on times, the value is {kind}", f"remove `{name}`")
    return kind


def _fraction(step: type[TruncateStep] | type[RoundStep], verb: str) -> Callable[[Any, Environment], Step]:
    """How ``truncate`` and ``round`` read their argument: a unit, or the digits of a second's fraction kept."""

    def build(args: Any, env: Environment) -> Step:
        digits = _UNITS.get(args) if isinstance(args, str) else args
        if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= MOST_DIGITS:
            raise ArgumentProblem(f"{step.name} takes the unit to {verb}, not {args!r}",
                                  f"write `{step.name}: second` (or millisecond, or the digits of a second's fraction "
                                  f"kept, 0 to {MOST_DIGITS})")
        return step(digits=digits)

    return build


@dataclass(frozen=True)
class DecimalStep:
    """``decimal: {scale, rounding}``; ``rounding`` None when the file gives none (``exact``, and then a source
    that may hold more decimals is refused at load: ``rounding: exact`` written out says the value is to be
    refused at run time instead)."""

    scale: int
    rounding: str | None
    name: str = "decimal"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(value, (Decimal, int, str)):
            raise MappingValueError(f"decimal expects an exact number, got {value!r}")
        try:
            number = from_text(value) if isinstance(value, str) else Decimal(value)
        except NotANumber:
            raise
        except MappingValueError as exc:
            raise MappingValueError(f"decimal: {exc}") from exc
        return quantize(number, self.scale, self.rounding or "exact")

    def out(self, kind: Kind) -> Kind:
        if kind.base == "float":
            raise ArgumentProblem(f"decimal works on exact numbers, the value is {kind}", FLOAT_TO_DECIMAL)
        if kind.base not in ("decimal", "int", "string", "any"):
            raise ArgumentProblem(f"decimal works on numbers, the value is {kind}", "remove `decimal`")
        if kind.base == "decimal" and kind.scale is not None and kind.scale > self.scale \
                and self.rounding is None:
            raise ArgumentProblem(f"{scale_text(kind.scale)} down to {self.scale} can drop digits",
                                  "add `rounding: half_even` (or another rounding mode), or `rounding: exact` to "
                                  "refuse at run time a value with more decimals (one that fits goes through)")
        return Kind("decimal", nullable=kind.nullable, scale=self.scale)


@dataclass(frozen=True)
class MapStep:
    values: Mapping[str, Any]
    default: Any
    has_default: bool
    label: str
    name: str = "map"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key in self.values:
            return self.values[key]
        if self.has_default:
            return self.default
        raise MappingValueError(f"value map {self.label} has no entry for {value!r}; add one (or a default)")

    def out(self, kind: Kind) -> Kind:
        if kind.symbols is not None and not self.has_default:
            missing = sorted(kind.symbols - set(self.values))
            if missing:
                raise ArgumentProblem(f"value map {self.label} has no entry for {', '.join(missing)}",
                                      "add them, or a `default:`")
        if kind.members is not None and not self.has_default:
            uncovered = set_values_outside(kind.members, set(self.values))
            if uncovered:
                raise ArgumentProblem(f"value map {self.label} does not cover every value: "
                                      f"{set_problem(kind.members, uncovered)}",
                                      "add a `default:` for the combinations it does not list (or an entry for each)")
        results = [*self.values.values(), *([self.default] if self.has_default else [])]
        if all(isinstance(r, str) for r in results):
            return Kind("string", nullable=kind.nullable, symbols=frozenset(results))
        return ANY.but(nullable=kind.nullable)


@dataclass(frozen=True)
class LookupStep:
    record: str
    by: str
    field: str
    required: bool
    kind: Kind
    name: str = "lookup"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            return None
        if given.context.lookup is None:
            raise LookupMissing(f"lookup {self.record}.{self.field} by {self.by}: no cross-reference was given "
                                "to the mapping (Context.lookup)")
        found = given.context.lookup(self.record, self.by, value)
        if found is None or found.get(self.field) is None:
            if self.required:
                raise LookupMissing(f"no {self.record} with {self.by} = {value!r} has a {self.field} yet")
            return None
        return found[self.field]

    def out(self, kind: Kind) -> Kind:
        return self.kind.but(nullable=self.kind.nullable or not self.required or kind.nullable)


@dataclass(frozen=True)
class RequiredStep:
    """Refuses a null (a row a ``when:`` condition should have filtered), so the field's kind is not null."""

    name: str = "required"

    def apply(self, value: Any, given: StepInput) -> Any:
        if value is None:
            raise MappingValueError("required: the value is null; filter such rows with `when:`")
        return value

    def out(self, kind: Kind) -> Kind:
        return kind.but(nullable=False)


@dataclass(frozen=True)
class DefaultStep:
    value: Any
    name: str = "default"

    def apply(self, value: Any, given: StepInput) -> Any:
        return self.value if value is None else value

    def out(self, kind: Kind) -> Kind:
        return kind.but(nullable=self.value is None)


@dataclass(frozen=True)
class PluginStep:
    """A user's transform: called as ``function(value, **args)``, plus ``row=`` and ``context=`` when its
    signature names them. ``output_kind`` on the function (e.g. ``"string"``) lets the loader check it."""

    name: str
    function: Callable[..., Any]
    args: Mapping[str, Any]
    wants_row: bool
    wants_context: bool
    output: str | None

    def apply(self, value: Any, given: StepInput) -> Any:
        extra: dict[str, Any] = dict(self.args)
        if self.wants_row:
            extra["row"] = given.row
        if self.wants_context:
            extra["context"] = given.context
        try:
            return self.function(value, **extra)
        except MappingValueError:
            raise
        except Exception as exc:
            raise MappingValueError(f"plugin transform {self.name} failed on {value!r}: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def out(self, kind: Kind) -> Kind:
        return ANY.but(nullable=True) if self.output is None else Kind(self.output, nullable=True)


def _text_arg(args: Any, name: str) -> str:
    if not isinstance(args, str):
        raise ArgumentProblem(f"{name} takes a text argument", f'write `{name}: "C-"`')
    return args


def _options(args: Any, name: str, allowed: set[str]) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise ArgumentProblem(f"{name} takes options as a mapping", f"write `{name}: {{...}}` with keys "
                              f"{', '.join(sorted(allowed))}")
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise ArgumentProblem(f"{name} has no option {', '.join(unknown)}",
                              f"use {', '.join(sorted(allowed)) or 'no options'}")
    return args


def _zone_option(options: Mapping[str, Any]) -> str | None:
    name = options.get("zone")
    if name is None:
        return None
    try:
        zone(str(name))
    except CodecError as exc:
        raise ArgumentProblem(exc.reason, "use an IANA zone name such as Asia/Shanghai") from exc
    return str(name)


def _local_to_utc(args: Any, env: Environment) -> Step:
    """The step under the file's ``local_times:`` policy; its own ``nonexistent:`` / ``ambiguous:`` override it
    for this field (``raise`` refuses such a time: a declared choice, never the default)."""
    options = _options(args, "local_to_utc", {"zone", "nonexistent", "ambiguous"})
    policy = env.local_times or DEFAULT_LOCAL_TIMES
    try:
        nonexistent = Nonexistent(options.get("nonexistent", Nonexistent.SHIFT_FORWARD))
        ambiguous = Ambiguous(options.get("ambiguous", _AMBIGUOUS[policy.repeated]))
    except ValueError as exc:
        raise ArgumentProblem(str(exc), "nonexistent: raise | shift_forward; ambiguous: raise | earliest | "
                              "latest") from exc
    if "ambiguous" in options and ambiguous is not Ambiguous.RAISE:  # the step's choice, not the file's sibling
        policy = replace(policy, repeated=_OCCURRENCE[ambiguous], decided_by=None)
    return LocalToUtcStep(zone=_zone_option(options), nonexistent=nonexistent, ambiguous=ambiguous, policy=policy)


_AMBIGUOUS = {Occurrence.EARLIER: Ambiguous.EARLIEST, Occurrence.LATER: Ambiguous.LATEST}
_OCCURRENCE = {Ambiguous.EARLIEST: Occurrence.EARLIER, Ambiguous.LATEST: Occurrence.LATER}


def _decimal(args: Any, env: Environment) -> Step:
    options = _options(args, "decimal", {"scale", "rounding"})
    scale, rounding = options.get("scale"), options.get("rounding")
    if not isinstance(scale, int) or isinstance(scale, bool):
        raise ArgumentProblem("decimal needs a whole-number scale", "write `decimal: {scale: 2}`")
    if rounding is not None and rounding not in ROUNDING:
        raise ArgumentProblem(f"unknown rounding {rounding!r}", f"use one of {', '.join(ROUNDING)}")
    return DecimalStep(scale=scale, rounding=rounding)


def _map(args: Any, env: Environment) -> Step:
    if isinstance(args, str):
        if args not in env.value_maps:
            known = ", ".join(sorted(env.value_maps)) or "none"
            raise ArgumentProblem(f"no value map named {args!r} (defined: {known})",
                                  "define it under `value_maps:` or fix the name")
        table, label = env.value_maps[args], args
    elif isinstance(args, dict):
        table, label = args, "(inline)"
    else:
        raise ArgumentProblem("map takes a value map name or a mapping of values",
                              "write `map: order_status` or `map: {values: {a: b}, default: c}`")
    if "values" in table and isinstance(table["values"], dict):
        unknown = sorted(set(table) - {"values", "default"})
        if unknown:
            raise ArgumentProblem(f"value map {label} has unknown keys {', '.join(unknown)}",
                                  "keep `values:` and `default:` only")
        return MapStep(values={str(k): v for k, v in table["values"].items()}, default=table.get("default"),
                       has_default="default" in table, label=label)
    return MapStep(values={str(k): v for k, v in table.items()}, default=None, has_default=False, label=label)


def _lookup(args: Any, env: Environment) -> Step:
    options = _options(args, "lookup", {"record", "by", "field", "required"})
    for needed in ("record", "by", "field"):
        if not isinstance(options.get(needed), str):
            raise ArgumentProblem(f"lookup needs `{needed}`",
                                  "write `lookup: {record: CustomerAccountXref, by: crm_customer_id, "
                                  "field: customer_number}`")
    try:
        definition = env.schemas.definition(options["record"])
    except UnknownSchema as exc:
        raise ArgumentProblem(exc.reason, "name a record in schemas/") from exc
    fields = {f["name"]: f for f in definition.get("fields", ())}
    for role in ("by", "field"):
        if options[role] not in fields:
            raise ArgumentProblem(f"{definition['name']} has no field {options[role]!r} (lookup {role})",
                                  f"use one of {', '.join(fields)}")
    kind = from_avro(fields[options["field"]]["type"], dict(env.schemas.named))
    return LookupStep(record=definition["name"], by=options["by"], field=options["field"],
                      required=bool(options.get("required", False)), kind=kind)


def plugin_step(name: str, function: Callable[..., Any], args: Any) -> Step:
    parameters = _parameters(function)
    options = _options(args, name, set(parameters) - {"row", "context"}) if args is not None else {}
    supplied = {extra: None for extra in ("row", "context") if extra in parameters}
    try:
        inspect.signature(function).bind(None, **options, **supplied)
    except TypeError as exc:
        raise ArgumentProblem(f"plugin {name} does not take these arguments: {exc}",
                              f"give the parameters of {function.__module__}.{function.__qualname__}") from exc
    return PluginStep(name=name, function=function, args=options, wants_row="row" in parameters,
                      wants_context="context" in parameters, output=getattr(function, "output_kind", None))


def _parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)[1:]


def _collapse_spaces(text: str) -> str:
    """Each run of white space (spaces, tabs, line breaks) as one space; the ends are left as they are (``trim``)."""
    return _WHITE_SPACE.sub(" ", text)


_WHITE_SPACE = re.compile(r"\s+")


def _no_args(step: Callable[[], Step], name: str) -> Callable[[Any, Environment], Step]:
    def build(args: Any, env: Environment) -> Step:
        if args is not None:
            raise ArgumentProblem(f"{name} takes no arguments", f"write `- {name}`")
        return step()

    return build


BUILTINS: Mapping[str, Callable[[Any, Environment], Step]] = {
    "trim": _no_args(lambda: TextStep("trim", str.strip), "trim"),
    "rstrip": _no_args(lambda: TextStep("rstrip", str.rstrip), "rstrip"),
    "lower": _no_args(lambda: TextStep("lower", str.lower), "lower"),
    "upper": _no_args(lambda: TextStep("upper", str.upper), "upper"),
    "collapse_spaces": _no_args(lambda: TextStep("collapse_spaces", _collapse_spaces), "collapse_spaces"),
    "null_if_empty": _no_args(lambda: TextStep("null_if_empty", lambda s: s or None), "null_if_empty"),
    "bool": _no_args(BoolStep, "bool"),
    "int": _no_args(lambda: CastStep("int", "int"), "int"),
    "string": _no_args(lambda: CastStep("string", "string"), "string"),
    "add_prefix": lambda args, env: PrefixStep("add_prefix", "", _text_arg(args, "add_prefix")),
    "strip_prefix": lambda args, env: PrefixStep("strip_prefix", _text_arg(args, "strip_prefix"), ""),
    "replace_prefix": lambda args, env: _replace_prefix(args),
    "local_to_utc": _local_to_utc,
    "utc_to_local": lambda args, env: UtcToLocalStep(
        zone=_zone_option(_options(args, "utc_to_local", {"zone"}))),
    "decimal": _decimal,
    "truncate": _fraction(TruncateStep, "cut down to"),
    "round": _fraction(RoundStep, "round to"),
    "map": _map,
    "lookup": _lookup,
    "default": lambda args, env: DefaultStep(args),
    "required": _no_args(RequiredStep, "required"),
    "parse_json": _parse_json,
    "replace": _replace,
}


def _replace_prefix(args: Any) -> Step:
    options = _options(args, "replace_prefix", {"from", "to"})
    if not isinstance(options.get("from"), str) or not isinstance(options.get("to"), str):
        raise ArgumentProblem("replace_prefix needs `from` and `to` texts",
                              'write `replace_prefix: {from: "C-", to: "AC-"}`')
    return PrefixStep("replace_prefix", options["from"], options["to"])
