"""Kafka Connect's config provider references outside Connect: ``${file:<path>:<key>}`` from that Java properties
file, read when resolved (so a changed file is read again), and ``${env:VARIABLE}`` from the environment. The
connector configs hold their database passwords so, and a database server of ``endpoints.databases`` may too;
an error names the setting and the reference, never a resolved value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

REFERENCE = re.compile(r"\$\{(?P<provider>\w+):(?P<body>[^}]*)\}")
#: A Java properties line, ``key=value`` or ``key: value`` (what Connect's FileConfigProvider reads).
_PROPERTY = re.compile(r"^(?P<name>[^=:\s]+)\s*[=:]\s*(?P<value>.*)$")


def resolve(value: str, *, key: str, environ: Mapping[str, str], error: type[Exception] = ValueError,
            where: str = "") -> str:
    """``value`` with every reference replaced; ``error`` is raised naming ``key`` (``where``: the reference's use,
    for the message about a provider Connect alone resolves)."""

    def replace(match: re.Match[str]) -> str:
        provider, body = match["provider"], match["body"]
        if provider == "env":
            if body not in environ:
                raise error(f"{key}: ${{env:{body}}} is not set in the environment; fix: export {body}")
            return environ[body]
        if provider == "file":
            path_text, _, name = body.rpartition(":")
            found = properties(Path(path_text), key, error).get(name)
            if found is None:
                raise error(f"{key}: {path_text} has no key {name!r}; fix: add it, or correct the reference")
            return found
        raise error(f"{key}: config provider {provider!r} cannot be resolved outside Kafka Connect; fix: "
                    f"use ${{file:<path>:<key>}} or ${{env:<VARIABLE>}}{where}")

    return REFERENCE.sub(replace, value)


def properties(path: Path, key: str, error: type[Exception] = ValueError) -> dict[str, str]:
    """The keys and values of a Java properties file; ``error`` naming ``key`` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{key}: cannot read {path}: {exc.strerror}; fix: check the path, or run "
                    "`isthmus up` to create the stack's secrets") from exc
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        match = _PROPERTY.match(line)
        if match and not line.startswith(("#", "!")):
            values[match["name"]] = match["value"]
    return values
