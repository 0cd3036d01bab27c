"""A SQL target's server refusing the sink's account rather than a command: its login (a password rotated on the
server, an account expired or locked, a host it may not log in from) or a privilege its grants lack. No command
is at fault, so none is dead-lettered: the failure is transient, with the status an HTTP target answers for the
same (401 a login, 403 a grant), which delivery takes for a refusal of Isthmus's credentials
(:mod:`streams.sinks.credentials`): every command waits behind the circuit breaker and is retried, the refusal is
said once at ERROR and shown by ``isthmus_sink_credentials_refused``. A grant missing on one table while other
writes go through is a 403 to one record: its commands are dead-lettered then, saying to grant it and replay.
"""

from __future__ import annotations

from pathlib import Path

from streams.errors import exception_text
from streams.sinks.adapters.session import LoginRefused
from streams.sinks.exceptions import SinkError, TargetUnreachable
from streams.sinks.outcomes import Failed

#: The server refused the account's login (HTTP's 401), or a privilege to a logged-in account (HTTP's 403).
LOGIN, GRANT = 401, 403


def access_refused(status: int, exc: BaseException, *, engine: str, shown: str, user: object) -> Failed:
    """The refusal of ``user`` by ``engine`` server ``shown`` (``host:port/database``), with the driver's words and
    what to do."""
    words = exception_text(exc)
    if status == LOGIN:
        reason = (f"{engine} {shown} refuses the login of user {user} ({words}): its password changed on the server "
                  "(rotated?), or the account expired, is locked or may not log in from this host; fix: give "
                  "Isthmus the account's current password, or unlock the account")
    else:
        reason = (f"{engine} {shown} denies user {user} a privilege ({words}); fix: GRANT it to {user} (the target's "
                  "tables and its keys table need SELECT, INSERT, UPDATE and DELETE)")
    return Failed(kind="transient", status=status, error_type=type(exc).__name__, reason=reason)


def not_started(path: Path, exc: BaseException, access: int | None, *, engine: str, shown: str,
                user: object) -> SinkError:
    """Why the sink of a SQL target cannot start, or ``isthmus sink --check`` log in: its account refused
    (``access``: ``LOGIN`` or ``GRANT``) or its server not reached (``exc``, the driver's failure to connect). The
    worker stops then, as it does when an API refuses its login, rather than wait with nothing said."""
    if access is not None:
        return LoginRefused(f"{path}: {access_refused(access, exc, engine=engine, shown=shown, user=user).reason}")
    return TargetUnreachable(f"{path}: {engine} {shown} cannot be reached ({exception_text(exc)}); fix: start the "
                             "database, or correct the target's connection settings, then start the sink again")
