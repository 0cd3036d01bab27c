"""Who calls the dashboard: a bearer token or the login cookie, resolved by the shared roles of streams.inspect.roles.

With no tokens configured (neither ISTHMUS_TOKENS nor <home>/secrets/tokens) the dashboard trusts its local
caller fully, as ``isthmus topics`` does: it listens on loopback only, and that user's secrets folder already
holds the database passwords. With tokens configured, a request without a token is a viewer.
"""

from __future__ import annotations

from aiohttp import web

from streams.inspect.roles import AccessPolicy, Caller, Role

COOKIE = "isthmus_token"
LOCAL = Caller(role=Role.ADMIN, label="local user (no tokens configured)")


def token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def caller_of(request: web.Request, policy: AccessPolicy) -> Caller:
    """The caller; an unknown token raises AccessDenied (and is audited)."""
    if not policy.tokens:
        return LOCAL
    return policy.caller(token_of(request))
