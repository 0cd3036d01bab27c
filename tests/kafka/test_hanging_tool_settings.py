"""The hanging-transaction tool is found through ``kafka.tools_dir``, a runtime setting, not the stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config.kafka import KafkaSettings
from streams.kafka.hanging import HangingTransactionToolError, TransactionsTool

pytestmark = pytest.mark.unit


def test_the_tool_runs_from_the_configured_folder_against_every_broker(tmp_path: Path) -> None:
    kafka = KafkaSettings.model_validate({"bootstrap_servers": "b1:9092,b2:9092", "tools_dir": str(tmp_path)})
    tool = TransactionsTool.for_kafka(kafka)
    assert tool.kafka_jars == tmp_path and tool.bootstrap_servers == "b1:9092,b2:9092"


def test_no_folder_names_the_setting_to_set() -> None:
    with pytest.raises(HangingTransactionToolError, match="ISTHMUS_KAFKA_TOOLS_DIR"):
        TransactionsTool.for_kafka(KafkaSettings.plain("b1:9092"))
