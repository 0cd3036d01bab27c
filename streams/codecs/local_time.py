"""Zone-less local times (the ERP's DATETIME columns) to UTC and back, with an explicit zone.

Debezium sends a DATETIME as epoch counts "as if UTC", decoded to a naive wall-clock datetime. Only the
zone the ERP writes in (``ISTHMUS_ERP_TIME_ZONE``, default Asia/Shanghai) says which instant it was. In a
zone with daylight saving time a wall-clock time can be skipped (spring forward) or repeated (fall back);
the policies say what to do, and the default is to refuse, naming the time, since guessing an order or
payment time silently is worse than a dead letter.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.codecs.exceptions import LocalTimeError


class Nonexistent(StrEnum):
    """A wall-clock time the clocks skipped (e.g. 02:30 on the spring-forward day in New York)."""

    RAISE = "raise"
    SHIFT_FORWARD = "shift_forward"


class Ambiguous(StrEnum):
    """A wall-clock time that happened twice (e.g. 01:30 on the fall-back day in New York)."""

    RAISE = "raise"
    EARLIEST = "earliest"
    LATEST = "latest"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LocalTimeError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai or "
                             "America/New_York") from exc


def local_to_utc(local: dt.datetime, zone_name: str, *, nonexistent: Nonexistent | str = Nonexistent.RAISE,
                 ambiguous: Ambiguous | str = Ambiguous.RAISE) -> dt.datetime:
    """The UTC instant of a naive wall-clock time in ``zone_name``."""
    if local.tzinfo is not None:
        raise LocalTimeError(f"{local.isoformat()} already has an offset; only zone-less local times are "
                             "converted (a zoned value is already an instant)")
    tz = zone(zone_name)
    early = local.replace(tzinfo=tz, fold=0)
    late = local.replace(tzinfo=tz, fold=1)
    early_utc, late_utc = early.astimezone(dt.UTC), late.astimezone(dt.UTC)
    if early_utc.astimezone(tz).replace(tzinfo=None) != local:
        if Nonexistent(nonexistent) is Nonexistent.RAISE:
            raise LocalTimeError(f"{local.isoformat()} does not exist in {zone_name} (the clocks skipped "
                                 "it); correct the source value or map with nonexistent: shift_forward")
        return early_utc
    if early_utc != late_utc:
        choice = Ambiguous(ambiguous)
        if choice is Ambiguous.RAISE:
            raise LocalTimeError(f"{local.isoformat()} happened twice in {zone_name} (the clocks fell back); "
                                 "map with ambiguous: earliest or latest")
        return early_utc if choice is Ambiguous.EARLIEST else late_utc
    return early_utc


def utc_to_local(instant: dt.datetime, zone_name: str) -> dt.datetime:
    """The naive wall-clock time in ``zone_name`` of an aware instant (what the ERP API expects)."""
    if instant.tzinfo is None:
        raise LocalTimeError(f"{instant.isoformat()} has no offset; say which instant it is (UTC?) before "
                             "converting it to a local time")
    return instant.astimezone(zone(zone_name)).replace(tzinfo=None)
