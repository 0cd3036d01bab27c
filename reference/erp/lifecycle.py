"""The ERP sales order lifecycle: reserved -> shipped -> invoiced -> paid, or reserved -> cancelled; an order's
content (lines, dates) can be replaced while it is reserved."""

from __future__ import annotations

import re
from datetime import date, timedelta

from reference.common.errors import ApiError

NEXT: dict[str, tuple[str, ...]] = {
    "reserved": ("shipped", "cancelled"),
    "shipped": ("invoiced",),
    "invoiced": ("paid",),
    "paid": (),
    "cancelled": (),
}


#: The statuses of an order whose lines and header fields may still be replaced (nothing has left the warehouse).
EDITABLE: tuple[str, ...] = ("reserved",)


def check_editable(order_id: int, current: str) -> None:
    if current not in EDITABLE:
        raise ApiError(409, f"order {order_id} is {current}; its lines and dates can be changed only while it is "
                       f"{' or '.join(EDITABLE)}", field="status",
                       fix="change the order before it ships, or cancel it and order again", current_status=current)


def check_transition(current: str, target: str) -> None:
    if target not in NEXT[current]:
        allowed = " or ".join(NEXT[current]) or "nothing (it is final)"
        raise ApiError(409, f"an order that is {current} cannot become {target}", field="status",
                       fix=f"from {current} the order can become {allowed}", current_status=current)


def next_status(current: str) -> str | None:
    """The forward step of the lifecycle, if any (cancelling is never the next step)."""
    forward = [s for s in NEXT[current] if s != "cancelled"]
    return forward[0] if forward else None


_NET = re.compile(r"^NET([0-9]{1,3})$")


def due_date(issued: date, payment_terms: str) -> date:
    """NET30 -> 30 days after issue; COD and PREPAID -> the issue date."""
    match = _NET.match(payment_terms)
    return issued + timedelta(days=int(match.group(1))) if match else issued
