"""Connector files and overlays are read by the one config reader: a key written twice is refused at its
line, where plain YAML loading kept the last value without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.capture import configs
from streams.capture.exceptions import ConfigError


def test_a_connector_file_that_repeats_an_option_is_refused_at_the_second(config_root: Path) -> None:
    path = config_root / "connectors" / "twice.yaml"
    path.write_text("name: twice\nconfig:\n  connector.class: x\n  tasks.max: 1\n  tasks.max: 2\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        configs.load(config_root, env="local")
    assert str(caught.value) == (f"{path}:5: tasks.max: key 'tasks.max' appears twice (first on line 4); "
                                 "fix: keep one of them")
