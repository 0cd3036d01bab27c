"""Which calls of a route a command needs. Pure functions.

A call that ``writes`` some payload fields is made only for a command that carries one of them: a value to
write (the APIs cannot clear a field: a null is never written, see ``streams.flows.customers.mirror``) that the
command changed (a command naming no changed fields, such as a create, changes every field it holds). So an
``update`` of a party's name makes no call for its e-mail, and a create without a phone makes no phone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sinks.adapters.mapping import MISSING, get_path


def due(writes: tuple[str, ...], payload: Mapping[str, Any], changed: tuple[str, ...]) -> bool:
    """Whether a call that writes ``writes`` (none: it always runs) is due for a command carrying ``payload``
    and naming ``changed`` as its changed fields (a dotted field is changed with its top-level one)."""
    if not writes:
        return True
    for name in writes:
        value = get_path(payload, name)
        if value is not MISSING and value is not None and (
                not changed or name in changed or name.partition(".")[0] in changed):
            return True
    return False
