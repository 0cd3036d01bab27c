"""The value of a target's auth header, from an environment variable or the stack's secrets file; and the values
a login sends (a user and password, an OAuth2 client's id and secret), read the same way."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from streams.config.secret import Secret
from streams.sinks.config.model import AuthSpec, Credential
from streams.sinks.exceptions import SecretMissing


def _properties(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def auth_header(spec: AuthSpec | None, *, env: Mapping[str, str], secrets_file: Path | None,
                where: str) -> tuple[str, Secret] | None:
    """``(header name, value)``; None when the spec is absent, or optional and unset, or OAuth2's (its value is the
    token the adapter obtains). ``where``: the target file, which a missing secret's error names with the line of the
    auth entry."""
    if spec is None or spec.oauth2 is not None:
        return None
    value = env.get(spec.env) if spec.env else None
    if not value and spec.secret and secrets_file is not None:
        value = _properties(secrets_file).get(spec.secret)
    if not value:
        if not spec.required:
            return None
        looked = [f"environment variable {spec.env}"] if spec.env else []
        if spec.secret:
            looked.append(f"key {spec.secret} of {secrets_file or 'the stack secrets file'}")
        line = f":{spec.line}" if spec.line else ""
        raise SecretMissing(f"{where}{line}: auth header {spec.header} needs a secret and found none in "
                            f"{' or '.join(looked)}; fix: set it there, or mark the auth required: false")
    text = f"{spec.scheme} {value}" if spec.scheme else value
    return spec.header, Secret(text)


def secret_value(env_name: str | None, secret_key: str | None, *, env: Mapping[str, str],
                 secrets_file: Path | None) -> str | None:
    """A secret from environment variable ``env_name``, else key ``secret_key`` of the stack's secrets file."""
    value = env.get(env_name) if env_name else None
    if not value and secret_key and secrets_file is not None:
        value = _properties(secrets_file).get(secret_key)
    return value or None


def credential_value(spec: Credential, *, env: Mapping[str, str], secrets_file: Path | None, where: str) -> str:
    """The value of a login's credential: its constant, else from its environment variable or secrets file key;
    a missing one raises :class:`SecretMissing` naming ``where`` (the file, line and key) and where it looked."""
    if spec.constant is not None:
        return spec.constant
    value = secret_value(spec.env, spec.secret, env=env, secrets_file=secrets_file)
    if not value:
        looked = [f"environment variable {spec.env}"] if spec.env else []
        if spec.secret:
            looked.append(f"key {spec.secret} of {secrets_file or 'the stack secrets file'}")
        raise SecretMissing(f"{where}: found no value in {' or '.join(looked)}; fix: set it there")
    return value
