"""Where reading starts: ``--since`` (a duration back from now, or an ISO 8601 time), ``--offset``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from streams.inspect.exceptions import BadSeek

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_UNITS = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
          "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def since_ms(text: str, *, now: datetime | None = None) -> int:
    """Epoch milliseconds of ``--since``: ``90s``, ``15m``, ``1h``, ``2d``, or ``2026-11-25T10:00:00Z``."""
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        moment = (now or datetime.now(UTC)) - float(match[1]) * _UNITS[match[2]]
        return int(moment.timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise BadSeek(f"--since {text!r} is neither a duration (30s, 15m, 1h, 2d, 1w) nor an ISO 8601 time "
                      "(2026-11-25T10:00:00Z)") from None
    if moment.tzinfo is None:
        raise BadSeek(f"--since {text!r} has no time zone; add Z for UTC or an offset such as +01:00")
    return int(moment.timestamp() * 1000)


def format_ms(ms: int | None) -> str:
    """``2026-11-25T10:00:00.123Z``; ``-`` when unknown."""
    if ms is None or ms < 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


__all__ = ["format_ms", "since_ms"]
