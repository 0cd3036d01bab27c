"""The values of the connector configs' ``{{name}}`` placeholders (variable ``ISTHMUS_CAPTURE_VARIABLES``).

``connect-configs/`` writes where the databases and the secrets file are as ``{{host}}``, ``{{crm_db_port}}``,
``{{secrets_file}}``...; an overlay's ``variables:`` may set them per environment, and these are the values
beneath the overlay's: the local stack offers its own (streams/stack/offer.py), a deployment of its own gives
them here (a JSON object in the variable, a mapping in the ``--config`` file). No secret belongs here: the
configs name secrets with Kafka Connect's ``${file:...}``, which Connect resolves.

Beneath both, the Kafka settings answer for the ``kafka_*`` placeholders (:func:`kafka_variables`): the schema
history's clients follow the configured Kafka unless ``capture.variables`` or an overlay names another address
(Connect may reach the same brokers under another name).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from streams.config.kafka import KafkaSettings
from streams.config.section import Section


class CaptureSettings(Section):
    """What the connector configs are rendered with (``isthmus connectors``, discovery, the re-sync)."""

    NAME: ClassVar[str] = "capture"
    model_config = SettingsConfigDict(env_prefix="ISTHMUS_CAPTURE_")

    variables: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"default": "(none)"},
        description="placeholder values of the connector configs, name: value (the environment's form: a JSON "
        "object); an overlay's variables win; default: the local stack's hosts, ports and secrets file, and "
        "kafka_bootstrap_servers, kafka_security_protocol, kafka_sasl_mechanism and kafka_ssl_cafile from the kafka "
        "settings")

    @field_validator("variables", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        """Numbers and booleans of a config file as the strings a connector config holds."""
        if isinstance(value, dict):
            return {str(k): ("true" if v is True else "false" if v is False else str(v)) if v is not None else v
                    for k, v in value.items()}
        return value


def kafka_variables(kafka: KafkaSettings) -> dict[str, str]:
    """The placeholders the Kafka settings answer for: the brokers (``{{kafka_bootstrap_servers}}``, the schema
    history's), the protocol, and the SASL mechanism and CA file when set, which an overlay gives the schema
    history's clients (connect-configs/README.md, "Schema history"). None is a secret: a login is Connect's own, a
    ``${file:...}`` reference in the overlay."""
    found = {"kafka_bootstrap_servers": ",".join(kafka.bootstrap_servers),
             "kafka_security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism is not None:
        found["kafka_sasl_mechanism"] = kafka.sasl_mechanism
    if kafka.ssl_cafile is not None:
        found["kafka_ssl_cafile"] = str(kafka.ssl_cafile)
    return found
