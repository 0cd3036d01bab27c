"""The Kafka Connect cluster's REST API (variables ``ISTHMUS_CONNECT_*``): URLs, basic auth, TLS."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from streams.config.kafka import _split, load_client_certificate, read_secret_files
from streams.config.section import Section


class ConnectSettings(Section):
    """Where Kafka Connect's REST API answers and how to log in to it."""

    NAME: ClassVar[str] = "connect"
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_CONNECT_")

    urls: Annotated[list[str], NoDecode] = Field(
        min_length=1, description="REST URL(s) of the Connect workers, comma-separated; the first that answers "
        "is used (any worker forwards to the leader); default: the local stack's Connect")
    username: str | None = Field(None, description="basic-auth user of the REST API")
    password: SecretStr | None = Field(None, description="basic-auth password (secret)")
    password_file: Path | None = Field(None, description="a file holding the basic-auth password")
    ssl_cafile: Path | None = Field(None, description="PEM CA of an https REST API; default: the system's")
    ssl_certfile: Path | None = Field(None, description="PEM client certificate, for mutual TLS")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate")
    ssl_key_password: SecretStr | None = Field(None, description="password of the private key, if encrypted (secret)")
    ssl_key_password_file: Path | None = Field(None, description="a file holding the private key's password")

    _split_urls = field_validator("urls", mode="before")(_split)

    @field_validator("urls")
    @classmethod
    def _http(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL (e.g. https://connect.example.com:8083)")
        return [url.rstrip("/") for url in urls]

    @model_validator(mode="before")
    @classmethod
    def _secret_file(cls, data: Any) -> Any:
        return read_secret_files(data, {"password": "Connect password", "ssl_key_password": "Connect key password"})

    @model_validator(mode="after")
    def _consistent(self) -> ConnectSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password (or password_file)")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("mutual TLS needs both ssl_certfile and ssl_keyfile")
        return self

    def http_options(self) -> dict[str, Any]:
        """The keywords of the httpx client of the REST API: basic auth and TLS verification."""
        options: dict[str, Any] = {}
        if self.username is not None and self.password is not None:
            options["auth"] = (self.username, self.password.get_secret_value())
        if self.ssl_cafile or self.ssl_certfile:
            context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
            if self.ssl_certfile and self.ssl_keyfile:
                load_client_certificate(context, self.ssl_certfile, self.ssl_keyfile, self.ssl_key_password,
                                        ConnectSettings)
            options["verify"] = context
        return options
