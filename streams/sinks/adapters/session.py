"""Credentials obtained by a call (a login, an OAuth2 token request), shared by every call of one adapter: obtained
before the first call, renewed before they expire and when a call is answered "expired".

The first call obtains them; later calls send the header. A call answered "expired" hands back the generation of
the header it sent: the first such call obtains new credentials and the others, which sent the same stale header,
wait for them rather than each obtaining its own (a hundred commands in flight when a session expires make one
login, not a hundred). A call whose header is already newer just retries. Credentials that say how long they last
are renewed ahead of that, by the first call that finds them due, the others waiting for it; a renewal that fails
while the credentials still last keeps them (tried again a few seconds later), so a token endpoint's hiccup costs
no command. The header's value is a :class:`~streams.config.secret.Secret`: it is never logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from streams.config.secret import Secret
from streams.sinks.exceptions import SinkError
from streams.sinks.outcomes import Failed

#: After a renewal ahead of expiry failed, the credentials in hand are used this long before it is tried again.
RETRY_RENEWAL_S = 5.0


@dataclass(frozen=True)
class Obtained:
    """New credentials: the header's value and, when known, the seconds they last from when they were asked for."""

    value: Secret
    lasts_s: float | None = None


#: Obtains credentials: new ones, or the failure that kept the call from them.
Obtain = Callable[[], Awaitable["Obtained | Failed"]]


class LoginFailed(Exception):
    def __init__(self, failed: Failed) -> None:
        super().__init__(failed.reason)
        self.failed = failed

    def of_command(self, system: str) -> Failed:
        """What a command's attempt comes to: transient (no command's fault), with the status of the refusal, so a
        401 or 403 counts as the target refusing Isthmus's credentials (``streams.sinks.credentials``)."""
        return Failed(kind="transient", error_type="LoginFailed", status=self.failed.status,
                      reason=f"could not log in to {system} to apply the command: {self.failed.reason}")


class LoginRefused(SinkError):
    """The target refused the sink's login when the worker started (or ``isthmus sink --check`` tried it)."""


class Session:
    """The current header and its generation (0: none yet). ``refresh_before_s``: how long before credentials
    that last ``lasts_s`` expire they are renewed (at most half their life, so short-lived ones are not renewed at
    every call)."""

    def __init__(self, *, header: str, obtain: Obtain, refresh_before_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.header = header
        self._obtain = obtain
        self._refresh_before_s = refresh_before_s
        self._clock = clock
        self._value: Secret | None = None
        self._generation = 0
        #: When the credentials in hand are renewed (None: only when refused), and when they expire.
        self._renew_at: float | None = None
        self._expires_at: float | None = None
        #: Why the last try failed, for the calls that waited for it.
        self._failed: Failed | None = None
        self._failures = 0
        self._lock = asyncio.Lock()
        self.logins = 0

    async def current(self) -> tuple[int, Mapping[str, str]]:
        """The header to send and its generation; obtains credentials first when there are none or they are due."""
        if self._value is None or self._due():
            await self._renew(self._generation)
        assert self._value is not None
        return self._generation, {self.header: self._value.reveal()}

    async def expired(self, generation: int) -> None:
        """The credentials of ``generation`` were refused: obtain new ones, unless newer ones already exist."""
        await self._renew(generation, refused=True)

    def _due(self) -> bool:
        return self._renew_at is not None and self._clock() >= self._renew_at

    async def _renew(self, seen: int, *, refused: bool = False) -> None:
        failures = self._failures
        async with self._lock:
            if self._value is not None and (self._generation != seen or not (refused or self._due())):
                return  # another call renewed them since this one looked
            if self._failures != failures and self._failed is not None:
                raise LoginFailed(self._failed)  # another call failed to while this one waited: so does this one
            asked = self._clock()
            self.logins += 1
            got = await self._obtain()
            if isinstance(got, Failed):
                if (not refused and self._value is not None and self._expires_at is not None
                        and self._clock() < self._expires_at):
                    self._renew_at = self._clock() + RETRY_RENEWAL_S  # they still last: keep them for now
                    return
                self._value = self._renew_at = self._expires_at = None
                self._failed = got
                self._failures += 1
                raise LoginFailed(got)
            self._value, self._failed = got.value, None
            self._generation += 1
            if got.lasts_s is None:
                self._renew_at = self._expires_at = None
            else:
                self._expires_at = asked + got.lasts_s
                self._renew_at = self._expires_at - min(self._refresh_before_s, got.lasts_s / 2)
