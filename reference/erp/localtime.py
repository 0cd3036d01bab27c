"""The ERP stores order, shipment, invoice and payment times as wall-clock time of its zone, without an
offset, as many ERPs do; the API speaks ISO 8601 with offsets and converts at the edge."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def to_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """An aware time as the zone's naive wall-clock time, to the millisecond (the columns are DATETIME(3))."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no offset; the ERP cannot tell which instant it means")
    local = moment.astimezone(zone).replace(tzinfo=None)
    return local.replace(microsecond=local.microsecond // 1000 * 1000)


def from_local(wall: datetime, zone: ZoneInfo) -> datetime:
    """A stored wall-clock time of the zone as an aware time."""
    if wall.tzinfo is not None:
        raise ValueError(f"{wall.isoformat()} already has an offset")
    return wall.replace(tzinfo=zone)


def local_now(zone: ZoneInfo, *, precision: int = 3) -> datetime:
    """Now as the zone's naive wall-clock time; ``precision`` 3 for DATETIME(3), 6 for DATETIME(6)."""
    now = datetime.now(zone).replace(tzinfo=None)
    step = 10 ** (6 - precision)
    return now.replace(microsecond=now.microsecond // step * step)
