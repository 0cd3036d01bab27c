"""Local against deployed configs, with secrets masked."""

from __future__ import annotations

from streams.capture.diff import MASK, diff_configs

PG = "io.debezium.connector.postgresql.PostgresConnector"
REFERENCE = "${file:/home/secrets/stack.properties:crm.db.password}"


def test_identical_configs_are_unchanged() -> None:
    config = {"name": "c", "connector.class": PG, "database.password": REFERENCE}
    diff = diff_configs("c", config, dict(config))
    assert diff.unchanged and diff.state == "unchanged" and diff.changes == ()


def test_not_deployed_lists_every_key_as_added_with_literals_masked() -> None:
    diff = diff_configs("c", {"connector.class": PG, "database.password": "pw", "slot.name": "s"}, None)
    assert diff.state == "not deployed" and not diff.unchanged
    assert {c.key: (c.kind, c.local) for c in diff.changes} == {
        "connector.class": ("add", PG), "database.password": ("add", MASK), "slot.name": ("add", "s")}


def test_changes_additions_and_removals() -> None:
    local = {"connector.class": PG, "slot.name": "a", "heartbeat.interval.ms": "10000"}
    deployed = {"connector.class": PG, "slot.name": "b", "snapshot.mode": "initial"}
    diff = diff_configs("c", local, deployed)
    assert [(c.key, c.kind, c.local, c.deployed) for c in diff.changes] == [
        ("heartbeat.interval.ms", "add", "10000", None),
        ("slot.name", "change", "a", "b"),
        ("snapshot.mode", "remove", None, "initial"),
    ]
    assert [str(c) for c in diff.changes] == [
        "+ heartbeat.interval.ms = 10000", "~ slot.name: b -> a", "- snapshot.mode = initial"]


def test_a_literal_secret_deployed_by_hand_is_masked_but_the_change_shown() -> None:
    diff = diff_configs("c", {"connector.class": PG, "database.password": REFERENCE},
                        {"connector.class": PG, "database.password": "hunter2"})
    [change] = diff.changes
    assert (change.kind, change.local, change.deployed) == ("change", REFERENCE, MASK)
    assert "hunter2" not in str(diff.to_json())


def test_secret_names_are_masked_for_classes_we_do_not_know() -> None:
    diff = diff_configs("c", {"connector.class": "x.Y", "sasl.jaas.config": "user=a password=b"}, None)
    assert {c.key: c.local for c in diff.changes}["sasl.jaas.config"] == MASK
