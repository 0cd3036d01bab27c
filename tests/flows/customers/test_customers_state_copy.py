"""An entity's copy (the undo of a scope, :mod:`~streams.flows.engine.objects`) holds every field of the state and
of its mirrors, passed in their order: a field added, or moved, must not be lost or land in another's place."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from streams.flows.customers.mirror import Mirror
from streams.flows.customers.state import CustomerState

AT = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)


def _distinct(cls: type, **given: Any) -> dict[str, Any]:
    """A value for every field of ``cls``, each told apart from the others: a mutable field a container of its own
    type holding the field's name, any other its name (or ``given``)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in given:
            values[f.name] = given[f.name]
        elif f.default_factory is dict:  # type: ignore[comparison-overlap]
            values[f.name] = {f.name: [f.name]}
        elif f.default_factory is set:  # type: ignore[comparison-overlap]
            values[f.name] = {f.name}
        else:
            values[f.name] = f.name
    return values


#: Fields a copy shares: the configuration's, never changed.
SHARED = {"holds", "config"}


def _check(original: Any, copied: Any) -> None:
    for f in dataclasses.fields(original):
        mine, theirs = getattr(original, f.name), getattr(copied, f.name)
        assert theirs == mine, f.name
        if isinstance(mine, (dict, set, list)) and f.name not in SHARED:
            assert theirs is not mine, f"{f.name} is shared, not copied"


def test_a_mirror_copy_holds_every_field() -> None:
    mirror = Mirror(**_distinct(Mirror, pending={"name": ["a", "b"]}, present=True))
    copied = mirror.copy()
    _check(mirror, copied)
    assert copied.pending["name"] is not mirror.pending["name"]


def test_a_state_copy_holds_every_field() -> None:
    mirror = Mirror(**_distinct(Mirror, system="crm", present=True))
    state = CustomerState(**_distinct(CustomerState, mirrors={"crm": mirror}, children={"items": {"1": {"a": 1}}},
                                      held=True, unknown_changed=True, deleted_now=frozenset({"erp"})))
    copied = state.copy()
    _check(state, copied)
    assert copied.children["items"] is not state.children["items"]
    assert copied.mirrors["crm"] is not mirror
    _check(mirror, copied.mirrors["crm"])
