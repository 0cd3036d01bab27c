"""`isthmus connectors export --format strimzi`: a KafkaConnector per connector, the KafkaConnect with the pinned
Debezium plugins, and no secret value in any of it."""

from __future__ import annotations

import contextlib
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from capture.conftest import run_cli
from streams.capture import configs, options, strimzi
from streams.capture.plugins import KAFKA_VERSION, PLUGINS
from streams.cli.main import main
from streams.stack.settings import PROJECT_ROOT

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_REFERENCE = re.compile(r"^\$\{(secrets|env):[^{}]+\}$")


def _export(root: Path, out: Path, *extra: str) -> dict[str, list[dict[str, Any]]]:
    code = main(["connectors", "export", "--format", "strimzi", "--configs", str(root), "--out", str(out), *extra])
    assert code == 0
    return {p.name: list(yaml.safe_load_all(p.read_text(encoding="utf-8"))) for p in sorted(out.glob("*.yaml"))}


def _stack_pins() -> dict[str, tuple[str, str, str]]:
    """The Debezium artifacts of stack/maven/debezium-*/pom.xml, by plugin folder name."""
    pins = {}
    for pom in sorted((PROJECT_ROOT / "stack" / "maven").glob("debezium-*/pom.xml")):
        project = ET.parse(pom).getroot()
        dependency = project.find("m:dependencies/m:dependency", POM_NS)
        assert dependency is not None, pom
        pins[project.findtext("m:artifactId", namespaces=POM_NS) or ""] = tuple(
            dependency.findtext(f"m:{tag}", namespaces=POM_NS) or "" for tag in ("groupId", "artifactId", "version"))
    return pins


def test_plugin_versions_are_the_stacks_pins() -> None:
    pins = _stack_pins()
    assert set(pins) == {"debezium-postgres", "debezium-mariadb"}
    assert {p.name: (p.group, p.artifact, p.version) for p in PLUGINS} == pins
    root_pom = ET.parse(PROJECT_ROOT / "stack" / "maven" / "pom.xml").getroot()
    assert root_pom.findtext("m:properties/m:kafka.version", namespaces=POM_NS) == KAFKA_VERSION


def test_one_connector_resource_per_connector_file_and_the_connect_cluster(config_root: Path, tmp_path: Path) -> None:
    files = _export(config_root, tmp_path / "out")
    loaded = configs.load(config_root, env="strimzi")
    assert set(files) == {"kafka-connect.yaml", "connector-secrets-rbac.yaml",
                          *(f"connector-{name}.yaml" for name in loaded.names)}

    [connect] = files["kafka-connect.yaml"]
    assert (connect["apiVersion"], connect["kind"]) == ("kafka.strimzi.io/v1beta2", "KafkaConnect")
    assert connect["metadata"]["annotations"] == {"strimzi.io/use-connector-resources": "true"}
    spec = connect["spec"]
    assert spec["bootstrapServers"] == "my-cluster-kafka-bootstrap:9093"
    assert spec["config"]["exactly.once.source.support"] == "enabled"
    assert spec["build"]["output"]["type"] == "docker" and spec["build"]["output"]["image"]
    artifacts = {p["name"]: [(a["type"], a["group"], a["artifact"], a["version"]) for a in p["artifacts"]]
                 for p in spec["build"]["plugins"]}
    assert artifacts == {name: [("maven", *pin)] for name, pin in _stack_pins().items()}
    assert spec["authentication"]["passwordSecret"] == {"secretName": "isthmus-connect", "password": "password"}

    for name in loaded.names:
        [resource] = files[f"connector-{name}.yaml"]
        rendered = loaded.render(name, {})
        assert (resource["apiVersion"], resource["kind"]) == ("kafka.strimzi.io/v1beta2", "KafkaConnector")
        assert resource["metadata"]["name"] == name
        assert resource["metadata"]["namespace"] == connect["metadata"]["namespace"]
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == connect["metadata"]["name"]
        assert resource["spec"]["class"] == rendered.config["connector.class"]
        assert resource["spec"]["tasksMax"] == int(rendered.config["tasks.max"])
        # As deployed, less what Strimzi takes from the spec and refuses in spec.config.
        assert resource["spec"]["config"] == {k: v for k, v in rendered.config.items()
                                              if k not in ("connector.class", "tasks.max", "name")}


def test_no_secret_is_inlined_and_connect_may_read_exactly_the_named_secrets(config_root: Path,
                                                                             tmp_path: Path) -> None:
    files = _export(config_root, tmp_path / "out")
    secrets_seen: set[str] = set()
    for name, resources in files.items():
        if not name.startswith("connector-") or name == "connector-secrets-rbac.yaml":
            continue
        config = resources[0]["spec"]["config"]
        secret_keys = [k for k in config if options.looks_secret(k, resources[0]["spec"]["class"])]
        assert "database.password" in secret_keys
        for key in secret_keys:
            assert _REFERENCE.match(config[key]), f"{name}: {key} = {config[key]!r} is not a provider reference"
        for value in config.values():
            secrets_seen.update(m.group(1) for m in re.finditer(r"\$\{secrets:[^/]+/([^:]+):", value))
        assert not any("${file:" in v for v in config.values())
    [role, binding] = files["connector-secrets-rbac.yaml"]
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": sorted(secrets_seen),
                              "verbs": ["get"]}]
    assert binding["subjects"][0]["name"] == "isthmus-connect-connect"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_a_file_provider_or_a_literal_password_stops_the_export(config_root: Path, tmp_path: Path) -> None:
    overlay = config_root / "overlays" / "strimzi.yaml"
    text = overlay.read_text(encoding="utf-8")
    overlay.write_text(text.replace('database.password: "${secrets:{{namespace}}/{{db_secret}}:crm.db.password}"',
                                    'database.password: "${file:/home/me/stack.properties:crm.db.password}"')
                       .replace('database.password: "${secrets:{{namespace}}/{{db_secret}}:erp.db.password}"',
                                "database.password: hunter2"), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["connectors", "export", "--format", "strimzi", "--configs", str(config_root),
                     "--out", str(tmp_path / "out")])
    assert code == 1
    assert not (tmp_path / "out").exists(), "nothing is written when any config has a problem"
    message = err.getvalue()
    assert "strimzi.yaml: database.password: uses the config provider `file`" in message
    assert "${secrets:kafka/<secret>:<key>}" in message
    assert "holds a secret written literally" in message and "hunter2" not in message


def test_the_local_stacks_placeholders_are_not_exported(config_root: Path) -> None:
    code, document = run_cli("connectors", "export", "--format", "strimzi", "--configs", str(config_root),
                             "--env", "local")
    assert code == 1
    problems = [p for found in document["problems"].values() for p in found]
    assert any(p["message"] == "placeholder {{secrets_file}} is not defined" for p in problems)
    assert any(p["key"] == "variables.namespace" and "is missing" in p["message"] for p in problems)


def test_secrets_outside_the_namespace_are_refused(config_root: Path) -> None:
    overlay = config_root / "overlays" / "strimzi.yaml"
    overlay.write_text(overlay.read_text(encoding="utf-8").replace(
        "${secrets:{{namespace}}/{{db_secret}}:crm.db.password}", "${secrets:other/isthmus-db:crm.db.password}"),
        encoding="utf-8")
    code, document = run_cli("connectors", "export", "--format", "strimzi", "--configs", str(config_root))
    assert code == 1
    [problem] = document["problems"]["crm-source"]
    assert problem["key"] == "database.password" and "namespace 'other'" in problem["message"]


def test_stdout_is_one_yaml_stream_of_every_resource(config_root: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["connectors", "export", "--format", "strimzi", "--configs", str(config_root)]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(out.getvalue())]
    assert kinds == ["KafkaConnect", "KafkaConnector", "KafkaConnector", "Role", "RoleBinding"]
    assert strimzi.DEFAULT_ENV == "strimzi"
