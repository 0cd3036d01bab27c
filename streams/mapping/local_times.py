"""A mapping's declared policy for zone-less local times that a daylight-saving change made ambiguous.

In a zone with DST a wall-clock time can have happened twice (autumn: the clocks fell back, the hour repeats)
or never (spring: the clocks jumped the gap). A mapping file says once, under ``local_times:``, what its
``local_to_utc`` steps do then::

    local_times:
      repeated: earlier             # earlier | later | {offset: <column>} | {instant: <column>}
      skipped: shift_forward        # the only choice: the time the clocks showed, plus the gap

``{offset: <column>}`` takes the occurrence whose UTC offset a sibling column holds (whole minutes east of UTC,
or text such as ``-04:00``); ``{instant: <column>}`` the one nearest to a sibling column that is an instant
(a zoned ``TIMESTAMP`` such as a ``created_at``); both fall back to ``otherwise:`` (default ``earlier``) when
the sibling is null or decides nothing. Without ``local_times:`` the policy is ``earlier`` and
``shift_forward``: a business document is never refused for its time alone. Each decision is returned as a
:class:`LocalTimeNote`, which the canonical flow records in the record's lineage header.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from streams.codecs.local_time import zone

#: ``(line, field, message, fix)``: how a mapping file's problems are collected (:mod:`streams.mapping.loader`).
Report = Callable[[int, str, str, str], None]



class Node(Protocol):
    """What is read of a YAML node with its line: the shared reader's ``Node`` (named by shape, not by module,
    as the reader's home moves between packages)."""

    @property
    def value(self) -> Any: ...

    @property
    def line(self) -> int: ...

    @property
    def is_mapping(self) -> bool: ...

    def get(self, key: str) -> Node | None: ...

    def items(self) -> Iterator[tuple[str, Node]]: ...

    def plain(self) -> Any: ...


KEY = "local_times"
FIX = ("write `local_times: {repeated: earlier | later | {offset: <column>} | {instant: <column>}, "
       "skipped: shift_forward}`")


class Occurrence(StrEnum):
    """Which of the two instants of a repeated wall-clock time: the first pass (summer time) or the second."""

    EARLIER = "earlier"
    LATER = "later"


class Skipped(StrEnum):
    SHIFT_FORWARD = "shift_forward"


@dataclass(frozen=True, kw_only=True)
class Sibling:
    """A column of the same row that decides a repeated time: its UTC offset, or an instant near it."""

    column: str
    means: Literal["offset", "instant"]


@dataclass(frozen=True, kw_only=True)
class LocalTimePolicy:
    repeated: Occurrence = Occurrence.EARLIER
    #: The column that decides a repeated time; ``repeated`` is then its fallback.
    decided_by: Sibling | None = None
    skipped: Skipped = Skipped.SHIFT_FORWARD
    #: The line of ``local_times:`` in its file (0: the default policy), for errors about the sibling column.
    line: int = 0


DEFAULT = LocalTimePolicy()


@dataclass(frozen=True, kw_only=True)
class LocalTimeNote:
    """A local time that was repeated or skipped, and what the policy made of it (for the lineage)."""

    field: str
    local: dt.datetime
    zone: str
    case: Literal["repeated", "skipped"]
    #: ``earlier``, ``later``, ``offset <column>``, ``instant <column>`` (with ``, otherwise ...`` when the
    #: sibling decided nothing) or ``shift_forward <gap>``.
    resolution: str
    utc: dt.datetime

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "local": self.local.isoformat(), "zone": self.zone, "case": self.case,
                "resolution": self.resolution, "utc": self.utc.astimezone(dt.UTC).isoformat()}


@dataclass(frozen=True, kw_only=True)
class Resolved:
    utc: dt.datetime
    case: Literal["repeated", "skipped"] | None = None
    resolution: str = ""


def resolve(local: dt.datetime, zone_name: str, policy: LocalTimePolicy,
            row: Mapping[str, Any] | None = None) -> Resolved:
    """The UTC instant of the naive wall-clock time ``local`` in ``zone_name`` under ``policy``; ``case`` says
    whether it was repeated or skipped (None: an ordinary time). ``row``: where a sibling column is read."""
    tz = zone(zone_name)
    early, late = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    early_utc, late_utc = early.astimezone(dt.UTC), late.astimezone(dt.UTC)
    if early_utc.astimezone(tz).replace(tzinfo=None) != local:
        # fold=0 reads the skipped time with the offset before the change: the wall clock plus the gap
        gap = (early.utcoffset() or dt.timedelta()) - (late.utcoffset() or dt.timedelta())
        return Resolved(utc=early_utc, case="skipped", resolution=f"shift_forward {abs(gap)}")
    if early_utc == late_utc:
        return Resolved(utc=early_utc)
    candidates = {Occurrence.EARLIER: early_utc, Occurrence.LATER: late_utc}
    sibling = policy.decided_by
    if sibling is not None:
        value = (row or {}).get(sibling.column)
        chosen = (_by_offset(value, early, late) if sibling.means == "offset"
                  else _by_instant(value, early_utc, late_utc))
        if chosen is not None:
            return Resolved(utc=candidates[chosen], case="repeated",
                            resolution=f"{sibling.means} {sibling.column}: {chosen.value}")
        return Resolved(utc=candidates[policy.repeated], case="repeated",
                        resolution=f"{sibling.means} {sibling.column} decided nothing ({value!r}), otherwise: "
                                   f"{policy.repeated.value}")
    return Resolved(utc=candidates[policy.repeated], case="repeated", resolution=policy.repeated.value)


_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?$")


def _by_offset(value: Any, early: dt.datetime, late: dt.datetime) -> Occurrence | None:
    """The occurrence whose UTC offset ``value`` is: whole minutes east of UTC, or text like ``+02:00``."""
    offset: dt.timedelta | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        offset = dt.timedelta(minutes=value)
    elif isinstance(value, str):
        text = value.strip()
        found = _OFFSET.match(text)
        if text.upper() in ("Z", "UTC"):
            offset = dt.timedelta()
        elif found is not None:
            size = dt.timedelta(hours=int(found["hours"]), minutes=int(found["minutes"] or 0))
            offset = -size if found["sign"] == "-" else size
    if offset is None:
        return None
    if offset == early.utcoffset():
        return Occurrence.EARLIER
    if offset == late.utcoffset():
        return Occurrence.LATER
    return None


def _by_instant(value: Any, early_utc: dt.datetime, late_utc: dt.datetime) -> Occurrence | None:
    """The occurrence nearer to the instant ``value`` (a tie decides nothing)."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        return None
    to_early, to_late = abs(value - early_utc), abs(value - late_utc)
    if to_early == to_late:
        return None
    return Occurrence.EARLIER if to_early < to_late else Occurrence.LATER


def read_policy(node: Node | None, report: Report) -> LocalTimePolicy | None:
    """The file's ``local_times:`` (None: not declared, or refused with a problem reported)."""
    if node is None:
        return None
    if not node.is_mapping:
        report(node.line, KEY, "`local_times` is a mapping of `repeated` and `skipped`", FIX)
        return None
    ok = True
    for name, child in node.items():
        if name not in ("repeated", "skipped"):
            report(child.line, f"{KEY}.{name}", f"unknown key {name!r}", FIX)
            ok = False
    skipped = Skipped.SHIFT_FORWARD
    skipped_node = node.get("skipped")
    if skipped_node is not None:
        try:
            skipped = Skipped(skipped_node.value)
        except ValueError:
            report(skipped_node.line, f"{KEY}.skipped", f"{skipped_node.value!r} is not a policy for a skipped time "
                   "(a time is never refused for falling in the gap)", "write `skipped: shift_forward`")
            ok = False
    repeated, decided_by = Occurrence.EARLIER, None
    repeated_node = node.get("repeated")
    if repeated_node is not None:
        parsed = _repeated(repeated_node, report)
        if parsed is None:
            ok = False
        else:
            repeated, decided_by = parsed
    if not ok:
        return None
    return LocalTimePolicy(repeated=repeated, decided_by=decided_by, skipped=skipped, line=node.line)


def _repeated(node: Node, report: Report) -> tuple[Occurrence, Sibling | None] | None:
    where = f"{KEY}.repeated"
    if isinstance(node.value, str):
        try:
            return Occurrence(node.value), None
        except ValueError:
            report(node.line, where, f"{node.value!r} is not a policy for a repeated time",
                   "write `repeated: earlier`, `later`, `{offset: <column>}` or `{instant: <column>}`")
            return None
    values = node.plain() if node.is_mapping else None
    means = [k for k in ("offset", "instant") if isinstance(values, dict) and k in values]
    if not isinstance(values, dict) or len(means) != 1 or not set(values) <= {means[0], "otherwise"} \
            or not isinstance(values[means[0]], str):
        report(node.line, where, "a sibling column decides with `{offset: <column>}` (its UTC offset) or "
               "`{instant: <column>}` (an instant near it), and may say `otherwise: earlier | later`",
               "write `repeated: {offset: utc_offset, otherwise: earlier}`")
        return None
    try:
        otherwise = Occurrence(values.get("otherwise", "earlier"))
    except ValueError:
        report(node.line, f"{where}.otherwise", f"{values['otherwise']!r} is not earlier or later",
               "write `otherwise: earlier` or `otherwise: later`")
        return None
    kind: Literal["offset", "instant"] = "offset" if means[0] == "offset" else "instant"
    return otherwise, Sibling(column=values[kind], means=kind)
