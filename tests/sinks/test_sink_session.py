"""The session of credentials obtained by a call (``streams.sinks.adapters.session``), shared by the JSON-RPC
login and the HTTP adapter's OAuth2 token: renewed ahead of expiry, kept while a renewal fails and they still last,
and one renewal (or one failure) for every call waiting for it. A fake clock stands in for time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from streams.config.secret import Secret
from streams.sinks.adapters.session import LoginFailed, Obtained, Session
from streams.sinks.outcomes import Failed

pytestmark = pytest.mark.unit


def session_of(answers: list[Obtained | Failed], clock: Callable[[], float], before: float = 30) -> Session:
    async def obtain() -> Obtained | Failed:
        await asyncio.sleep(0.01)  # the request: the other calls come meanwhile
        return answers.pop(0)

    return Session(header="Authorization", obtain=obtain, refresh_before_s=before, clock=clock)


def test_a_renewal_ahead_of_expiry_that_fails_keeps_the_token_while_it_lasts() -> None:
    now = [0.0]
    down = Failed(kind="transient", reason="the token endpoint is down")
    session = session_of([Obtained(Secret("Bearer a"), lasts_s=100), down, down, Obtained(Secret("Bearer b"), 100)],
                         lambda: now[0])

    async def run() -> list[str]:
        seen = [(await session.current())[1]["Authorization"]]
        now[0] = 75.0  # due (30 s before expiry): the renewal fails, the token still lasts
        seen.append((await session.current())[1]["Authorization"])
        now[0] = 76.0  # within the pause after a failed renewal: no request
        seen.append((await session.current())[1]["Authorization"])
        now[0] = 101.0  # expired, and the endpoint still down: the calls fail
        with pytest.raises(LoginFailed, match="down"):
            await session.current()
        seen.append((await session.current())[1]["Authorization"])
        return seen

    assert asyncio.run(run()) == ["Bearer a", "Bearer a", "Bearer a", "Bearer b"]
    assert session.logins == 4


def test_a_short_lived_token_is_renewed_at_half_its_life_and_calls_waiting_share_a_failure() -> None:
    now = [0.0]
    refused = Failed(kind="permanent", status=401, reason="invalid_client")
    session = session_of([Obtained(Secret("Bearer a"), lasts_s=20), refused], lambda: now[0])

    async def run() -> int:
        await session.current()
        now[0] = 9.0
        await session.current()  # 20 s token, renewed 30 s before: at 10 s, not at every call
        assert session.logins == 1
        now[0] = 21.0  # expired, and the renewal refused: every call waiting for it fails with it
        results = await asyncio.gather(*(session.current() for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, LoginFailed) for r in results)
        return session.logins

    assert asyncio.run(run()) == 2  # five calls waiting for one refused renewal: one request
