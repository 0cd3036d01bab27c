"""Documents held visibly: what holds a document, and the ``Hold`` records that say so.

A document is held, never silently stuck, when it cannot go to its target:

- ``party_blocked``: the target's CDC shows its party blocked (:mod:`streams.flows.orders.order`); released by
  the unblock.
- ``refused``: the target refused the create as a business state (a route's ``refusals``, recorded by the sink
  as a CommandResult with the target's status and answer: the reference ERP's 409 "account N is inactive").
- ``too_big``: the document is over the target's ``limits`` and the target file declares no way to add parts
  (the sink's own refusal, status 413).
- ``no_account``: the document is ready to go, but its party has no account in the target (the party's create
  there was refused or is pending, or the account was deleted, or the party renumbered): not sent, as the target
  could not take it. Most such waits last a moment (a new party's first document, read before its account), so
  the flow's tick holds it only once it has waited the worker's ``ISTHMUS_PARKED_HOLD_AFTER_S``, as it does
  parked records (:mod:`streams.flows.parked`); released when the account appears and the create goes.
- ``locked``: the origin edited a document the target has, and the target's status (as its CDC last said) is not
  one of the flow file's ``update.while``: the edit is not sent (:mod:`streams.flows.orders.edits`); released
  when the origin shows the document as it was sent again, or the document is cancelled. An update the target
  refused as a business state holds it as ``refused`` (or ``too_big``) the same way, until the origin changes it.
  The origin's status is left as it is: the target still has the document. An origin cancel (or delete) the
  target's status takes none of (not one of the flow file's ``cancel.while``, nor the cancel status) is held the
  same way, the origin keeping its cancel, until the origin takes it back or the target's status allows it.

A refused document is sent again when the cause may have cleared: one of the flow file's ``hold.release`` fields
of its party changes in the target (the same create, with its first idempotency key: a target keeps no refused
key), or the origin changes the document (as it is now, a new command: the same key with another payload is
refused). The refusals come keyed by document through the flow's results stage
(:mod:`streams.flows.orders.refusals`). Every change of a document's hold is a ``Hold`` record on
``isthmus.holds`` (state ``held`` with the cause and the target's message, or ``released``), written in the
flow's transaction with its other outputs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.sinks.adapters.parts import TOO_BIG_STATUS
from streams.sinks.outcomes import answer_text
from streams.sinks.records import result_applied

PARTY_BLOCKED, REFUSED, TOO_BIG, NO_ACCOUNT = "party_blocked", "refused", "too_big", "no_account"
#: An origin edit of a document the target has, whose status there takes no edit (the flow file's ``update``).
LOCKED = "locked"
#: A document whose required look-up (its party, by the id its origin row names) finds nothing yet: the cause
#: parked records wait under too (:mod:`streams.flows.parked`).
WAITING_FOR = "waiting_for"
#: The causes a document waits under before it is held (its tick holds it once the wait lasts).
WAITS = (NO_ACCOUNT, WAITING_FOR)
HOLD_SCHEMA = "isthmus.canonical.Hold"
RESULT_SCHEMA = "isthmus.canonical.CommandResult"


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """A business refusal read from a CommandResult."""

    cause: str
    status: int
    message: str
    field: str | None
    command_id: str
    idempotency_key: str

    def to_state(self) -> dict[str, Any]:
        return {"cause": self.cause, "status": self.status, "message": self.message, "field": self.field,
                "command_id": self.command_id, "key": self.idempotency_key, "cleared": False}


def refusal_of(result: Mapping[str, Any]) -> Refusal | None:
    """The refusal a CommandResult records (a status outside 2xx), with the target's message and field; None for
    an applied command."""
    if result_applied(result):
        return None
    status = int(result.get("status") or 0)
    raw = result.get("response")
    try:
        answer = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        answer = raw
    message = None
    field = None
    if isinstance(answer, Mapping):
        message = next((answer[k] for k in ("error", "message", "detail") if isinstance(answer.get(k), str)), None)
        field = answer.get("field") if isinstance(answer.get("field"), str) else None
    return Refusal(cause=TOO_BIG if status == TOO_BIG_STATUS else REFUSED, status=status,
                   message=message or answer_text(answer if answer is not None else raw, 500), field=field,
                   command_id=str(result.get("command_id") or ""),
                   idempotency_key=str(result.get("idempotency_key") or ""))


def current(document: Mapping[str, Any], *, blocked_message: str, no_account_message: str,
            account: str) -> dict[str, Any] | None:
    """What holds the document now (cause, message, field, status, command id), None when nothing does.
    ``account``: the party's field of its account in the target, named by a ``no_account`` hold."""
    hold = document.get("hold")
    if hold:
        return {"cause": hold["cause"], "message": hold["message"], "field": hold.get("field"),
                "status": hold.get("status"), "command_id": hold.get("command_id") or None}
    edit = document.get("update_hold") or document.get("cancel_hold")
    if edit:
        return {"cause": edit["cause"], "message": edit["message"], "field": edit.get("field"),
                "status": edit.get("status"), "command_id": edit.get("command_id") or None}
    if document.get("held"):
        return {"cause": PARTY_BLOCKED, "message": blocked_message, "field": None, "status": None,
                "command_id": None}
    if (document.get(NO_ACCOUNT) or {}).get("due"):
        return {"cause": NO_ACCOUNT, "message": no_account_message, "field": account, "status": None,
                "command_id": None}
    waiting = document.get(WAITING_FOR) or {}
    if waiting.get("due"):
        return {"cause": WAITING_FOR, "status": None, "command_id": None, "field": None, "message": (
            f"the document waits for {waiting.get('lookup')}, which the flow has not seen (a record it must look "
            "up: its party, by the id its row names), so it is not sent; it goes on when that arrives: check that "
            "the record exists in its system and that its changes are captured (`isthmus topics trace`)")}
    return None


def origin_status(document: Mapping[str, Any], now: Mapping[str, Any] | None, *, refused: str,
                  blocked: str) -> str | None:
    """The status the origin shows while ``now`` holds the document: ``refused`` for a refused create, ``blocked``
    for a blocked party, None for the other causes and for a status the flow file does not give (the origin keeps
    its own)."""
    if now is None:
        return None
    if document.get("hold"):
        return refused or None
    return (blocked or None) if now["cause"] == PARTY_BLOCKED else None


def record(*, key: str, entity_type: str, flow: str, origin: str, target: str, now: Mapping[str, Any] | None,
           before: Mapping[str, Any] | None, origin_status: str | None, at: dt.datetime) -> dict[str, Any]:
    """The Avro ``Hold`` of a change from ``before`` to ``now`` (None: not held)."""
    if now is not None:
        return {"entity_key": key, "entity_type": entity_type, "state": "held", "cause": now["cause"],
                "message": now["message"], "field": now.get("field"), "status": now.get("status"), "flow": flow,
                "origin": origin, "target": target, "origin_status": origin_status,
                "command_id": now.get("command_id"), "at": at}
    assert before is not None
    return {"entity_key": key, "entity_type": entity_type, "state": "released", "cause": before["cause"],
            "message": f"{before['cause']} cleared: the document goes on to {target}", "field": before.get("field"),
            "status": before.get("status"), "flow": flow, "origin": origin, "target": target, "origin_status": None,
            "command_id": before.get("command_id"), "at": at}
