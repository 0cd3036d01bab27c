"""Debezium's placeholder for a column value the database did not send.

PostgreSQL leaves an unchanged TOASTed value (text, bytea, jsonb or an array of more than ~2 KB) out of an
update's new row, and out of a delete's old row, unless the table has ``REPLICA IDENTITY FULL``; Oracle does
the same for unchanged LOBs. Debezium cannot read it back safely, so it writes its placeholder instead: the text
``__debezium_unavailable_value`` in a text or JSON column, its bytes in a binary one, a one-element array of it
in an array column. The value is *unknown*, not changed: a flow must never take it for the column's value.

The placeholder is the connector option ``unavailable.value.placeholder``'s default; Isthmus recognises that one
only (``isthmus connectors validate`` refuses a connector file that sets another).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLACEHOLDER = "__debezium_unavailable_value"
#: The connector option that would change it.
OPTION = "unavailable.value.placeholder"
_AS_BYTES = PLACEHOLDER.encode()
#: An array column's, as the decoder gives arrays (tuples), and as a list.
_AS_ARRAY = (PLACEHOLDER,)
_AS_LIST = [PLACEHOLDER]
_FORMS = (PLACEHOLDER, _AS_BYTES, _AS_ARRAY, _AS_LIST)


def is_unavailable(value: Any) -> bool:
    """Whether ``value`` is Debezium's placeholder (as text, bytes or a one-element array)."""
    return value in _FORMS


def unavailable_columns(row: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The columns of ``row`` whose value Debezium did not have, in row order; ``()`` for most rows, found by a few
    scans in C before any column is looked at in Python."""
    if not row:
        return ()
    values = row.values()
    if PLACEHOLDER not in values and _AS_BYTES not in values and _AS_ARRAY not in values and _AS_LIST not in values:
        return ()
    return tuple(name for name, value in row.items() if is_unavailable(value))
