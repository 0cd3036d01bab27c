"""Session login with re-login on expiry, shared by every call of one adapter.

The first call logs in; later calls send the session header. A call answered "expired" (401/403 by default)
hands back the generation of the header it sent: the first such call logs in again and the others, which sent
the same stale header, wait for that login rather than each logging in (a hundred commands in flight when a
session expires make one login, not a hundred). A call whose header is already newer just retries.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from streams.config.secret import Secret
from streams.sinks.adapters.jsonrpc.config import LoginSpec
from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.outcomes import Failed

#: Logs in: the login call's result, or the failure that kept it from one.
LoginCall = Callable[[], Awaitable["Any | Failed"]]


class LoginFailed(Exception):
    def __init__(self, failed: Failed) -> None:
        super().__init__(failed.reason)
        self.failed = failed


def session_header(spec: LoginSpec, user: str, result: Any) -> str:
    """``<scheme> <token>``, the token's ``{$user}`` and ``{result...}`` filled from the login's answer (Tryton:
    ``Session base64(user:result.0:result.1)``). Raises ValueError when the answer lacks a part."""
    context = {"$user": user, "result": result}
    token = spec.token
    start = token.find("{")
    while start != -1:
        end = token.index("}", start)
        name = token[start + 1:end]
        value = get_path(context, name) if name != "$user" else user
        if value is MISSING or value is None or isinstance(value, (dict, list)):
            raise ValueError(f"the login's answer has no single value at {name}: {result!r:.200}")
        token = token[:start] + str(value) + token[end + 1:]
        start = token.find("{", start + len(str(value)))
    if spec.encode == "base64":
        token = base64.b64encode(token.encode()).decode("ascii")
    return f"{spec.scheme} {token}" if spec.scheme else token


class Session:
    """The current session header and its generation (0: none yet)."""

    def __init__(self, spec: LoginSpec, *, user: str, login: LoginCall) -> None:
        self.spec = spec
        self.user = user
        self._login = login
        self._header: Secret | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self.logins = 0

    async def current(self) -> tuple[int, Mapping[str, str]]:
        """The header to send and its generation; logs in first when there is no session."""
        if self._header is None:
            await self._renew(0)
        assert self._header is not None
        return self._generation, {self.spec.header: self._header.reveal()}

    async def expired(self, generation: int) -> None:
        """The session of ``generation`` was refused: log in again, unless a newer session already exists."""
        await self._renew(generation)

    async def _renew(self, seen: int) -> None:
        async with self._lock:
            if self._generation != seen and self._header is not None:
                return  # another call logged in since this one took its header
            self.logins += 1
            answered = await self._login()
            if isinstance(answered, Failed):
                self._header = None
                raise LoginFailed(answered)
            try:
                header = session_header(self.spec, self.user, answered)
            except ValueError as exc:
                self._header = None
                raise LoginFailed(Failed(kind="permanent", error_type="LoginUnreadable",
                                         reason=f"the login ({self.spec.method}) answered without a session: {exc};"
                                                " check login.token in the target file")) from None
            self._header = Secret(header)
            self._generation += 1
