"""Origin edits of a document its target already has: the flow file's ``update: {while: [<target statuses>]}``.

A created document is *linked* once the target's CDC shows it with its ``link``. From then on, an origin change
of its lines or of a header field the origin owns that makes its *content* differ from what was last sent goes
to the target as one ``update`` of the whole document (its record with all its lines, as the create's payload;
the same entity key), while the target's status, as its CDC last said, is one of ``while``. The content is the
canonical record without what the origin does not own: the ``write_back`` fields, the header fields its mapping
gives the target, and the ``updated`` stamp; so the origin's report of a written-back value (an echo) sends
nothing. What was last sent is a digest in the document's state (``sent_digest``; for a document created before
this was kept, the digest of the create it sent), written with the command in the flow's transaction: a replay,
an echo or a restart sends nothing again. An edit made while the create is on its way goes once the target shows
the document.

The content is judged once per document per step (a source transaction's header and lines together), and only
when the step changed the document's lines or a header column its content reads (``content_columns``), an edit
waits for the link, or an edit is held: the create itself, the target's status, the origin's echo of it, a party
change or a balance costs no digest. A flow file without ``update:`` never
comes here.

An edit the target cannot take is held, never dropped silently (a ``Hold``, :mod:`streams.flows.orders.holds`):

- ``locked``: the target's status is not one of ``while`` (the ERP shipped the order);
- ``refused`` (or ``too_big``): the target refused the update as a business state (a route's ``refusals``: the
  order no longer editable when the update arrived, its stock short; or over the target's limits).

Either is released when the origin's content is again what was sent (the edit undone), or when the document is
cancelled (the origin asks for its cancel, or the target shows the cancel status; a cancel held as below takes the
edit's place). A refused edit that the
origin edits again goes as it is then; a locked one goes once the target's status allows it again.

An origin cancel (or delete) of a document whose target status is not one of the flow file's ``cancel.while`` nor
the cancel status (the ERP shipped the order) is not sent, and held the same way (``locked``, :func:`cancel_held`):
the target's status is not written back over the origin's cancel meanwhile. It is released when the origin takes
the cancel back, or the target's status allows the cancel (then sent) or is the cancel status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from streams.flows.commands import Cause, Command, payload_json
from streams.flows.orders.config import DocumentConfig
from streams.flows.orders.holds import LOCKED, Refusal
from streams.flows.orders.state import State

#: Document state keys: the digest of the content last sent, an edit waiting for the link, the edit held, the
#: update on its way (its key, digest and the digest before it), and how many updates were sent.
SENT, UNSENT, HELD, IN_FLIGHT, COUNT = "sent_digest", "unsent_edit", "update_hold", "update_sent", "updates"
#: Document state key: the origin's cancel held, as the target's status takes none.
CANCEL_HELD = "cancel_hold"


def content_digest(config: DocumentConfig, record: Mapping[str, Any]) -> str:
    """A digest of what the origin owns of ``record`` (a document's canonical record, or a create's payload)."""
    left_out = config.not_content
    content = {field: value for field, value in record.items() if field not in left_out}
    return hashlib.sha256(payload_json(content).encode()).hexdigest()[:32]


def _sent(config: DocumentConfig, document: Mapping[str, Any]) -> str | None:
    """The digest of the content the target was last sent, None when the flow sent it nothing it knows of."""
    digest = document.get(SENT)
    if digest is not None:
        return str(digest)
    created = document.get("create_sent")
    return None if created is None else content_digest(config, State.load(created["payload"]))


def locked_message(config: DocumentConfig, status: Any) -> str:
    origin, target = config.origin_system, config.target_system
    return (f"the document was edited in {origin} after {target} took it, and {target} holds it as {status}, "
            f"where it takes no edit (update.while: {', '.join(config.update_while)}), so the edit is not sent: "
            f"undo it in {origin} (the document as {target} has it), cancel the document, or make the change in "
            f"{target} by hand; the hold is released when {origin} shows the document as it was sent")


def cancel_held(config: DocumentConfig, document: dict[str, Any], target: Mapping[str, Any] | None) -> bool:
    """Whether the origin's cancel of the document is held (and so held in ``document``, its state): the target
    has it, in a status that is neither one of ``cancel.while`` nor the cancel status; releases it otherwise."""
    status = None if target is None else target.get(config.status)
    if (document.get("cancel_requested") and target is not None and status not in config.cancel_while
            and status != config.cancel_status):
        origin, target_system = config.origin_system, config.target_system
        message = (f"the document was cancelled (or deleted) in {origin}, but {target_system} holds it as {status}, "
                   f"where it takes no cancel (cancel.while: {', '.join(config.cancel_while)}), so the cancel is not "
                   f"sent and {origin} keeps its cancel: cancel or return the document in {target_system} by hand, "
                   f"or take the cancel back in {origin}; the hold is released when either shows the other's status")
        document[CANCEL_HELD] = {"cause": LOCKED, "message": message,
                                 "field": config.status, "status": None, "command_id": None}
        return True
    document.pop(CANCEL_HELD, None)
    return False


def decide(config: DocumentConfig, document: dict[str, Any], number: str, record: Mapping[str, Any],
           target: Mapping[str, Any] | None, cause: Cause, *, edited: bool) -> Command | None:
    """The ``update`` document ``number`` needs now (marked sent in ``document``, its state), or None; holds or
    releases an edit the target cannot take. ``record``: its canonical record; ``target``: the target's values
    of it (None while it has not shown it); ``cause``: the origin change the update answers; ``edited``: this
    step changed it in its origin."""
    if document.get("cancel_requested") or (target is not None and target.get(config.status) == config.cancel_status):
        document.pop(HELD, None)  # cancelled: its edits no longer matter
        document.pop(UNSENT, None)
        return None
    if target is None or target.get(config.link) is None:
        if edited and document.get("created"):
            document[UNSENT] = True  # the create is on its way: the edit goes once the target shows the document
        return None
    if not (edited or document.get(UNSENT) or document.get(HELD)):
        return None
    document.pop(UNSENT, None)
    digest = content_digest(config, record)
    sent = _sent(config, document)
    if sent is None or digest == sent:
        # as sent (or the flow sent nothing it knows of: what the target has is taken as sent)
        document.update({SENT: digest})
        document.pop(HELD, None)
        return None
    document[SENT] = sent
    status = target.get(config.status)
    held = document.get(HELD)
    if status not in config.update_while:
        document[HELD] = {"cause": LOCKED, "message": locked_message(config, status), "field": config.status,
                          "status": None, "command_id": None, "digest": digest}
        return None
    if held and held["cause"] != LOCKED and held.get("digest") == digest:
        return None  # the target refused this very content: held until the origin changes it
    count = int(document.get(COUNT) or 0) + 1
    update = Command(target=config.target_system, operation="update", entity_type=config.header.target,
                     entity_key=number, payload_type=config.header.target, payload=record, cause=cause,
                     correlation_id=number, part=f"edit{count}", reads_refusals=True)
    document.update({COUNT: count, SENT: digest,
                     IN_FLIGHT: {"key": update.idempotency_key, "digest": digest, "previous": sent}})
    document.pop(HELD, None)
    return update


def refused(document: dict[str, Any], refusal: Refusal) -> bool:
    """The target refused an update (``refusal``); True when it is the one last sent of ``document`` (its state,
    changed: what was sent before stands, and the edit is held until the origin changes it), False for an older
    one."""
    sent = document.get(IN_FLIGHT) or {}
    if sent.get("key") != refusal.idempotency_key:
        return False
    document[SENT] = sent["previous"]
    document[HELD] = {**refusal.to_state(), "digest": sent["digest"]}
    del document[IN_FLIGHT]
    return True
