"""The Kafka Connect plugins the connector configs need, as Maven artifacts, with the versions the stack pins.

The local stack resolves the same artifacts with Maven (``stack/maven/debezium-*/pom.xml``); a Connect cluster
elsewhere gets them from here, e.g. Strimzi's ``spec.build.plugins`` (:mod:`streams.capture.strimzi`).
The poms are not part of the installed package, so the versions are written down here as well;
``tests/capture/test_strimzi_export.py`` fails when the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.capture.options import MARIADB, POSTGRES

#: The Kafka version the stack runs Connect on and Debezium 3.6.1.Final is built against (stack/maven/pom.xml).
KAFKA_VERSION = "4.3.0"


@dataclass(frozen=True, kw_only=True)
class PluginArtifact:
    """One Connect plugin: a Maven artifact whose runtime dependencies form its plugin folder."""

    #: The plugin's folder name (the stack's ``<jars>/plugins/<name>``).
    name: str
    group: str
    artifact: str
    version: str
    #: The connector classes it provides.
    connector_classes: tuple[str, ...]


PLUGINS: tuple[PluginArtifact, ...] = (
    PluginArtifact(name="debezium-postgres", group="io.debezium", artifact="debezium-connector-postgres",
                   version="3.6.1.Final", connector_classes=(POSTGRES,)),
    # 3.5.0.Final: the newest MariaDB connector Maven Central serves (connect-configs/README.md).
    PluginArtifact(name="debezium-mariadb", group="io.debezium", artifact="debezium-connector-mariadb",
                   version="3.5.0.Final", connector_classes=(MARIADB,)),
)


def plugin_for(connector_class: str) -> PluginArtifact | None:
    return next((p for p in PLUGINS if connector_class in p.connector_classes), None)
