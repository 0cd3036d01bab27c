"""The one thing a sink asks of an adapter: try to apply this command once, and say what happened."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streams.sinks.outcomes import Attempt
from streams.sinks.records import SinkCommand


class Adapter(Protocol):
    async def start(self) -> None:
        """Open connections and check what can be checked before the first command (tables, secrets)."""

    async def close(self) -> None: ...

    async def attempt(self, command: SinkCommand) -> Attempt:
        """One try, with the command's idempotency key; never raises for a failure of the target."""
        ...

    def describe(self) -> str:
        """Where the adapter writes, for logs (never with a secret)."""
        ...


@runtime_checkable
class LogsIn(Protocol):
    """An adapter whose credentials are obtained by a call (a session login, an OAuth2 token): ``isthmus sink
    --check`` logs in too, so refused credentials are found before the sink runs."""

    async def log_in(self) -> bool:
        """Log in now: True when it did (False: nothing to log in to); refused, raise ``LoginRefused``."""
        ...
