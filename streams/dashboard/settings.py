"""Where the dashboard listens: a section of the runtime settings model (streams/config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from streams.config.exceptions import RuntimeConfigError
from streams.config.section import Section
from streams.dashboard.exceptions import BadDashboardPort


class DashboardSettings(Section):
    """``isthmus dashboard``: its loopback port."""

    NAME: ClassVar[str] = "dashboard"
    ERROR: ClassVar[type[RuntimeConfigError]] = BadDashboardPort
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_DASHBOARD_")

    port: int = Field(18088, ge=1, le=65535, json_schema_extra={"expect": "a port (1-65535)"},
                      description="loopback port of `isthmus dashboard`")


DEFAULT_PORT: int = DashboardSettings.model_fields["port"].default
PORT_ENV = DashboardSettings.env_name("port")


def dashboard_port(env: Mapping[str, str]) -> int:
    return DashboardSettings.from_env(env).port


def dashboard_address(env: Mapping[str, str]) -> str:
    """The dashboard's URL, as ``make demo`` prints it."""
    return f"http://127.0.0.1:{dashboard_port(env)}/"
