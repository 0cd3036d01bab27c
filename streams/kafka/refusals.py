"""What an authorization error of Kafka means for the one who runs Isthmus: which principal was refused what, and
the ACL to grant (README, "ACLs the principal needs").

aiokafka names only the resource (``TopicAuthorizationFailedError: {'isthmus-customers-entities-changelog'}``,
``TransactionalIdAuthorizationFailed: isthmus-customers-0``); the principal is the one the Kafka settings log in as:
the SASL user, else the client certificate's subject CN (how ``ssl.principal.mapping.rules`` usually map it; without
rules a broker names the whole subject), else ``User:ANONYMOUS``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from streams.config.kafka import KafkaAddress, kafka_settings

#: The kafka-acls option of the resource each authorization error is about.
_RESOURCE = {TopicAuthorizationFailedError: ("topic", "--topic"),
             TransactionalIdAuthorizationFailed: ("transactional id", "--transactional-id"),
             GroupAuthorizationFailedError: ("consumer group", "--group")}


def principal(kafka: KafkaAddress) -> str:
    """The principal the brokers know these settings by, as kafka-acls takes it (``User:isthmus``)."""
    settings = kafka_settings(kafka)
    if settings.sasl_mechanism is not None and settings.sasl_username:
        return f"User:{settings.sasl_username}"
    if settings.ssl_certfile is not None:
        try:
            subject = ssl._ssl._test_decode_cert(str(settings.ssl_certfile))["subject"]  # type: ignore[attr-defined]
        except (OSError, ssl.SSLError, KeyError):
            return f"User:<the subject of {settings.ssl_certfile}>"
        names = [value for rdn in subject for key, value in rdn if key == "commonName"]
        if names:
            return f"User:{names[0]}"
    return "User:ANONYMOUS"


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(refused: BaseException) -> list[str]:
    """The resources an aiokafka authorization error names (a set of topics, or one id)."""
    if not refused.args:
        return []
    named = refused.args[0]
    if isinstance(named, set | frozenset | list | tuple):
        return sorted(str(n) for n in named)
    return [str(named)]


def refusal(exc: BaseException, kafka: KafkaAddress) -> str | None:
    """What ``exc`` (or an exception it was raised from) says Kafka refused, to whom, and the ACL to grant; None when
    it is no authorization error."""
    for refused in _chain(exc):
        if isinstance(refused, ClusterAuthorizationFailedError):
            who = principal(kafka)
            return (f"Kafka refuses the principal {who} an operation on the cluster (CLUSTER_AUTHORIZATION_FAILED); "
                    f"grant it: kafka-acls --bootstrap-server … --add --allow-principal {who} --operation "
                    "IdempotentWrite --operation Describe --cluster")
        for kind, (what, option) in _RESOURCE.items():
            if isinstance(refused, kind):
                who = principal(kafka)
                names = _names(refused) or ["?"]
                grant = " ".join(f"{option} {name}" for name in names)
                return (f"Kafka refuses the principal {who} the {what} {', '.join(names)} ({kind.message}); grant "
                        f"it (README, \"ACLs the principal needs\"): kafka-acls --bootstrap-server … --add "
                        f"--allow-principal {who} --operation All {grant}, or on the name prefix with "
                        "--resource-pattern-type prefixed; an ACL that denies it overrides any that allows it")
    return None
