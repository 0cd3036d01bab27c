"""aiokafka's ERROR for every failed connection to a broker, turned into a few lines that say Kafka is unreachable.

With Kafka down, each client of a worker or sink retries its connections continuously, and aiokafka logs every
failure at ERROR (``Unable connect to node with id 1: ...``): a trial's worker logged 7,442 such lines in about
40 s, a sink 1,536, and no line said Kafka was unreachable. :class:`UnreachableKafka` lowers those records to DEBUG
and says instead, on the ``isthmus.kafka`` logger:

- one WARNING when the first connection fails, naming the bootstrap servers and the error;
- while failures go on, a WARNING at most every :data:`SUMMARY_EVERY_S` with how long and how many attempts failed;
- one INFO once no connection has failed for :data:`QUIET_S` (a client with Kafka down retries many times a second,
  so a quiet spell means its connections succeed again), with the outage's length and attempts.

The summaries and the INFO come from :meth:`UnreachableKafka.check`, which :func:`keep_checking` calls every few
seconds in a worker and a sink. A worker's /ready and /health read :meth:`UnreachableKafka.unreachable_s`
(streams/worker/web.py). :func:`watch_connections` installs the filter once (every ``isthmus`` command does,
:func:`streams.cli.main.main`) and names the servers in its lines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from streams.kafka.log_filters import install_once

#: The logger of aiokafka's client, which logs each failed connection: aiokafka/client.py's
#: ``log = logging.getLogger("aiokafka")``, not its module's name. A filter sees only the records of the logger it is
#: installed on (never a parent's), so on ``aiokafka.client`` it saw none of them: a trial's worker logged 15,165
#: aiokafka ERRORs in 13 s of Kafka down, and no WARNING, while /ready stayed 200.
CLIENT_LOGGER = "aiokafka"
#: aiokafka's messages of a failed connection: to a broker of the metadata, to a bootstrap server, and the metadata
#: request that none of them answered.
FAILURES = frozenset({"Unable connect to node with id %s: %s", 'Unable connect to "%s:%s": %s',
                      "Unable to update metadata from %s"})
#: Seconds between two summary lines while the connections keep failing.
SUMMARY_EVERY_S = 30.0
#: Seconds without a failed connection after which Kafka is reachable again.
QUIET_S = 10.0

log = logging.getLogger("isthmus.kafka")

#: Parts of aiokafka's connection errors that mean the brokers answered and refused this client (not that they are
#: down), with what to check: a trial's worker, its SCRAM password rotated, logged only "Kafka still unreachable ...
#: failed connection attempts" for minutes, and an untrusted CA read the same.
REFUSALS: tuple[tuple[str, str], ...] = (
    ("SaslAuthenticationFailed",
     "the brokers refuse the SASL login: check ISTHMUS_KAFKA_SASL_USERNAME, ISTHMUS_KAFKA_SASL_MECHANISM and the "
     "password (ISTHMUS_KAFKA_SASL_PASSWORD or _PASSWORD_FILE); a process reads the password when it starts, so "
     "restart it after a rotation"),
    ("CERTIFICATE_VERIFY_FAILED",
     "the brokers' TLS certificate is not trusted: ISTHMUS_KAFKA_SSL_CAFILE must hold the CA that signed it (or "
     "the system's CAs must, when it is unset); ISTHMUS_KAFKA_SSL_CHECK_HOSTNAME checks the host name too"),
)


def refusal(error: str) -> str | None:
    """What to check when a failed connection's ``error`` is a refusal by the brokers (:data:`REFUSALS`); None when
    it is not one (a broker down, a wrong address)."""
    return next((fix for part, fix in REFUSALS if part in error), None)


class UnreachableKafka(logging.Filter):
    """Lowers aiokafka's failed-connection records (:data:`FAILURES`) to DEBUG and says what they mean (see the
    module); every other record passes as it is."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.servers = "its bootstrap servers"
        self._clock = clock
        #: When the connections began to fail (None: they do not), the last failure, and the failures since.
        self.since: float | None = None
        self.last_failure = 0.0
        self.attempts = 0
        #: aiokafka's text of the last failed connection.
        self.last_error = ""
        self._said_at = 0.0
        self._said_attempts = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in FAILURES:
            return True
        self.failed(record.getMessage())
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def failed(self, error: str) -> None:
        """A connection failed (aiokafka's ``error``)."""
        now = self._clock()
        self.last_failure = now
        self.last_error = error
        if self.since is None:
            self.since, self.attempts, self._said_at, self._said_attempts = now, 1, now, 1
            log.warning("Kafka unreachable: cannot connect to %s (%s)%s; the clients keep retrying, and the failed "
                        "attempts are counted here every %.0f s", self.servers, error, self._fix(), SUMMARY_EVERY_S)
            return
        self.attempts += 1
        self.check()

    def check(self) -> None:
        """Say how the outage goes (at most every :data:`SUMMARY_EVERY_S`), or that it is over (no failure for
        :data:`QUIET_S`)."""
        if self.since is None:
            return
        now = self._clock()
        if now - self.last_failure >= QUIET_S:
            log.info("Kafka reachable again at %s after %.0f s unreachable (%d failed connection attempts)",
                     self.servers, self.last_failure - self.since, self.attempts)
            self.since = None
        elif now - self._said_at >= SUMMARY_EVERY_S:
            log.warning("Kafka still unreachable at %s for %.0f s: %d failed connection attempts in the last %.0f s%s",
                        self.servers, now - self.since, self.attempts - self._said_attempts, now - self._said_at,
                        self._last_refusal())
            self._said_at, self._said_attempts = now, self.attempts

    def unreachable_s(self) -> float | None:
        """How long the connections have failed (None: they do not)."""
        self.check()
        return None if self.since is None else self._clock() - self.since

    def reason(self) -> str | None:
        """Why Kafka is unreachable, for /ready and /health (None: it is not)."""
        unreachable = self.unreachable_s()
        return None if unreachable is None else (f"Kafka unreachable at {self.servers} for {unreachable:.0f} s "
                                                 f"({self.attempts} failed connection attempts){self._last_refusal()}")

    def refused(self) -> str | None:
        """The last failed connection's error and what to check, when the brokers refused it (None otherwise)."""
        fix = refusal(self.last_error) if self.since is not None else None
        return None if fix is None else f"{self.last_error}: {fix}"

    def _fix(self) -> str:
        fix = refusal(self.last_error)
        return "" if fix is None else f": {fix}"

    def _last_refusal(self) -> str:
        refused = self.refused()
        return "" if refused is None else f"; the last one was refused ({refused})"


def refused_now(logger: logging.Logger | None = None) -> str | None:
    """:meth:`UnreachableKafka.refused` of the filter :func:`watch_connections` installed (None: none is, or the
    connections do not fail by a refusal)."""
    for found in (logger or logging.getLogger(CLIENT_LOGGER)).filters:
        if isinstance(found, UnreachableKafka):
            return found.refused()
    return None


#: aiokafka's consumer loggers, which log a request that found the broker's connection down (``NodeNotReadyError``)
#: at ERROR: each fetch and each coordinator look-up of every flow's consumer, thousands while Kafka is down (a trial's
#: worker: 3,163 ``Failed fetch messages from 1: NodeNotReadyError`` and 2,994 ``Group Coordinator Request failed``).
CONSUMER_LOGGERS = ("aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator")
#: Their messages of such a request, and the errors that mean the connection is down rather than a refusal.
NOT_READY = frozenset({"Failed fetch messages from %s: %s", "Group Coordinator Request failed: %s"})
DOWN_ERRORS = frozenset({"NodeNotReadyError", "KafkaConnectionError"})


class NotReadyWhileUnreachable(logging.Filter):
    """While :attr:`watching` says Kafka is unreachable, lowers the consumers' failed requests of a connection that is
    down (:data:`NOT_READY` with an error of :data:`DOWN_ERRORS`) to DEBUG: the unreachable WARNINGs say it once. Any
    other record, and these at any other time, pass as they are."""

    def __init__(self) -> None:
        super().__init__()
        self.watching: UnreachableKafka | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if (record.msg not in NOT_READY or not args or type(args[-1]).__name__ not in DOWN_ERRORS
                or self.watching is None or self.watching.since is None):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def watch_connections(servers: Sequence[str] = (), logger: logging.Logger | None = None) -> UnreachableKafka:
    """Install :class:`UnreachableKafka` on aiokafka's client logger (or ``logger``), once, and
    :class:`NotReadyWhileUnreachable` on its consumer loggers; ``servers``: the bootstrap servers its lines name.
    The filter installed."""
    watching = install_once(logger or logging.getLogger(CLIENT_LOGGER), UnreachableKafka)
    if servers:
        watching.servers = ", ".join(servers)
    for name in CONSUMER_LOGGERS:
        install_once(logging.getLogger(name), NotReadyWhileUnreachable).watching = watching
    return watching


async def keep_checking(watching: UnreachableKafka, every_s: float = 5.0) -> None:
    """Call :meth:`UnreachableKafka.check` every ``every_s`` until cancelled (the summaries are due while no new
    failure is logged too)."""
    while True:
        await asyncio.sleep(every_s)
        watching.check()


__all__ = ["CLIENT_LOGGER", "CONSUMER_LOGGERS", "FAILURES", "NOT_READY", "QUIET_S", "REFUSALS", "SUMMARY_EVERY_S",
           "NotReadyWhileUnreachable", "UnreachableKafka", "keep_checking", "refusal", "refused_now",
           "watch_connections"]
