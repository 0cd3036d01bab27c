"""The test cluster's ACLs keep each principal to its own names (issue 16, item 3)."""

from __future__ import annotations

from streams.stack.cluster.acls import OWN_PREFIX, connect_grants, isthmus_grants

CHANGES = ("crm.", "erp.")


def test_isthmus_owns_only_its_prefix_and_reads_the_change_topics() -> None:
    grants = isthmus_grants("isthmus", CHANGES)
    owned = {(g.resource, g.name) for g in grants if g.operation == "all"}
    assert owned == {("topic", OWN_PREFIX), ("group", OWN_PREFIX), ("transactional_id", OWN_PREFIX)}
    reads = {(g.name, g.operation) for g in grants if g.operation != "all"}
    assert reads == {(p, op) for p in CHANGES for op in ("read", "describe", "create")}
    assert all(g.pattern == "prefixed" and g.resource != "cluster" for g in grants)


def test_connect_never_touches_what_isthmus_owns() -> None:
    grants = connect_grants("connect", "sc-connect", CHANGES)
    named = [g for g in grants if g.resource != "cluster"]
    assert named and not [g for g in named if g.name.startswith(OWN_PREFIX) or OWN_PREFIX.startswith(g.name)]
    assert {g.operation for g in grants if g.resource == "cluster"} == {"describe", "describe_configs",
                                                                       "idempotent_write"}
