"""The target refusing Isthmus's credentials (401, 403; a SQL target's server refusing its account's login or a
grant, :mod:`streams.sinks.adapters.sql_access`): not any command's fault, so no command is dead-lettered for it.
Delivery retries as in an outage (the circuit breaker, backoff); this says so once per refusal, at ERROR, naming
the system, the status, the target's words and where the credential comes from, and keeps the state the sink's
metrics and summary show."""

from __future__ import annotations

import dataclasses
import logging

from streams.sinks.config.model import Credential, TargetConfig
from streams.sinks.outcomes import CREDENTIAL_STATUSES, Attempt, Failed

log = logging.getLogger("isthmus.sink")


#: What takes a new credential: the sink reads its target's credentials when it starts.
RESTART = ", then restart the sink"


def credential_source(config: TargetConfig) -> str:
    """Where the target file takes the credential the target refuses, and what takes a new one: an HTTP route's
    ``http.auth`` secret, a SQL target's password, else the adapter's own section."""
    if config.sql is not None:
        if config.sql.conninfo_env:
            return (f"the password in environment variable {config.sql.conninfo_env} (sql.conninfo_env, "
                    f"{config.path}){RESTART}")
        return ("the database server's password in endpoints.databases (ISTHMUS_ENDPOINTS_DATABASES or the --config "
                "file; on the local stack its secrets file, <home>/secrets/stack.properties): one given as "
                "${file:<path>:<key>}, as the local stack's is, is read again for each new connection, with no "
                "restart; any other takes a restart of the sink")
    auth = config.http.auth if config.http is not None else None
    if auth is None:
        return f"the credentials in the {config.adapter} section of {config.path}{RESTART}"
    line = f":{auth.line}" if auth.line else ""
    if auth.oauth2 is not None:
        spec = auth.oauth2
        return (f"client_id {spec.oauth_client_id.shown()} and client_secret {spec.client_secret.shown()} for the "
                f"OAuth2 token from {spec.token_url} (http.auth.oauth2, {config.path}{line}){RESTART}")
    looked = Credential(env=auth.env, secret=auth.secret).shown()
    return f"{looked} (http.auth, header {auth.header}, {config.path}{line}){RESTART}"


class CredentialRefusals:
    """Whether the target refuses the credentials now; ``outages`` and ``answers`` count the refusals."""

    def __init__(self, config: TargetConfig) -> None:
        self.system = config.system.upper()
        self.source = credential_source(config)
        #: A SQL target's failures carry an HTTP status for delivery's sake alone: its reason says what the server said.
        self._status = config.sql is None
        self.refused: Failed | None = None
        self.outages = 0
        self.answers = 0
        #: Answers past the credential check so far: the credentials worked for those calls.
        self.accepted = 0

    @property
    def refusing(self) -> bool:
        return self.refused is not None

    def observe(self, outcome: Attempt) -> None:
        """One answer of the target: a 401 or 403 begins (or continues) a refusal; an answer past the target's
        credential check ends it (a success, or a permanent or conflict failure), while a throttle, an outage or
        no answer says nothing about the credentials (a gateway answers 429 before it checks them)."""
        if isinstance(outcome, Failed) and outcome.status in CREDENTIAL_STATUSES:
            self.answers += 1
            if self.refused is None:
                self.outages += 1
                log.error("sink %s: %s refuses Isthmus's credentials%s: %s; no command is dead-lettered for it: "
                          "each waits and is retried until they work. Fix: check %s", self.system.lower(),
                          self.system, f" ({outcome.status})" if self._status else "", outcome.reason, self.source)
            self.refused = outcome
            return
        if not isinstance(outcome, Failed) or outcome.kind != "transient":
            self.accepted += 1
            if self.refused is not None:
                log.warning("sink %s: %s accepts Isthmus's credentials again", self.system.lower(), self.system)
                self.refused = None

    def forbidden_here(self, outcome: Failed) -> Failed:
        """A 403 to a command whose earlier try got one too while the target accepted other calls in between: it
        forbids this call, not Isthmus (a record the credentials may not touch), so it is no outage: permanent,
        dead-lettered with the target's words, and no refusal of the credentials."""
        self.refused = None
        return dataclasses.replace(outcome, kind="permanent", reason=(
            f"{outcome.reason}; {self.system} accepted Isthmus's credentials for other calls meanwhile, so it forbids "
            f"this one; fix: grant the permission in {self.system}, then replay the dead letter"))
