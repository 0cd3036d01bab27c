"""OAuth2 client credentials (RFC 6749 4.4) for an HTTP target's ``http.auth.oauth2``: the token request, and the
session that keeps its token (:mod:`streams.sinks.adapters.session`: obtained at start, renewed before it expires
and once when a call is answered 401, one request for every call that needs it). Neither the client's secret nor
the token is ever logged or put in a reason: a refusal names the token URL, the status and the endpoint's
``error`` and ``error_description``."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from streams.config.secret import Secret
from streams.errors import exception_text
from streams.sinks.adapters.auth import credential_value
from streams.sinks.adapters.session import Obtained, Session
from streams.sinks.config.model import AuthSpec, OAuth2Spec
from streams.sinks.outcomes import CREDENTIAL_STATUSES, Failed, answer_text, classify_status

#: The status a refused token request counts as for the command that needed it: the target refusing Isthmus's
#: credentials (``streams.sinks.credentials``), whichever 4xx the endpoint chose (RFC 6749 5.2 allows 400).
REFUSED = 401


class TokenRequest:
    """``POST token_url`` with the client's credentials, from the file's sources (read once, at build)."""

    def __init__(self, auth: AuthSpec, *, client: httpx.AsyncClient, env: Mapping[str, str],
                 secrets_file: Path | None, where: str, timeout_s: float) -> None:
        spec = auth.oauth2
        assert spec is not None
        self.spec: OAuth2Spec = spec
        self.scheme = auth.scheme
        self._client = client
        self._timeout_s = timeout_s
        key = f"{where}:{auth.line}: http.auth.oauth2" if auth.line else f"{where}: http.auth.oauth2"
        self._id = credential_value(spec.oauth_client_id, env=env, secrets_file=secrets_file,
                                    where=f"{key}.client_id")
        self._secret = Secret(credential_value(spec.client_secret, env=env, secrets_file=secrets_file,
                                               where=f"{key}.client_secret"))

    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers of the request: the client's secret in the form, or as HTTP Basic (its id and secret
        form-encoded first, as RFC 6749 2.3.1 says)."""
        form = {"grant_type": "client_credentials"}
        headers = {"Accept": "application/json"}
        if self.spec.client_auth == "basic":
            pair = f"{quote(self._id, safe='')}:{quote(self._secret.reveal(), safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form.update({"client_id": self._id, "client_secret": self._secret.reveal()})
        if self.spec.scope:
            form["scope"] = self.spec.scope
        if self.spec.audience:
            form["audience"] = self.spec.audience
        return form, headers

    async def __call__(self) -> Obtained | Failed:
        url = self.spec.token_url
        form, headers = self._form()
        try:
            response = await self._client.post(url, data=form, headers=headers)
        except httpx.TransportError as exc:
            said = (f"no answer within {self._timeout_s:g} s" if isinstance(exc, httpx.TimeoutException)
                    else f"no answer: {exception_text(exc)}")
            return Failed(kind="transient", error_type=type(exc).__name__, call=f"POST {url}",
                          reason=f"the OAuth2 token request to {url} got {said}")
        status = response.status_code
        answer = _json(response)
        kind = classify_status(status)
        if kind is None:
            return self._token(status, answer)
        said = _error(answer) if isinstance(answer, Mapping) else answer_text(response.text or None, 300)
        refused = kind != "transient" or status in CREDENTIAL_STATUSES
        return Failed(kind="permanent" if refused else "transient", status=REFUSED if refused else status,
                      error_type="TokenRefused" if refused else f"Http{status}", call=f"POST {url}",
                      reason=f"the OAuth2 token request to {url} {'was refused' if refused else 'failed'}: "
                             f"{status} {said}")

    def _token(self, status: int, answer: Any) -> Obtained | Failed:
        url = self.spec.token_url
        token = answer.get("access_token") if isinstance(answer, Mapping) else None
        if not isinstance(token, str) or not token:
            held = ", ".join(sorted(map(str, answer))) if isinstance(answer, Mapping) else type(answer).__name__
            return Failed(kind="permanent", error_type="TokenUnreadable", call=f"POST {url}",
                          reason=f"the OAuth2 token request to {url} answered {status} without an access_token (it "
                                 f"holds {held or 'nothing'}); check token_url")
        value = f"{self.scheme} {token}" if self.scheme else token
        return Obtained(Secret(value), lasts_s=_seconds(answer.get("expires_in")))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _error(answer: Mapping[str, Any]) -> str:
    """RFC 6749 5.2's ``error`` and ``error_description`` (else the answer, cut), never an echo of a token."""
    words = [str(answer[k]) for k in ("error", "error_description") if answer.get(k)]
    return ": ".join(words) if words else answer_text({k: v for k, v in answer.items() if "token" not in k}, 300)


def _seconds(value: Any) -> float | None:
    """``expires_in`` in seconds; None (renewed only when refused) when absent or unreadable."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def oauth2_session(auth: AuthSpec, *, client: httpx.AsyncClient, env: Mapping[str, str], secrets_file: Path | None,
                   where: str, timeout_s: float) -> Session:
    """The session of an ``http.auth.oauth2`` (its sources read now: a missing secret stops the build)."""
    request = TokenRequest(auth, client=client, env=env, secrets_file=secrets_file, where=where, timeout_s=timeout_s)
    assert auth.oauth2 is not None
    return Session(header=auth.header, obtain=request, refresh_before_s=auth.oauth2.refresh_before_s)
