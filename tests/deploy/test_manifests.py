"""The deployment artifacts, checked offline: deploy/k8s/ and the Strimzi export parse, the Kubernetes resources
validate against the API's schemas (kubernetes-validate), and their fields agree with the code they run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.capture import configs, strimzi
from streams.cli import environment
from streams.config.model import ConfigFile
from streams.sinks.settings import SinkSettings
from streams.stack.settings import PROJECT_ROOT, StackSettings
from streams.systems.loader import load_systems
from streams.worker.settings import WorkerSettings
from streams.worker.web import build_app

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
#: The Kubernetes version whose schemas the resources are checked against (kubernetes-validate ships them).
KUBERNETES = "1.30"


def _resources() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in _resources() if r["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _plain_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert [i["name"] for i in kustomization["images"]] == ["isthmus"]
    assert {_container(d)["image"] for d in _by_kind("Deployment").values()} == {"isthmus"}


@pytest.mark.parametrize("resource", _resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_committed_resources_match_the_kubernetes_schemas(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def test_exported_rbac_matches_the_kubernetes_schemas_and_strimzi_kinds_are_checked_by_hand() -> None:
    """No JSON schema of Strimzi's CRDs is served by the registries here (its CRD YAMLs are not in the
    io.strimzi:api jar on Maven Central, nor on PyPI): the Strimzi fields are checked here, by hand."""
    loaded = configs.load(configs.DEFAULT_ROOT, env="strimzi")
    problems: list[Any] = []
    variables = configs.resolve_variables(loaded.overlay, {}, problems)
    cluster, cluster_problems = strimzi.ConnectCluster.from_variables(variables, loaded.overlay.path)
    assert cluster is not None and not problems and not cluster_problems
    connectors = [loaded.render(name, {}) for name in loaded.names]
    files = strimzi.export(connectors, cluster)
    for resource in files["connector-secrets-rbac.yaml"]:
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)
    [connect] = files["kafka-connect.yaml"]
    assert set(connect["spec"]) <= {"version", "replicas", "bootstrapServers", "tls", "authentication", "config",
                                    "build"}
    assert {"bootstrapServers", "build"} <= set(connect["spec"])
    assert connect["spec"]["build"]["output"].keys() == {"type", "image"}
    for name in loaded.names:
        [connector] = files[f"connector-{name}.yaml"]
        assert set(connector["spec"]) == {"class", "tasksMax", "state", "config"}
        assert isinstance(connector["spec"]["tasksMax"], int) and connector["spec"]["state"] == "running"
        assert not {"connector.class", "tasks.max"} & set(connector["spec"]["config"])


def test_selectors_select_their_pods() -> None:
    for name, deployment in _by_kind("Deployment").items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
        assert selector == {"app.kubernetes.io/name": name}


def test_worker_probes_are_the_workers_endpoints_on_its_port() -> None:
    worker = _by_kind("Deployment")["isthmus-worker"]
    container = _container(worker)
    assert container["args"] == ["worker"]
    settings = WorkerSettings.from_env(_plain_env(container))
    assert settings.host == "0.0.0.0", "a probe reaches the pod's address, not its loopback"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.port}
    routes = {r.resource.canonical for r in build_app("w", [], {}).router.routes() if r.resource is not None}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/ready"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/health"
    for probe in probes.values():
        assert probe["path"] in routes and ports[probe["port"]] == settings.port
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.port) and "/metrics" in routes


def test_one_sink_per_writable_system_with_its_metrics_port() -> None:
    sinks = {n: d for n, d in _by_kind("Deployment").items() if n.startswith("isthmus-sink-")}
    writable = load_systems(PROJECT_ROOT / "systems").writable
    assert sorted(sinks) == sorted(f"isthmus-sink-{system}" for system in writable)
    settings_map = _by_kind("ConfigMap")["isthmus-settings"]["data"]
    for system in writable:
        deployment = sinks[f"isthmus-sink-{system}"]
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        container = _container(deployment)
        assert container["args"] == ["sink", "--target", system]
        settings = SinkSettings.from_env(_plain_env(container))
        assert settings.metrics_host == "0.0.0.0"
        port = settings.for_system(system, writable=writable).metrics_port
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
        base_url = next(e for e in container["env"] if e["name"] == "ISTHMUS_SINK_BASE_URL")
        key = base_url["valueFrom"]["configMapKeyRef"]
        assert key["name"] == "isthmus-settings" and key["key"] in settings_map
        SinkSettings.from_env({"ISTHMUS_SINK_BASE_URL": settings_map[key["key"]]})


def test_every_variable_set_is_one_isthmus_reads() -> None:
    known = {v.env for v in environment.variables(StackSettings.from_env({}), {})} | {"ISTHMUS_CONFIG"}
    for target in (PROJECT_ROOT / "targets").glob("*.yaml"):  # each target's API token variable (auth.env)
        known.add(yaml.safe_load(target.read_text(encoding="utf-8"))["http"]["auth"]["env"])
    for name, deployment in _by_kind("Deployment").items():
        unknown = {e["name"] for e in _container(deployment)["env"]} - known
        assert not unknown, f"{name} sets variables no Isthmus process reads: {unknown}"


def test_settings_file_is_a_valid_config_and_names_mounted_files(tmp_path: Path) -> None:
    text = _by_kind("ConfigMap")["isthmus-settings"]["data"]["isthmus.yaml"]
    (tmp_path / "isthmus.yaml").write_text(text, encoding="utf-8")
    values = ConfigFile.read(tmp_path / "isthmus.yaml").values
    for deployment in _by_kind("Deployment").values():
        mounts = [m["mountPath"] for m in _container(deployment)["volumeMounts"]]
        for path in (values["kafka"]["sasl_password_file"], values["kafka"]["ssl_cafile"],
                     *values["dirs"].values()):
            assert any(Path(path).is_relative_to(m) or Path(m).is_relative_to(path) for m in mounts), path
        env = _plain_env(_container(deployment))
        assert Path(env["ISTHMUS_CONFIG"]).parent.as_posix() in mounts


def test_config_maps_and_secrets_are_referenced_not_written() -> None:
    script = (K8S / "configmaps.sh").read_text(encoding="utf-8")
    created = set(re.findall(r"^(isthmus-[a-z-]+) ", script, re.M))
    assert not _by_kind("Secret"), "Secrets are referenced by name, never committed"
    for name, deployment in _by_kind("Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        mounted = {v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
        assert mounted - {"isthmus-settings"} == created, name
        assert {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v} == {
            "isthmus", "my-cluster-cluster-ca-cert"}
        resources = _container(deployment)["resources"]
        assert resources["requests"].keys() == {"cpu", "memory"} and "memory" in resources["limits"]


def test_containerfile_installs_the_wheel_as_a_non_root_user() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    instructions = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert instructions[0].startswith("FROM python:3.11")
    assert re.search(r"pip install .*-c /tmp/constraints.txt /tmp/dist/isthmus-\*\.whl", text)
    user = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    runs_as = {d["spec"]["template"]["spec"]["securityContext"]["runAsUser"] for d in _by_kind("Deployment").values()}
    assert runs_as == {int(user[-1].split(":")[0])}
    assert not re.search(r"(?i)^(ENV|ARG)\b.*(password|secret|token)", text, re.M)
    assert 'ENTRYPOINT ["isthmus"]' in text
