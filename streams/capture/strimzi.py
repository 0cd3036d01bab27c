"""Connector configs as Strimzi resources: a ``KafkaConnector`` per connector, the ``KafkaConnect`` that runs them.

``isthmus connectors export --format strimzi`` renders ``connect-configs/`` with an overlay (``strimzi`` by
default) and writes what a Strimzi operator needs:

- a ``KafkaConnect`` (``kafka.strimzi.io/v1beta2``) with ``strimzi.io/use-connector-resources: "true"``, the
  Debezium plugins in ``spec.build.plugins`` as Maven artifacts at the versions the stack pins
  (:mod:`streams.capture.plugins`), exactly-once source support, and the config providers below;
- one ``KafkaConnector`` per connector file, ``spec.config`` as ``isthmus connectors deploy`` would PUT it
  (``connector.class`` and ``tasks.max`` move to ``spec.class`` and ``spec.tasksMax``: Strimzi refuses them in
  ``spec.config``);
- a ``Role`` and ``RoleBinding`` that let the Connect pods read exactly the Secrets the configs name.

Secrets stay out of every resource: a password is a config provider reference that Connect resolves in the
cluster, ``${secrets:<namespace>/<secret>:<key>}`` (Strimzi's ``KubernetesSecretConfigProvider``) or
``${env:<VARIABLE>}``. A reference to any other provider (the local stack's ``${file:...}``) is a problem naming
the file and key, because no file of the developer's machine exists in the cluster.

The cluster's names come from the overlay's ``variables`` (:data:`VARIABLES`); the local stack's
placeholders are not offered, so a ``{{host}}`` left in a config is reported instead of exported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.capture.configs import LocalConnector
from streams.capture.plugins import KAFKA_VERSION, PLUGINS, plugin_for
from streams.config_files.problem import Problem

API_VERSION = "kafka.strimzi.io/v1beta2"
USE_CONNECTOR_RESOURCES = "strimzi.io/use-connector-resources"
CLUSTER_LABEL = "strimzi.io/cluster"
PART_OF = {"app.kubernetes.io/part-of": "isthmus"}
DEFAULT_ENV = "strimzi"

#: The config providers the exported KafkaConnect declares; connector configs may reference only these.
PROVIDERS: dict[str, str] = {
    "secrets": "io.strimzi.kafka.KubernetesSecretConfigProvider",
    "env": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
}

#: Options Strimzi takes from the KafkaConnector's spec and refuses in its ``spec.config``.
SPEC_OPTIONS = ("connector.class", "tasks.max")

#: The overlay variables the export reads, and what each is; ``None``: optional.
VARIABLES: dict[str, tuple[str, str | None]] = {
    "namespace": ("namespace of the Connect cluster, its connectors and the Secrets they read", ""),
    "connect_cluster": ("name of the KafkaConnect resource (its pods' service account is <name>-connect)", ""),
    "kafka_bootstrap_servers": ("the brokers as Connect reaches them, e.g. my-cluster-kafka-bootstrap:9093", ""),
    "connect_image": ("image Strimzi builds with the plugins and pushes (spec.build.output.image)", ""),
    "connect_replicas": ("Connect pods (default 1)", None),
    "kafka_ca_secret": ("Secret of the brokers' CA, key ca.crt (e.g. my-cluster-cluster-ca-cert): TLS", None),
    "kafka_user": ("KafkaUser (SCRAM-SHA-512) Connect logs in as; its Secret holds `password`", None),
    "kafka_version": (f"Kafka version of the Connect image (default: the operator's; the stack runs "
                      f"{KAFKA_VERSION})", None),
}

_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+):([^{}]*)\}")
_SECRET_PATH = re.compile(r"^(?P<namespace>[a-z0-9][a-z0-9.-]*)/(?P<secret>[a-z0-9][a-z0-9.-]*):(?P<key>[^:]+)$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class ConnectCluster:
    """Where the resources go and what the Connect cluster connects to, from the overlay's variables."""

    namespace: str
    name: str
    bootstrap_servers: str
    image: str
    replicas: int = 1
    ca_secret: str | None = None
    user: str | None = None
    kafka_version: str | None = None

    @classmethod
    def from_variables(cls, variables: Mapping[str, str], overlay: Path) -> tuple[ConnectCluster | None,
                                                                                 list[Problem]]:
        problems: list[Problem] = []
        for name, (what, default) in VARIABLES.items():
            if default is not None and not variables.get(name):
                problems.append(Problem(file=overlay, line=None, field=f"variables.{name}",
                                        message=f"is missing ({what})",
                                        fix=f"add `{name}: <value>` under `variables:`"))
        for name in ("namespace", "connect_cluster", "kafka_ca_secret", "kafka_user"):
            value = variables.get(name)
            if value and not _DNS_NAME.match(value):
                problems.append(Problem(file=overlay, line=None, field=f"variables.{name}",
                                        message=f"{value!r} is not a Kubernetes name",
                                        fix="use lower-case letters, digits and '-'"))
        replicas_raw = variables.get("connect_replicas") or "1"
        if not replicas_raw.isdigit() or int(replicas_raw) < 1:
            problems.append(Problem(file=overlay, line=None, field="variables.connect_replicas",
                                    message=f"{replicas_raw!r} is not a whole number of pods",
                                    fix="write 1 or more"))
        if problems:
            return None, problems
        return cls(namespace=variables["namespace"], name=variables["connect_cluster"],
                   bootstrap_servers=variables["kafka_bootstrap_servers"], image=variables["connect_image"],
                   replicas=int(replicas_raw), ca_secret=variables.get("kafka_ca_secret") or None,
                   user=variables.get("kafka_user") or None,
                   kafka_version=variables.get("kafka_version") or None), []


@dataclass(frozen=True, kw_only=True)
class SecretReference:
    namespace: str
    secret: str
    key: str


def check(connector: LocalConnector, cluster: ConnectCluster) -> list[Problem]:
    """What keeps a (locally valid) connector from running under the exported KafkaConnect."""
    problems: list[Problem] = []
    connector_class = connector.connector_class
    if plugin_for(connector_class) is None:
        problems.append(Problem(
            file=connector.source_of("connector.class"), line=None, field="connector.class",
            message=f"{connector_class!r} is in none of the plugins the KafkaConnect builds",
            fix="use a class of " + ", ".join(f"{p.artifact} {p.version}" for p in PLUGINS)))
    if not _DNS_NAME.match(connector.name):
        problems.append(Problem(file=connector.path, line=None, field="name",
                                message=f"{connector.name!r} is not a Kubernetes resource name",
                                fix="rename the connector file with lower-case letters, digits and '-'"))
    for key, value in connector.config.items():
        for provider, path in _REFERENCE.findall(value):
            where = connector.source_of(key)
            if provider not in PROVIDERS:
                problems.append(Problem(
                    file=where, line=None, field=key,
                    message=f"uses the config provider `{provider}`, which the exported "
                    f"KafkaConnect does not declare (it declares {', '.join(PROVIDERS)})",
                    fix=f"override it in the overlay with ${{secrets:{cluster.namespace}/<secret>:<key>}} "
                        "(a Kubernetes Secret) or ${env:<VARIABLE>}"))
                continue
            if provider != "secrets":
                continue
            match = _SECRET_PATH.match(path)
            if match is None:
                problems.append(Problem(file=where, line=None, field=key, message=f"${{secrets:{path}}} is not "
                                        "<namespace>/<secret>:<key>",
                                        fix=f"write ${{secrets:{cluster.namespace}/<secret>:<key>}}"))
            elif match["namespace"] != cluster.namespace:
                problems.append(Problem(
                    file=where, line=None, field=key,
                    message=f"reads a Secret in namespace {match['namespace']!r}; the "
                    f"exported Role lets Connect read Secrets in {cluster.namespace!r} only",
                    fix=f"keep the Secret in {cluster.namespace!r} and reference it there"))
    return problems


def secret_references(connectors: Sequence[LocalConnector]) -> list[SecretReference]:
    found: dict[tuple[str, str, str], SecretReference] = {}
    for connector in connectors:
        for value in connector.config.values():
            for provider, path in _REFERENCE.findall(value):
                match = _SECRET_PATH.match(path) if provider == "secrets" else None
                if match:
                    ref = SecretReference(namespace=match["namespace"], secret=match["secret"], key=match["key"])
                    found[(ref.namespace, ref.secret, ref.key)] = ref
    return [found[k] for k in sorted(found)]


def kafka_connect(cluster: ConnectCluster) -> dict[str, Any]:
    """The KafkaConnect: the plugins built into its image, exactly-once source support, the config providers."""
    config: dict[str, Any] = {
        "group.id": cluster.name,
        "offset.storage.topic": f"{cluster.name}-offsets",
        "config.storage.topic": f"{cluster.name}-configs",
        "status.storage.topic": f"{cluster.name}-status",
        # -1: the brokers' default.replication.factor, which a production cluster sets (3).
        "config.storage.replication.factor": -1,
        "offset.storage.replication.factor": -1,
        "status.storage.replication.factor": -1,
        # Both connectors declare `exactly.once.support: required`; Connect refuses them without this.
        "exactly.once.source.support": "enabled",
        "config.providers": ",".join(PROVIDERS),
        **{f"config.providers.{name}.class": cls for name, cls in PROVIDERS.items()},
    }
    spec: dict[str, Any] = {}
    if cluster.kafka_version:
        spec["version"] = cluster.kafka_version
    spec["replicas"] = cluster.replicas
    spec["bootstrapServers"] = cluster.bootstrap_servers
    if cluster.ca_secret:
        spec["tls"] = {"trustedCertificates": [{"secretName": cluster.ca_secret, "certificate": "ca.crt"}]}
    if cluster.user:
        spec["authentication"] = {"type": "scram-sha-512", "username": cluster.user,
                                  "passwordSecret": {"secretName": cluster.user, "password": "password"}}
    spec["config"] = config
    spec["build"] = {
        "output": {"type": "docker", "image": cluster.image},
        "plugins": [{"name": p.name, "artifacts": [{"type": "maven", "group": p.group, "artifact": p.artifact,
                                                    "version": p.version}]} for p in PLUGINS],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaConnect",
        "metadata": {"name": cluster.name, "namespace": cluster.namespace, "labels": dict(PART_OF),
                     "annotations": {USE_CONNECTOR_RESOURCES: "true"}},
        "spec": spec,
    }


def kafka_connector(connector: LocalConnector, cluster: ConnectCluster) -> dict[str, Any]:
    """One KafkaConnector: the rendered config as deployed, less the options Strimzi takes from the spec."""
    config = {k: v for k, v in connector.config.items() if k not in (*SPEC_OPTIONS, "name")}
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaConnector",
        "metadata": {"name": connector.name, "namespace": cluster.namespace,
                     "labels": {CLUSTER_LABEL: cluster.name, **PART_OF}},
        "spec": {"class": connector.connector_class, "tasksMax": int(connector.config.get("tasks.max", "1")),
                 "state": "running", "config": config},
    }


def secrets_access(cluster: ConnectCluster, references: Sequence[SecretReference]) -> list[dict[str, Any]]:
    """A Role to read the named Secrets and its binding to the Connect pods' service account (none if none)."""
    secrets = sorted({r.secret for r in references if r.namespace == cluster.namespace})
    if not secrets:
        return []
    role = f"{cluster.name}-connector-secrets"
    metadata = {"name": role, "namespace": cluster.namespace, "labels": dict(PART_OF)}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": metadata,
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": secrets, "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": dict(metadata),
         "subjects": [{"kind": "ServiceAccount", "name": f"{cluster.name}-connect",
                       "namespace": cluster.namespace}],
         "roleRef": {"kind": "Role", "name": role, "apiGroup": "rbac.authorization.k8s.io"}},
    ]


def export(connectors: Sequence[LocalConnector], cluster: ConnectCluster) -> dict[str, list[dict[str, Any]]]:
    """The resources by the file each goes to: ``kafka-connect.yaml``, ``connector-<name>.yaml`` and
    ``connector-secrets-rbac.yaml`` (when a config reads a Secret)."""
    files: dict[str, list[dict[str, Any]]] = {"kafka-connect.yaml": [kafka_connect(cluster)]}
    for connector in connectors:
        files[f"connector-{connector.name}.yaml"] = [kafka_connector(connector, cluster)]
    access = secrets_access(cluster, secret_references(connectors))
    if access:
        files["connector-secrets-rbac.yaml"] = access
    return files
