"""Settings of a reference application, read from ``REFERENCE_*`` environment variables.

Every problem is collected and reported at once, each naming its variable and what to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from reference.common.exceptions import ConfigError
from reference.common.net import is_loopback
from streams.stack.secrets import Secret

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, kw_only=True)
class DatabaseConfig:
    host: str
    port: int
    user: str
    password: Secret
    name: str


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    http_host: str
    http_port: int
    db: DatabaseConfig


@dataclass
class EnvReader:
    """Reads variables from one environment and remembers every problem until ``raise_problems``."""

    env: Mapping[str, str]
    problems: list[str] = field(default_factory=list)

    def text(self, name: str, default: str | None) -> str:
        raw = self.env.get(name, "")
        if raw:
            return raw
        if default is None:
            self.problems.append(f"{name} is not set; set it (there is no default)")
            return ""
        return default

    def port(self, name: str, default: int) -> int:
        raw = self.env.get(name, "")
        if not raw:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            self.problems.append(f"{name}={raw!r} is not a port (1-65535); unset it to use {default}")
            return default
        return int(raw)

    def identifier(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not _NAME.match(value):
            self.problems.append(f"{name}={value!r} is not a database identifier (letters, digits, _); "
                                 f"unset it to use {default!r}")
        return value

    def loopback_host(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not is_loopback(value):
            self.problems.append(f"{name}={value!r} is not a loopback address; the reference apps bind to "
                                 "127.0.0.1, ::1 or localhost only")
        return value

    def raise_problems(self, what: str) -> None:
        if self.problems:
            raise ConfigError(f"invalid {what} settings:\n  " + "\n  ".join(self.problems))


def read_app_config(reader: EnvReader, *, http_port: int, db_port: int, db_name: str) -> AppConfig:
    return AppConfig(
        http_host=reader.loopback_host("REFERENCE_HTTP_HOST", "127.0.0.1"),
        http_port=reader.port("REFERENCE_HTTP_PORT", http_port),
        db=DatabaseConfig(
            host=reader.text("REFERENCE_DB_HOST", "127.0.0.1"),
            port=reader.port("REFERENCE_DB_PORT", db_port),
            user=reader.text("REFERENCE_DB_USER", "isthmus"),
            password=Secret(reader.text("REFERENCE_DB_PASSWORD", None)),
            name=reader.identifier("REFERENCE_DB_NAME", db_name),
        ),
    )
