"""How every Kafka client of the runtime connects: one settings section and one function of it.

Every producer, consumer and admin client Isthmus builds (aiokafka in the worker, sinks and dashboard;
kafka-python in ``isthmus topics`` and the warehouse loader) takes its connection and security keywords from
:func:`client_kwargs`, a producer from :func:`producer_kwargs` (the same, and its codec); both libraries take the
same names (``bootstrap_servers``, ``security_protocol``, ``sasl_*``, ``ssl_context``, ``compression_type``), so
one function serves both. Kafka's own Java tools (``kafka-transactions``) take the same settings as a client
properties file, :func:`java_client_properties`. A plain ``host:port`` string is still accepted where a client is
built (tests, tools): it means that address over PLAINTEXT, every other setting at its default.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from streams.config.exceptions import RuntimeConfigError, TlsFilesUnusable
from streams.config.section import Section
from streams.kafka.names import PREFIX_PATTERN

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
CompressionType = Literal["none", "gzip", "snappy", "lz4", "zstd"]


def _split(value: Any) -> Any:
    """``a:1, b:2`` (the environment's form) as a list; a list (a config file's) as it is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def read_secret_file(path: Path, what: str) -> SecretStr:
    """The secret kept in ``path`` (a mounted Kubernetes secret, say), without its trailing newline."""
    try:
        return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))
    except OSError as exc:
        raise ValueError(f"cannot read the {what} file {path}: {exc.strerror}; fix the path or its permissions") \
            from None


def read_secret_files(data: Any, secrets: Mapping[str, str]) -> Any:
    """A section's raw values with each secret of ``secrets`` (field -> what it is) read from its ``<field>_file``
    when the value itself is not given."""
    if not isinstance(data, dict):
        return data
    for secret, what in secrets.items():
        path = data.get(f"{secret}_file")
        if path and not data.get(secret):
            data = {**data, secret: read_secret_file(Path(path), what)}
    return data


def load_client_certificate(context: ssl.SSLContext, certfile: Path, keyfile: Path, password: SecretStr | None,
                            section: type[Section]) -> None:
    """Load a client certificate and its key into ``context``; one that cannot be loaded is named with ``section``'s
    settings to check (``ssl_certfile``, ``ssl_keyfile``, ``ssl_key_password_file``), never a prompt for the key's
    password (OpenSSL asks the terminal when none is given, and fails with EINVAL where there is none)."""
    try:
        context.load_cert_chain(str(certfile), str(keyfile), password.get_secret_value() if password else "")
    except (ssl.SSLError, OSError) as exc:
        name = section.env_name
        why = ("the key is encrypted: set its password in " + name("ssl_key_password_file") + " (or _KEY_PASSWORD)"
               if password is None else "the key password (" + name("ssl_key_password_file") + ") does not open "
               "it, or the key is not the certificate's")
        raise RuntimeConfigError(f"cannot load the client key {name('ssl_keyfile')} {keyfile} with the certificate "
                                 f"{name('ssl_certfile')} {certfile} ({exc}): {why}") from None


class KafkaSettings(Section):
    """The Kafka cluster and how to log in to it (variables ``ISTHMUS_KAFKA_*``)."""

    NAME: ClassVar[str] = "kafka"
    #: The name prefixes, which streams/kafka/names.py reads from the environment when it builds a name.
    PREFIXES: ClassVar[tuple[str, ...]] = ("client_id_prefix", "group_prefix", "topic_prefix")
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_KAFKA_")

    bootstrap_servers: Annotated[list[str], NoDecode] = Field(
        min_length=1, description="brokers to bootstrap from, host:port, comma-separated (any host); "
        "default: the local stack's broker")
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, as the brokers' listener")
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required with SASL_*")
    sasl_username: str | None = Field(None, description="the SASL principal's user name")
    sasl_password: SecretStr | None = Field(None, description="the SASL password (secret)")
    sasl_password_file: Path | None = Field(
        None, description="a file holding the SASL password (e.g. a mounted secret), instead of the value")
    ssl_cafile: Path | None = Field(None, description="PEM file of the CA that signed the brokers' certificates; "
                                    "default: the system's trust store")
    ssl_certfile: Path | None = Field(None, description="PEM client certificate, for mutual TLS")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate")
    ssl_key_password: SecretStr | None = Field(None, description="password of the private key, if encrypted (secret)")
    ssl_key_password_file: Path | None = Field(None, description="a file holding the private key's password")
    ssl_check_hostname: bool = Field(True, description="check the brokers' host names against their certificates")
    replication_factor: int = Field(1, ge=1, le=32767, description="replication factor of the topics Isthmus "
                                    "creates (3 on a production cluster)")
    min_insync_replicas: int | None = Field(None, ge=1, description="min.insync.replicas of the topics Isthmus "
                                            "creates; default: the broker's")
    client_id_prefix: str = Field("", description="prefix of every client.id Isthmus sets (worker, sinks, loader, "
                                  "dashboard, `isthmus topics`); default: none")
    group_prefix: str = Field("", description="prefix of every consumer group and transactional id Isthmus uses "
                              "(flows, sinks), for prefixed GROUP and TRANSACTIONAL_ID ACLs; default: none")
    topic_prefix: str = Field("", description="prefix of every topic of Isthmus's own (commands, results, dlq, holds, "
                              "canonical, audit, changelogs, keying topics; not the CDC topics), for prefixed TOPIC "
                              "ACLs; default: none")
    compression_type: CompressionType = Field(
        "none", description="codec of the record batches Isthmus's producers write (commands, results, canonical, "
        "changelogs, dead letters): none (Kafka's default), gzip, snappy, lz4 or zstd; every Isthmus client reads "
        "all of them")
    tools_dir: Path | None = Field(None, description="folder of Kafka's jars (kafka-tools-*.jar), which `isthmus "
                                   "topics hanging` runs; default: the local stack's")

    _split_servers = field_validator("bootstrap_servers", mode="before")(_split)

    @field_validator("client_id_prefix", "group_prefix", "topic_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not PREFIX_PATTERN.match(prefix):
            raise ValueError(f"{prefix!r} holds a character a topic name cannot; use letters, digits, '.', '_' and "
                             "'-' (e.g. team-a.)")
        return prefix

    @field_validator("bootstrap_servers")
    @classmethod
    def _addresses(cls, servers: list[str]) -> list[str]:
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{server!r} is not host:port (e.g. broker-1.example.com:9093)")
        return servers

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        path = data.get("sasl_password_file")
        if path and not data.get("sasl_password"):
            data = {**data, "sasl_password": read_secret_file(Path(path), "SASL password")}
        path = data.get("ssl_key_password_file")
        if path and not data.get("ssl_key_password"):
            read_secret_file(Path(path), "key password")  # readable now; read again with the key each time (below)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl and (self.sasl_mechanism is None or not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username and "
                             "sasl_password (or sasl_password_file); set them or use PLAINTEXT/SSL")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(f"sasl_mechanism is set but security_protocol is {self.security_protocol}; "
                             "use SASL_SSL or SASL_PLAINTEXT, or drop the SASL settings")
        files = {"ssl_cafile": self.ssl_cafile, "ssl_certfile": self.ssl_certfile, "ssl_keyfile": self.ssl_keyfile}
        if not tls and any(files.values()):
            raise ValueError(f"TLS files are set but security_protocol is {self.security_protocol}; use SSL or "
                             "SASL_SSL, or drop the ssl_* settings")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("mutual TLS needs both ssl_certfile and ssl_keyfile")
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a file; give the PEM file's path")
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"min_insync_replicas {self.min_insync_replicas} is above replication_factor "
                             f"{self.replication_factor}: every write to the topics Isthmus creates would be refused "
                             "with NOT_ENOUGH_REPLICAS; set min_insync_replicas to at most the replication factor "
                             "(replication_factor - 1 on a production cluster)")
        return self

    @classmethod
    def plain(cls, bootstrap_servers: str) -> KafkaSettings:
        """``host:port[,host:port]`` over PLAINTEXT, every other setting at its default (no environment read)."""
        return cls.model_validate({"bootstrap_servers": bootstrap_servers})

    def topic_config(self) -> dict[str, str]:
        """Topic configs every topic Isthmus creates gets (``min.insync.replicas``, if set)."""
        if self.min_insync_replicas is None:
            return {}
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    def __str__(self) -> str:
        """Where and how, for error messages: ``b1:9093,b2:9093 (SASL_SSL, SCRAM-SHA-512 as isthmus)``."""
        how: str = self.security_protocol
        if self.sasl_mechanism:
            how += f", {self.sasl_mechanism} as {self.sasl_username}"
        return f"{','.join(self.bootstrap_servers)} ({how})"


#: What a Kafka client builder accepts: the settings, or a bare ``host:port`` list over PLAINTEXT.
KafkaAddress = KafkaSettings | str


def kafka_settings(address: KafkaAddress) -> KafkaSettings:
    return address if isinstance(address, KafkaSettings) else KafkaSettings.plain(address)


def key_password(settings: KafkaSettings) -> str | None:
    """The client key's password: the value, else the password file as it is now. Read with the key each time a TLS
    context is built, so a key rotated with a new password (both files replaced) is read with the new one."""
    if settings.ssl_key_password is not None:
        return settings.ssl_key_password.get_secret_value()
    if settings.ssl_key_password_file is not None:
        try:
            return read_secret_file(settings.ssl_key_password_file, "key password").get_secret_value()
        except ValueError as exc:
            raise TlsFilesUnusable(str(exc)) from None
    return None


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """The TLS context of SSL and SASL_SSL: the CA (else the system's), and the client pair for mutual TLS, read from
    their files each time. Files that do not make one are a :class:`TlsFilesUnusable` naming them and the fix."""
    try:
        context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsFilesUnusable(f"kafka.ssl_cafile {settings.ssl_cafile} cannot be used ({exc}); give the PEM file of "
                               "the CA that signed the brokers' certificates") from exc
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile and settings.ssl_keyfile:
        try:
            # "" rather than None: OpenSSL would ask the terminal for an encrypted key's password
            context.load_cert_chain(str(settings.ssl_certfile), str(settings.ssl_keyfile), key_password(settings) or "")
        except (OSError, ssl.SSLError) as exc:
            raise TlsFilesUnusable(_pair_problem(settings, exc)) from exc
    return context


def _pair_problem(settings: KafkaSettings, exc: OSError) -> str:
    """Why the client certificate and key do not load, and what to do."""
    pair = f"the client certificate {settings.ssl_certfile} and key {settings.ssl_keyfile}"
    if isinstance(exc, ssl.SSLError) and "KEY_VALUES_MISMATCH" in str(exc):
        return (f"{pair} do not belong together (KEY_VALUES_MISMATCH): one was replaced without the other (a "
                "rotation half done?); put the new pair in place together (write both beside the old ones, then "
                "rename them over), and the next retry reads them")
    if isinstance(exc, ssl.SSLError):
        password = (f"the password in {settings.ssl_key_password_file} (read again each time)"
                    if settings.ssl_key_password is None and settings.ssl_key_password_file is not None
                    else "kafka.ssl_key_password" if settings.ssl_key_password is not None else "no password")
        return (f"{pair} cannot be read ({exc}): the key does not open with {password}, or a file is not PEM; "
                "replace the key together with its password file (a new key with a new password: both), and the "
                "next retry reads them")
    return f"{pair} cannot be read: {exc.strerror or exc}; fix the path or its permissions"


def client_kwargs(address: KafkaAddress) -> dict[str, Any]:
    """The connection and security keywords of every Kafka client (aiokafka's and kafka-python's alike)."""
    settings = kafka_settings(address)
    kwargs: dict[str, Any] = {"bootstrap_servers": list(settings.bootstrap_servers),
                              "security_protocol": settings.security_protocol}
    if settings.sasl_mechanism is not None:
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    if settings.security_protocol.endswith("SSL"):
        kwargs["ssl_context"] = ssl_context(settings)
    return kwargs


def producer_kwargs(address: KafkaAddress) -> dict[str, Any]:
    """:func:`client_kwargs` and what every producer of Isthmus's adds: its batches' codec (``compression_type``;
    aiokafka's and kafka-python's producers take the same name and values, None for none)."""
    settings = kafka_settings(address)
    codec = None if settings.compression_type == "none" else settings.compression_type
    return {**client_kwargs(settings), "compression_type": codec}


#: The JAAS login module of each SASL mechanism, for a Java client.
_LOGIN_MODULES = {"PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
                  "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule"}
#: The PEM header of the one key form Kafka's Java client reads whatever its JVM: an unencrypted PKCS#8 key. Java 17
#: cannot decrypt PBES2 (what ``openssl pkcs8 -topk8`` writes by default), nor read PKCS#1 or SEC1 keys.
_PLAIN_PKCS8 = "-----BEGIN PRIVATE KEY-----"
#: Seconds ``openssl`` may take to turn a key into that form.
_OPENSSL_TIMEOUT_S = 30.0


def _jaas_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def java_client_properties(settings: KafkaSettings) -> dict[str, str]:
    """The settings as a Java Kafka client's properties (a tool's ``--command-config``): the security protocol,
    SASL as ``sasl.jaas.config``, TLS with PEM (the CA as the trust store; the client certificate and key inline
    as ``ssl.keystore.certificate.chain`` and ``ssl.keystore.key``, the key decrypted: :func:`_pkcs8_key`). Holds
    secrets: written only to a file of its owner's (:func:`java_client_config`), never printed."""
    properties: dict[str, str] = {"security.protocol": settings.security_protocol}
    if settings.sasl_mechanism is not None:
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        properties["sasl.mechanism"] = settings.sasl_mechanism
        properties["sasl.jaas.config"] = (f"{_LOGIN_MODULES[settings.sasl_mechanism]} required username="
                                          f"{_jaas_quoted(settings.sasl_username or '')} password="
                                          f"{_jaas_quoted(password)};")
    if not settings.security_protocol.endswith("SSL"):
        return properties
    if settings.ssl_cafile is not None:
        properties["ssl.truststore.type"] = "PEM"
        properties["ssl.truststore.location"] = str(settings.ssl_cafile)
    if not settings.ssl_check_hostname:
        properties["ssl.endpoint.identification.algorithm"] = ""
    if settings.ssl_certfile is not None and settings.ssl_keyfile is not None:
        properties["ssl.keystore.type"] = "PEM"
        properties["ssl.keystore.certificate.chain"] = _pem_text(settings.ssl_certfile, "ssl_certfile")
        properties["ssl.keystore.key"] = _pkcs8_key(settings, settings.ssl_keyfile)
    return properties


def _pkcs8_key(settings: KafkaSettings, keyfile: Path) -> str:
    """The client key as an unencrypted PKCS#8 PEM, the form every Java client reads: as it is, or turned so by
    ``openssl`` (decrypted with the key password). It goes only where the key and its password would go together."""
    key = _pem_text(keyfile, "ssl_keyfile")
    if key.startswith(_PLAIN_PKCS8):
        return key
    where = f"{KafkaSettings.env_name('ssl_keyfile')} {keyfile}"
    if "ENCRYPTED" in key and settings.ssl_key_password is None:
        raise RuntimeConfigError(f"{where} is encrypted and no key password is set; fix: set "
                                 f"{KafkaSettings.env_name('ssl_key_password_file')} (or _KEY_PASSWORD)")
    password = settings.ssl_key_password.get_secret_value() if settings.ssl_key_password else ""
    try:
        done = subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", str(keyfile), "-passin", "stdin"],
                              input=password + "\n", capture_output=True, encoding="utf-8", timeout=_OPENSSL_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeConfigError(
            f"{where} is not an unencrypted PKCS#8 key (BEGIN PRIVATE KEY), the one form Kafka's Java tools read, "
            f"and openssl could not be run to convert it ({exc}); fix: install openssl, or convert the key once "
            "(`openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in <key> -out <key>.p8` keeps it encrypted in a form Java "
            "reads) and point the setting at it") from None
    if done.returncode != 0 or not done.stdout.startswith(_PLAIN_PKCS8):
        detail = " | ".join(line for line in done.stderr.splitlines()[:2] if line.strip())
        raise RuntimeConfigError(f"{where} could not be read with the key password ({detail or 'no key found'}); "
                                 f"fix: check the key file and {KafkaSettings.env_name('ssl_key_password_file')}")
    return done.stdout.strip()


def _pem_text(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeConfigError(f"cannot read {KafkaSettings.env_name(setting)} {path}: {exc}; fix the path or "
                                 "its permissions") from None


def _property_text(text: str, *, key: bool = False) -> str:
    """``text`` escaped for a Java properties file (read as ISO 8859-1: everything else as ``\\uXXXX``)."""
    out = []
    for i, char in enumerate(text):
        if char in "\\#!=:" or (char == " " and (key or i == 0)):
            out.append("\\" + char)
        elif char in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[char])
        elif " " <= char <= "~":
            out.append(char)
        else:
            encoded = char.encode("utf-16-be")
            out += [f"\\u{int.from_bytes(encoded[j:j + 2]):04x}" for j in range(0, len(encoded), 2)]
    return "".join(out)


@contextmanager
def java_client_config(settings: KafkaSettings) -> Iterator[Path]:
    """:func:`java_client_properties` in a temporary file only its owner may read (0600), removed on leaving."""
    properties = java_client_properties(settings)
    fd, name = tempfile.mkstemp(prefix="isthmus-kafka-client-", suffix=".properties")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.writelines(f"{_property_text(k, key=True)}={_property_text(v)}\n" for k, v in properties.items())
        yield path
    finally:
        path.unlink(missing_ok=True)
