"""Roles and tokens: who may see personal data (and, later, act on the dashboard and API).

Three roles, each allowing what the one before does: ``viewer`` reads masked data, ``operator`` may also
act (replay dead letters, restart connectors), ``admin`` may also see personal data unmasked. Tokens come
from ``ISTHMUS_TOKENS`` (``viewer:tok1,admin:tok2``) or, when that is unset, from the stack's secrets folder
(``<home>/secrets/tokens``, the same ``role:token`` pairs, one per line or comma-separated). The caller
gives a token with ``--token`` or ``ISTHMUS_TOKEN``; no token is a viewer. Every denial is written to the
``isthmus.audit`` logger and to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

from streams.inspect.exceptions import AccessDenied, BadTokens

TOKENS_ENV = "ISTHMUS_TOKENS"
TOKEN_ENV = "ISTHMUS_TOKEN"
DOCS: dict[str, str] = {
    TOKENS_ENV: "role:token pairs (viewer:tok1,admin:tok2); default: <home>/secrets/tokens, else none (local use)",
    TOKEN_ENV: "the caller's token for `isthmus topics` (or --token); none is a viewer",
}
TOKENS_FILE = Path("secrets") / "tokens"
AUDIT = logging.getLogger("isthmus.audit")


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Permission(IntEnum):
    """An action and the least role that may take it."""

    READ = Role.VIEWER
    OPERATE = Role.OPERATOR
    SHOW_PII = Role.ADMIN


def _parse(text: str, where: str) -> dict[str, Role]:
    tokens: dict[str, Role] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        for item in (part.strip() for part in line.split(",")):
            if not item:
                continue
            role_name, sep, token = item.partition(":")
            try:
                role = Role[role_name.strip().upper()]
            except KeyError:
                role = None
            if not sep or not token.strip() or role is None:
                shown = role_name.strip() if sep else "<no colon>"
                raise BadTokens(f"{where} line {number}: {shown!r} is not ROLE:TOKEN with ROLE one of "
                                f"{', '.join(r.label for r in Role)}; write e.g. viewer:tok1,admin:tok2")
            if token.strip() in tokens:
                raise BadTokens(f"{where} line {number}: a token is given twice; each token names one role")
            tokens[token.strip()] = role
    return tokens


@dataclass(frozen=True, kw_only=True)
class Caller:
    """Who is asking: the role their token grants, and a safe label for audit lines (never the token)."""

    role: Role
    label: str


@dataclass(frozen=True, kw_only=True)
class AccessPolicy:
    """Tokens by role; :meth:`caller` resolves a token, :meth:`require` enforces a permission."""

    tokens: Mapping[str, Role] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "no tokens configured"

    @classmethod
    def from_env(cls, home: Path | None = None, env: Mapping[str, str] | None = None) -> AccessPolicy:
        env = os.environ if env is None else env
        if env.get(TOKENS_ENV, "").strip():
            return cls(tokens=MappingProxyType(_parse(env[TOKENS_ENV], TOKENS_ENV)), source=TOKENS_ENV)
        if home is not None and (home / TOKENS_FILE).is_file():
            path = home / TOKENS_FILE
            return cls(tokens=MappingProxyType(_parse(path.read_text(encoding="utf-8"), str(path))),
                       source=str(path))
        return cls()

    def caller(self, token: str | None) -> Caller:
        """The caller of ``token``; no token is a viewer; an unknown token is refused and logged."""
        if not token:
            return Caller(role=Role.VIEWER, label="anonymous")
        role = self.tokens.get(token)
        if role is None:
            deny("unknown token", action="authenticate", caller=None,
                 fix=f"give a token configured in {self.source} (--token or {TOKEN_ENV})")
        return Caller(role=role, label=f"{role.label} token #{_index(self.tokens, token)}")

    def require(self, caller: Caller, permission: Permission, *, action: str) -> None:
        if caller.role < Role(permission.value):
            deny(f"role {caller.role.label} may not {action}", action=action, caller=caller,
                 fix=f"use a token of role {Role(permission.value).label} or higher")

    def allows(self, caller: Caller, permission: Permission) -> bool:
        return caller.role >= Role(permission.value)


def _index(tokens: Mapping[str, Role], token: str) -> int:
    return list(tokens).index(token) + 1


def deny(reason: str, *, action: str, caller: Caller | None, fix: str) -> NoReturn:
    """Log the denial (audit logger and stderr) and raise :class:`AccessDenied`."""
    who = caller.label if caller else "unknown token"
    line = f"audit: denied {action} to {who} at {datetime.now(UTC).isoformat()}: {reason}"
    AUDIT.warning(line)
    print(f"isthmus: {line}", file=sys.stderr)
    raise AccessDenied(f"access denied: {reason}; {fix}")


__all__ = ["AUDIT", "TOKENS_ENV", "TOKEN_ENV", "AccessPolicy", "Caller", "Permission", "Role", "deny"]
