"""Sink settings from the environment: defaults, overrides, and every bad value named at once."""

from __future__ import annotations

import pytest

from streams.sinks.exceptions import SinkSettingsError
from streams.sinks.settings import SinkSettings


def test_defaults_without_environment() -> None:
    settings = SinkSettings.from_env({})
    assert settings.concurrency == 1024 and settings.max_in_flight == 4096
    assert settings.transient_deadline_s is None
    resolved = settings.for_system("erp")
    assert resolved.command_topic == "isthmus.commands.erp"
    assert resolved.results_topic == "isthmus.results.erp"
    assert resolved.dlq_topic == "isthmus.dlq"
    assert resolved.group_id == resolved.transactional_id == "isthmus-sink-erp"


def test_every_setting_is_documented_with_its_variable() -> None:
    settings = SinkSettings.from_env({})
    for name, info in SinkSettings.model_fields.items():
        assert SinkSettings.env_name(name).startswith("ISTHMUS_SINK_") and info.description
        settings.shown(name)  # every field has a printable value


def test_overrides_are_read() -> None:
    settings = SinkSettings.from_env({"ISTHMUS_SINK_CONCURRENCY": "4", "ISTHMUS_SINK_TRANSIENT_DEADLINE_S": "90",
                                      "ISTHMUS_SINK_BASE_URL": "http://127.0.0.1:9/", "ISTHMUS_SINK_RETRY_JITTER": "0",
                                      "ISTHMUS_SINK_COMMAND_TOPIC": "x.commands"})
    assert settings.concurrency == 4 and settings.transient_deadline_s == 90.0
    assert settings.base_url == "http://127.0.0.1:9/" and settings.retry_jitter == 0.0  # kept as given
    assert settings.for_system("crm").command_topic == "x.commands"


def test_every_bad_value_is_named_with_its_default() -> None:
    with pytest.raises(SinkSettingsError) as caught:
        SinkSettings.from_env({"ISTHMUS_SINK_CONCURRENCY": "many", "ISTHMUS_SINK_RETRY_JITTER": "2",
                               "ISTHMUS_SINK_TRANSIENT_DEADLINE_S": "-1", "ISTHMUS_SINK_BASE_URL": "ftp://x",
                               "ISTHMUS_SINK_RETRY_MULTIPLIER": "0.5"})
    message = str(caught.value)
    assert "ISTHMUS_SINK_CONCURRENCY: 'many' is not a whole number above 0; fix it or unset it to use 1024" in message
    assert "ISTHMUS_SINK_RETRY_JITTER: '2' is not a number between 0 and 1" in message
    assert "ISTHMUS_SINK_TRANSIENT_DEADLINE_S: '-1' is not a number above 0; fix it or unset it to use never" in message
    assert "ISTHMUS_SINK_BASE_URL: 'ftp://x' is not an http(s) URL" in message
    assert "ISTHMUS_SINK_RETRY_MULTIPLIER: '0.5' is not a number at least 1" in message


def test_settings_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(SinkSettingsError, match=r"CONCURRENCY \(50\) is above ISTHMUS_SINK_MAX_IN_FLIGHT \(10\)"):
        SinkSettings.from_env({"ISTHMUS_SINK_CONCURRENCY": "50", "ISTHMUS_SINK_MAX_IN_FLIGHT": "10"})
    with pytest.raises(SinkSettingsError, match=r"RETRY_BASE_S \(9\.0\) is above"):
        SinkSettings.from_env({"ISTHMUS_SINK_RETRY_BASE_S": "9", "ISTHMUS_SINK_RETRY_MAX_S": "1"})
