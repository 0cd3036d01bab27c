"""An HTTP target behind OAuth2 client credentials (``http.auth.oauth2``), as most SaaS CRMs and ERPs are: a real
HTTP server on loopback with a token endpoint issuing short-lived tokens and an API that answers 401 to a token
it no longer takes, driven by the real HTTP adapter (and the deliverer, for the refused credentials).

Before, a target file could only name one fixed header whose value was a secret: no file could log in to such an
API (``oauth2`` was not a key of ``auth``), and a token put in a secret stopped working after its few minutes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from ledgerly import CLIENT_ID, CLIENT_SECRET, ENV, SYSTEM, TARGET, Ledgerly, ledgerly

from streams.cli.main import main
from streams.sinks.adapters.http import HttpAdapter
from streams.sinks.config import load_target
from streams.sinks.config.model import TargetConfig
from streams.sinks.credentials import CredentialRefusals
from streams.sinks.exceptions import SinkError, TargetConfigError
from streams.sinks.outcomes import Applied, Failed
from streams.sinks.records import SinkCommand

pytestmark = pytest.mark.unit


def target(tmp_path: Path, api: Ledgerly, extra: str = "") -> TargetConfig:
    path = tmp_path / "ledgerly.yaml"
    path.write_text(TARGET.format(url=api.url, extra=extra), encoding="utf-8")
    return load_target(path, writable=[SYSTEM])


def account(index: int) -> SinkCommand:
    code = f"L-{index:05d}"
    return SinkCommand(command_id=f"c{index}", idempotency_key=f"key-{index}", target=SYSTEM, operation="create",
                       entity_type="Account", entity_key=code, payload_type="isthmus.canonical.Account",
                       payload={"account_code": code, "name": f"Ledger {index}"})


def adapter_of(config: TargetConfig, api: Ledgerly, env: dict[str, str] | None = None) -> HttpAdapter:
    return HttpAdapter(config, base_url=api.url, timeout_s=10, max_connections=8, env=ENV if env is None else env)


def test_the_token_is_obtained_at_start_sent_as_bearer_and_renewed_before_it_expires(tmp_path: Path) -> None:
    """Tokens lasting 2 s, renewed 1 s before: commands over 5 s never meet an expired token (no 401)."""
    with ledgerly(lifetime_s=2.0) as api:
        adapter = adapter_of(target(tmp_path, api, "      refresh_before_s: 1\n"), api)

        async def run() -> list[Any]:
            await adapter.start()
            assert len(api.token_requests) == 1  # at start, before any command
            outcomes = []
            for wave in range(6):
                outcomes += await asyncio.gather(*(adapter.attempt(account(wave * 10 + i)) for i in range(10)))
                await asyncio.sleep(0.8)
            await adapter.close()
            return outcomes

        outcomes = asyncio.run(run())
    assert all(isinstance(o, Applied) for o in outcomes), [o for o in outcomes if not isinstance(o, Applied)]
    assert len(api.accounts) == 60 and api.refused() == 0
    # renewed about every second over ~5 s, one request each time for the ten calls in flight
    assert 3 <= len(api.token_requests) <= 8, len(api.token_requests)
    assert api.token_requests[0] == {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                     "client_secret": CLIENT_SECRET}


def test_a_token_the_api_stops_taking_is_renewed_once_for_all_calls_and_each_call_retried(tmp_path: Path) -> None:
    with ledgerly() as api:
        adapter = adapter_of(target(tmp_path, api), api)

        async def run() -> tuple[list[Any], int]:
            first = await asyncio.gather(*(adapter.attempt(account(i)) for i in range(20)))
            requested = len(api.token_requests)
            api.revoke()  # the provider rotated its keys: the token answers 401 long before its expires_in
            second = await asyncio.gather(*(adapter.attempt(account(100 + i)) for i in range(20)))
            await adapter.close()
            return [*first, *second], requested

        outcomes, requested = asyncio.run(run())
    assert requested == 1  # twenty first calls at once: one token request (no stampede)
    assert all(isinstance(o, Applied) for o in outcomes)
    assert len(api.accounts) == 40 and len(set(api.accounts)) == 40
    assert len(api.token_requests) == 2  # twenty calls refused with one token: one renewal
    assert 1 <= api.refused() <= 20


def test_a_second_401_is_the_target_refusing_the_credentials(tmp_path: Path) -> None:
    """A token the API refuses even freshly issued (the client lacks a grant): one renewal, one retry, then the
    refused-credentials path (transient, held as an outage, never dead-lettered)."""
    with ledgerly() as api:
        config = target(tmp_path, api)
        adapter = adapter_of(config, api)
        api.accept_tokens = False

        async def run() -> Any:
            outcome = await adapter.attempt(account(1))
            await adapter.close()
            return outcome

        outcome = asyncio.run(run())
    refusals = CredentialRefusals(config)
    refusals.observe(outcome)
    assert isinstance(outcome, Failed) and outcome.kind == "transient" and outcome.status == 401
    assert api.calls == [("POST /accounts", 401), ("POST /accounts", 401)] and len(api.token_requests) == 2
    assert refusals.refusing and "client_id environment variable LEDGERLY_CLIENT_ID" in refusals.source
    assert f"token from {api.url}/oauth/token (http.auth.oauth2, " in refusals.source


def test_a_refused_client_stops_the_start_naming_the_url_and_the_error_never_the_secret(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with ledgerly() as api:
        adapter = adapter_of(target(tmp_path, api), api, env={**ENV, "LEDGERLY_CLIENT_SECRET": "wrong-secret"})

        async def run() -> None:
            try:
                await adapter.start()
            finally:
                await adapter.close()

        with pytest.raises(SinkError) as refused:  # LoginRefused
            asyncio.run(run())
    text = str(refused.value)
    assert text.startswith(f"{tmp_path / 'ledgerly.yaml'}:5: the OAuth2 token request to {api.url}/oauth/token was "
                           "refused: 401 invalid_client: Client authentication failed; fix: check the client's id "
                           "(environment variable LEDGERLY_CLIENT_ID) and secret (environment variable "
                           "LEDGERLY_CLIENT_SECRET or key ledgerly.client.secret of the stack secrets file)"), text
    assert "wrong-secret" not in text and "wrong-secret" not in caplog.text


def test_a_token_endpoint_that_is_down_fails_commands_transiently(tmp_path: Path) -> None:
    with ledgerly() as api:
        config = target(tmp_path, api)
    adapter = adapter_of(config, api)  # the server is gone: nothing listens there now

    async def run() -> Any:
        try:
            return await adapter.attempt(account(1))
        finally:
            await adapter.close()

    outcome = asyncio.run(run())
    assert isinstance(outcome, Failed) and outcome.kind == "transient" and outcome.status is None
    assert outcome.reason.startswith(f"could not log in to LEDGERLY to apply the command: the OAuth2 token request "
                                     f"to {api.url}/oauth/token got no answer: ")


def test_basic_client_auth_sends_scope_and_audience_and_the_token_is_never_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    extra = "      client_auth: basic\n      scope: [ledger.read, ledger.write]\n      audience: https://api.ledgerly\n"
    with ledgerly(client_auth="basic") as api:
        adapter = adapter_of(target(tmp_path, api, extra), api)

        async def run() -> Any:
            outcome = await adapter.attempt(account(1))
            api.revoke()
            again = await adapter.attempt(account(2))
            described = adapter.describe()
            await adapter.close()
            return outcome, again, described

        outcome, again, described = asyncio.run(run())
    assert isinstance(outcome, Applied) and isinstance(again, Applied)
    assert api.token_requests[0] == {"grant_type": "client_credentials", "scope": "ledger.read ledger.write",
                                     "audience": "https://api.ledgerly"}
    assert "tok-1" not in caplog.text and "tok-2" not in caplog.text and CLIENT_SECRET not in caplog.text
    assert "LEDGERLY answered 401 to POST /accounts: the OAuth2 token is no longer taken" in caplog.text
    assert described.endswith(f"auth header Authorization: an OAuth2 token from {api.url}/oauth/token)")


def test_sink_check_obtains_a_token_and_reports_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with ledgerly() as api:
        (tmp_path / "erp.yaml").write_text(TARGET.format(url=api.url, extra="").replace("system: ledgerly",
                                                                                        "system: erp"))
        monkeypatch.setenv("ISTHMUS_SINK_TARGETS_DIR", str(tmp_path))
        monkeypatch.setenv("ISTHMUS_HOME", str(tmp_path / "home"))
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        assert main(["sink", "--target", "erp", "--check"]) == 0
        assert "logged in: the target accepted the credentials" in capsys.readouterr().out
        assert len(api.token_requests) == 1
        monkeypatch.setenv("LEDGERLY_CLIENT_SECRET", "wrong-secret")
        assert main(["sink", "--target", "erp", "--check"]) == 2
    err = capsys.readouterr().err
    assert f"erp.yaml:5: the OAuth2 token request to {api.url}/oauth/token was refused: 401 invalid_client" in err
    assert "wrong-secret" not in err


# the file


def refused(tmp_path: Path, auth: str) -> str:
    path = tmp_path / "ledgerly.yaml"
    path.write_text(f"system: ledgerly\nadapter: http\nhttp:\n  auth:\n{auth}routes:\n  - payload_type: Account\n"
                    "    operation: create\n    method: POST\n    path: /accounts\n", encoding="utf-8")
    with pytest.raises(TargetConfigError) as error:
        load_target(path, writable=[SYSTEM])
    return str(error.value)


def test_oauth2_secrets_never_in_the_file_and_every_key_checked_with_its_line(tmp_path: Path) -> None:
    text = refused(tmp_path, "    env: TOKEN\n    oauth2:\n      token_url: /oauth/token\n      client_id: app\n"
                             "      client_secret: hunter2\n      client_auth: header\n      refresh_before_s: -1\n")
    assert "ledgerly.yaml:5: http.auth.env: auth with oauth2 takes no env" in text
    assert "ledgerly.yaml:7: http.auth.oauth2.token_url: '/oauth/token' is not an http(s) URL" in text
    assert "ledgerly.yaml:9: http.auth.oauth2.client_secret: a client secret must never be written in a target " \
           "file" in text
    assert "ledgerly.yaml:10: http.auth.oauth2.client_auth: 'header' is not a way to send the client's " \
           "credentials" in text
    assert "ledgerly.yaml:11: http.auth.oauth2.refresh_before_s: refresh_before_s must be a number of seconds" in text
    assert "hunter2" not in text
    text = refused(tmp_path, "    oauth2:\n      token_url: https://login.example/token\n      client_id: {env: ID}\n"
                             "      audience: x\n      grant: password\n")
    assert "ledgerly.yaml:5: http.auth.oauth2: oauth2 names no client_secret" in text
    assert "ledgerly.yaml:9: http.auth.oauth2.grant: 'grant' is not a key of oauth2" in text


def test_a_file_with_oauth2_loads_with_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ledgerly.yaml"
    path.write_text(TARGET.format(url="https://api.ledgerly.example", extra=""), encoding="utf-8")
    auth = load_target(path, writable=[SYSTEM]).http.auth  # type: ignore[union-attr]
    assert auth is not None and auth.oauth2 is not None
    assert (auth.header, auth.scheme, auth.line) == ("Authorization", "Bearer", 5)
    assert (auth.oauth2.client_auth, auth.oauth2.refresh_before_s, auth.oauth2.scope) == ("body", 30.0, None)
