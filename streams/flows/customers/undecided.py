"""The entities of a group whose decision fails, and the changes that go with them.

The entity flow folds the changes of a group (a source transaction, or a part of one past the flow's
``transaction_limit``: :mod:`.txnet`) in one isolated scope and decides once per entity they touched. A decision
that fails (a command's payload that does not fit its schema, a field its target cannot take) is the problem of
that entity and of the changes folded into it, not of the group: the scope is undone, and the group is folded and
decided again without those changes (:class:`Undecided` names them), which are dead-lettered, each with its own
reason (:func:`left_out`). The other entities are decided as if those changes were not in the transaction; a
change that folded into a failing entity and another one is left out of both, and the other is decided without it.
Nothing of a left-out change stays in the stores but the mark that its row's next change claims every field
(:mod:`.missed`); replayed once the cause is fixed, the changes apply alone, in their order, like any replay.

A reason names the change's position and the entity's failure first, then at most :data:`LISTED` positions of the
changes dead-lettered with it and their count: each of a part of 2,000 changes carried every position of the part
before (36 KB each, 140 MB of reasons for one part).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from streams.flows.engine.api import Incoming, OutputTooLarge, Rejected

#: The most positions a reason lists (then how many more there are).
LISTED = 20


def listed(positions: Sequence[str]) -> str:
    """``positions``, the first :data:`LISTED` of them, then how many more."""
    more = len(positions) - LISTED
    return ", ".join(positions[:LISTED]) + (f" and {more} more" if more > 0 else "")


class Undecided(Exception):
    """The entities of a group whose decision failed: raised out of the group's scope (which undoes it) with the
    changes to leave out of it, by position, each with the rejection that dead-letters it. A signal between the
    flow's methods, never raised out of the flow."""

    def __init__(self, reasons: Mapping[str, Rejected]) -> None:
        super().__init__(f"{len(reasons)} change(s) to leave out of their group")
        self.reasons = dict(reasons)


def left_out(failed: Mapping[str, Exception], folded: Sequence[tuple[Incoming, Collection[str]]], size: int, *,
             part: bool, stage: str) -> dict[str, Rejected] | None:
    """The rejection (under ``stage``) of each change, by position, that ``folded`` (each change of the group with
    the entities it touched) shows touched an entity of ``failed`` (each with why its decision failed); ``size``:
    how many changes the group has; ``part``: the group is a part of its source transaction. None when a failure
    names no entity the group's changes touched: then no change can be left out for it."""
    touching: dict[str, list[str]] = {}
    for record, keys in folded:
        for key in keys:
            if key in failed:
                touching.setdefault(key, []).append(record.position)
    if set(failed) - set(touching):
        return None
    whose = "this part of its source transaction" if part else "its source transaction"
    left = {position for positions in touching.values() for position in positions}
    reasons: dict[str, Rejected] = {}
    for record, keys in folded:
        failing = [key for key in keys if key in failed]
        if not failing or record.position in reasons:
            continue
        key = failing[0]
        if size == 1:
            reason = f"{record.position}: cannot decide on this change: {failed[key]}"
        else:
            others = "".join(f"; cannot decide on {other} either: {failed[other]}" for other in failing[1:])
            with_it = touching[key]
            reason = (f"{record.position}: cannot decide on {key}: {failed[key]}{others}; dead-lettered with it: "
                      f"{len(with_it)} change(s) of entity {key} ({listed(with_it)}); the other {size - len(left)} "
                      f"change(s) of {whose} went on without them; once the cause is fixed, replay these in their "
                      "order")
        reasons[record.position] = _rejection(reason, failed[key], stage)
    return reasons


def _rejection(reason: str, failure: Exception, stage: str) -> Rejected:
    """A left-out change's rejection: of the type of the entity's failure when that is a rejection (a command too
    large for the worker stays an ``OutputTooLarge``, its dead letter's ``error_type``)."""
    if isinstance(failure, OutputTooLarge):
        rejection: Rejected = failure.naming((), stage=stage)
        rejection.reason = reason
        return rejection
    return Rejected(reason, stage=stage)
