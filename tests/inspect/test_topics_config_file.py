"""`isthmus --config FILE topics …` reads Kafka from FILE, as every other command does: the brokers, the security
settings and the name prefixes there, not the local stack's broker under unprefixed names (which, with a stack
running, would be another environment's topics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.cli.main import main
from streams.config.kafka import KafkaSettings
from streams.inspect import admin

pytestmark = pytest.mark.unit


def test_topics_lag_uses_the_config_file_named_on_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ISTHMUS_CONFIG", "ISTHMUS_KAFKA_BOOTSTRAP_SERVERS", "ISTHMUS_KAFKA_TOPIC_PREFIX",
                 "ISTHMUS_KAFKA_GROUP_PREFIX", "ISTHMUS_KAFKA_CLIENT_ID_PREFIX", "ISTHMUS_KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.setenv(name, "")  # recorded, so that the prefixes the command exports are undone afterwards
        monkeypatch.delenv(name)
    config = tmp_path / "prod.yaml"
    config.write_text("kafka:\n  bootstrap_servers: [broker.prod.invalid:9093]\n  topic_prefix: prd.\n"
                      "  group_prefix: prd-\n", encoding="utf-8")
    seen: list[Any] = []

    def lag(bootstrap: KafkaSettings, group: str | None, *, prefix: str) -> list[Any]:
        seen.append((bootstrap, prefix))
        return []

    monkeypatch.setattr(admin, "lag", lag)
    assert main(["--config", str(config), "topics", "lag"]) == 0
    [(bootstrap, prefix)] = seen
    assert bootstrap.bootstrap_servers == ["broker.prod.invalid:9093"]
    assert bootstrap.topic_prefix == "prd." and bootstrap.group_prefix == "prd-"
    # on a cluster shared with other environments, only this one's groups, unless every group is asked for
    assert prefix == "prd-"
    assert "of a group named prd-* (--all-groups: every group)" in capsys.readouterr().err
    assert main(["--config", str(config), "topics", "lag", "--all-groups"]) == 0
    assert seen[-1][1] == ""
