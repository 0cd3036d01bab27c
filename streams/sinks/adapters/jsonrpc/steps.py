"""Which calls of a route a command needs, and which nulls they can send. Pure functions.

A call that ``writes`` some payload fields is made only for a command that carries one of them and changed it
(a command naming no changed fields, such as a create, changes every field it holds): a value to write, or a
null the command clears the field with (it names the field changed) that the call sends (its params keep the
null, see :func:`call_reads`). So an ``update`` of a party's name makes no call for its e-mail, a create without
a phone makes no phone, and a price cleared at its source is cleared in the target. A cleared field that a call
of the route reads but cannot send as null is refused before any call (:func:`~streams.sinks.adapters.mapping.
unsent_nulls`): skipped, it would leave the old value and the command reported applied.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from streams.sinks.adapters.jsonrpc.config import JsonRpcRoute, Step
from streams.sinks.adapters.jsonrpc.templates import null_reads
from streams.sinks.adapters.mapping import MISSING, get_path, null_sent


def call_reads(unit: JsonRpcRoute | Step) -> list[tuple[str, bool]]:
    """Each payload path a call writes from, with whether it sends a null there: its params, and with an external
    id its update's params, and the external id itself (never sent as null: the search needs its value)."""
    reads = null_reads(unit.params)
    if unit.external_id is not None:
        update = unit.external_id.update
        reads += [(unit.external_id.field, False), *(null_reads(update.params) if update is not None else [])]
    return reads


def nulls_sent(unit: JsonRpcRoute | Step) -> frozenset[str]:
    """The fields of the call's ``writes`` whose null it sends."""
    reads = call_reads(unit)
    return frozenset(name for name in unit.writes if null_sent(name, reads))


def due(writes: tuple[str, ...], payload: Mapping[str, Any], changed: tuple[str, ...],
        nulls: Collection[str] = ()) -> bool:
    """Whether a call that writes ``writes`` (none: it always runs) is due for a command carrying ``payload``
    and naming ``changed`` as its changed fields (a dotted field is changed with its top-level one); ``nulls``:
    the fields of ``writes`` whose null the call sends, due when the command names them changed."""
    if not writes:
        return True
    for name in writes:
        top = name.partition(".")[0]
        value = get_path(payload, name)
        if value is MISSING and get_path(payload, top) is None:
            value = None  # a dotted field under a null: null too
        if value is MISSING or (changed and name not in changed and top not in changed):
            continue
        if value is not None or (changed and name in nulls):
            return True
    return False
