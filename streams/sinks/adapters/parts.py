"""A document bigger than one call (the target file's ``limits.lines_per_call``): cut into parts the target's
API takes (the route's ``parts``: create with the first, then add the rest), or refused before any call.

Pure functions; the HTTP adapter makes the calls. Each part after the first carries the command's idempotency
key with ``.part<n>``, so a retried command (after a crash, a 503, a replay) is answered from the target's
idempotency table for every part it already applied and applies only the rest: the document ends whole, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.sinks.config.model import HttpRoute
from streams.sinks.outcomes import Applied

#: The status of a refusal the sink itself decides: the document is more than the target takes in one call.
TOO_BIG_STATUS = 413


@dataclass(frozen=True, kw_only=True)
class Oversize:
    """Body field ``field`` holds ``count`` items; one call takes ``limit``."""

    field: str
    count: int
    limit: int
    #: The route sends the list whole (not mapped with ``each:``), so it cannot declare ``parts`` for it as it is.
    whole: bool = False


def oversize(route: HttpRoute, body: Any, limit: int | None) -> Oversize | None:
    """The first list field of ``body`` with more than ``limit`` items: an ``each:`` field of the route, or a list
    the route sends whole (``lines: lines``, ``body: payload``). A declared limit is the target's, however the
    body carries the list: before, a list sent whole went out past it, and the target's refusal came back once per
    change of the document."""
    if limit is None or not isinstance(body, Mapping):
        return None
    each = route.list_fields()
    for name in (*each, *(name for name in body if name not in each and route.whole_list(name))):
        items = body.get(name)
        if isinstance(items, list) and len(items) > limit:
            return Oversize(field=name, count=len(items), limit=limit, whole=name not in each)
    return None


def split(items: Sequence[Any], limit: int) -> list[list[Any]]:
    """``items`` in order, in parts of at most ``limit``."""
    return [list(items[start:start + limit]) for start in range(0, len(items), limit)]


def part_key(idempotency_key: str, number: int) -> str:
    """The idempotency key of part ``number`` (1 is the route's own call, with the command's key)."""
    return idempotency_key if number == 1 else f"{idempotency_key}.part{number}"


def too_big(over: Oversize, *, route: HttpRoute, target_file: str) -> Applied:
    """The refusal of a document the target cannot take: a result (status 413) naming the reason, for the flow
    to hold the document with (dead-lettered instead when its flow reads no results: ``streams.sinks.unread``);
    nothing was sent."""
    kind = f"{route.payload_type.rpartition('.')[2]} {route.operation}"
    return Applied(status=TOO_BIG_STATUS, refused=True, body={
        "error": f"{over.count} {over.field} in one {kind}: {target_file} takes at most {over.limit} per call "
                 "(limits.lines_per_call) and its route declares no parts to send the rest",
        "field": over.field,
        "fix": (f"map {over.field} in the route's body with `{{from: {over.field}, each: {{...}}}}` and declare "
                f"its parts (how the target adds {over.field}) in {target_file}" if over.whole else
                f"declare the route's parts (how the target adds {over.field}) in {target_file}")
               + ", or raise its limits.lines_per_call if the target takes more a call, or split the document in "
               "its source"})
