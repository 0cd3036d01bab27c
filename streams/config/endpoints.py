"""Where the systems Isthmus reads and writes answer (variables ``ISTHMUS_ENDPOINTS_*``): APIs and databases.

Generic over systems and engines: ``api_urls`` maps a system's name (systems/<name>.yaml) to its HTTP API, which
an http target takes when neither ``ISTHMUS_SINK_BASE_URL`` nor its target file gives one; ``databases`` maps a
database engine (``postgresql``, ``mariadb``, ``mysql``) to the server of that engine, as a libpq connection
string (``host=... port=... user=... password=... dbname=...``, for MariaDB/MySQL too). A ``sql`` target without
``conninfo_env`` writes to its ``database`` on the server of its system's engine; snapshot signals and the
daily re-sync write their rows through the server of the connector's engine. The connection strings hold
passwords: they are secrets (printed ``***``). A password may be Kafka Connect's reference to a properties file,
``password=${file:<path>:<key>}``, read again each time a connection string is made (``dsn``), so a password
rotated in that file reaches every new connection with no restart. The local stack offers its reference APIs,
its two servers (their passwords so, from its secrets file) and its secrets file (streams/stack/offer.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pymysql
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from streams.config import references
from streams.config.exceptions import RuntimeConfigError
from streams.config.section import Section

#: The engines ``databases`` may name (streams.systems.Engine's values).
ENGINES = ("postgresql", "mariadb", "mysql")


class EndpointError(RuntimeConfigError):
    """An endpoint is needed but not set."""


class EndpointSettings(Section):
    """The systems' API URLs, the database server of each engine, and the secrets file targets read."""

    NAME: ClassVar[str] = "endpoints"
    ERROR: ClassVar[type[EndpointError]] = EndpointError
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_ENDPOINTS_")

    api_urls: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"default": "(none)"},
        description="system name: its HTTP API, for an http target without base_url (the environment's form: a "
        "JSON object); default: the local stack's reference APIs")
    databases: dict[str, SecretStr] = Field(
        default_factory=dict, json_schema_extra={"default": "(none)"},
        description=f"engine ({', '.join(ENGINES)}): its server as a libpq string host=... port=... user=... "
        "password=... [dbname=...] (secret; the environment's form: a JSON object), for sql targets, snapshot "
        "signals and the re-sync; default: the local stack's servers")
    secrets_file: Path | None = Field(None, description="a Java properties file of the targets' secrets (a "
                                      "target's `secret:` key); default: the local stack's secrets file")

    @field_validator("api_urls")
    @classmethod
    def _http(cls, urls: dict[str, str]) -> dict[str, str]:
        for system, url in urls.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{system}: {url!r} is not an http(s) URL; give e.g. https://api.example.com")
        return {system: url.rstrip("/") for system, url in urls.items()}

    @field_validator("databases")
    @classmethod
    def _conninfo(cls, databases: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for engine, dsn in databases.items():
            if engine not in ENGINES:
                raise ValueError(f"{engine!r} is not a database engine; use {', '.join(ENGINES)}")
            try:
                psycopg.conninfo.conninfo_to_dict(dsn.get_secret_value())
            except psycopg.ProgrammingError:
                raise ValueError(f"{engine}: not a libpq connection string; write host=... port=... user=... "
                                 "password=... dbname=...") from None
        return databases

    def shown(self, field: str) -> str | None:
        if field == "databases":
            return ",".join(f"{engine}=***" for engine in self.databases)
        return super().shown(field)

    def api_url(self, system: str) -> str | None:
        """``system``'s API URL, or None when none is set."""
        return self.api_urls.get(system)

    def dsn(self, engine: str, database: str | None = None) -> str:
        """The server of ``engine``, on ``database`` when given; EndpointError naming the setting when unset."""
        value = self.databases.get(engine)
        if value is None:
            raise EndpointError(
                f"no {engine} server to connect to; fix: set {self.env_name('databases')} (a JSON object, e.g. "
                f'{{"{engine}": "host=... port=... user=... password=..."}}) or endpoints.databases.{engine} in '
                "the --config file, or run the local stack (isthmus up), which offers its own")
        return resolved(value.get_secret_value(), f"{self.env_name('databases')} ({engine})", database)

    def connect_postgresql(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection to the PostgreSQL server (on ``dbname``, else the string's database)."""
        return psycopg.connect(self.dsn("postgresql", dbname), **kwargs)

    def connect_mariadb(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        """A connection to the MariaDB server (on ``database``, else the string's)."""
        return pymysql.connect(**mysql_connect(self.dsn("mariadb", database)), **kwargs)


def resolved(conninfo: str, key: str, database: str | None = None) -> str:
    """``conninfo`` (on ``database`` when given) with its password's ``${file:<path>:<key>}`` or ``${env:NAME}``
    read now; an EndpointError naming ``key`` (the setting) when it cannot be."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    if database:
        parts["dbname"] = database
    if parts.get("password"):
        parts["password"] = references.resolve(str(parts["password"]), key=key, environ=os.environ,
                                               error=EndpointError)
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in parts.items() if v is not None})


def mysql_connect(conninfo: str) -> dict[str, Any]:
    """PyMySQL's keywords of a libpq-style string (port 3306 unless given; no password: empty)."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    connect: dict[str, Any] = {"host": parts.get("host", "localhost"), "port": int(str(parts.get("port") or 3306)),
                               "user": parts.get("user"), "password": parts.get("password") or "",
                               "database": parts.get("dbname")}
    timeout = parts.get("connect_timeout")
    if timeout is not None:
        connect["connect_timeout"] = int(str(timeout))
    return connect
