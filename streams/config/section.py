"""The base of every settings section: a pydantic-settings class whose fields each name their variable.

A section is one concern's settings (Kafka, Kafka Connect, folders, one process's knobs). Each field is
written once, with its default and its description; its environment variable is the section's prefix plus
the field's name in upper case (``ISTHMUS_KAFKA_`` + ``bootstrap_servers``). Adding a setting is adding a
field. Sections are validated by :mod:`streams.config.model`, which layers the sources and records where
each value came from; a section is never built from ``os.environ`` behind the caller's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict


class Section(BaseSettings):
    """One concern's settings; subclasses set ``model_config`` with their ``env_prefix`` and a ``NAME``."""

    #: The section's key in a ``--config`` file and in ``isthmus config show``.
    NAME: ClassVar[str] = ""
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_ignore_empty=True, case_sensitive=False)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable of ``field``."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The values ``env`` sets for this section's fields, decoded as pydantic-settings decodes them (each
        variable once, empty ones ignored); not validated yet."""
        source = EnvSettingsSource(cls)
        source.env_vars = {k.lower(): v for k, v in env.items() if v.strip()}
        return dict(source())

    def shown(self, field: str) -> str | None:
        """``field``'s value as ``config show`` prints it: secrets as ``***``, lists comma-joined."""
        value = getattr(self, field)
        if value is None:
            return None
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, list | tuple | frozenset):
            return ",".join(str(v) for v in value)
        return str(value)
