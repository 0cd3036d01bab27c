"""Session login with re-login on expiry (401/403 by default), shared by every call of one adapter: the shared
session of :mod:`streams.sinks.adapters.session`, its header made from the login's answer."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from streams.config.secret import Secret
from streams.sinks.adapters.jsonrpc.config import LoginSpec
from streams.sinks.adapters.mapping import MISSING, get_path
from streams.sinks.adapters.session import LoginFailed, Obtained
from streams.sinks.adapters.session import Session as CallSession
from streams.sinks.outcomes import Failed

#: Logs in: the login call's result, or the failure that kept it from one.
LoginCall = Callable[[], Awaitable["Any | Failed"]]

__all__ = ["LoginCall", "LoginFailed", "Session", "session_header"]


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


class Session(CallSession):
    """The session of a JSON-RPC login (see :mod:`streams.sinks.adapters.session`): its header is rendered from
    the login's result by the login's ``token``."""

    def __init__(self, spec: LoginSpec, *, user: str, login: LoginCall) -> None:
        self.spec = spec
        self.user = user

        async def obtain() -> Obtained | Failed:
            answered = await login()
            if isinstance(answered, Failed):
                return answered
            try:
                return Obtained(Secret(session_header(spec, user, answered)))
            except ValueError as exc:
                return Failed(kind="permanent", error_type="LoginUnreadable",
                              reason=f"the login ({spec.method}) answered without a session: {exc}; check "
                                     "login.token in the target file")

        super().__init__(header=spec.header, obtain=obtain)
