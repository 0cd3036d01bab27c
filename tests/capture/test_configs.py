"""Loading connector files, laying overlays over them and resolving our placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.capture import configs
from streams.capture.exceptions import ConfigError
from streams.capture.validation import check_local
from streams.stack.secrets import StackSecrets
from streams.stack.settings import StackSettings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_local_overlay_points_at_the_stack_and_reads_passwords_through_connect(
        config_root: Path, variables: dict[str, str], unit_secrets: StackSecrets) -> None:
    settings = StackSettings()
    loaded = configs.load(config_root, env="local")
    assert loaded.names == ["crm-source", "erp-source"]

    crm = loaded.render("crm-source", variables)
    assert crm.problems == ()
    assert crm.config["name"] == "crm-source"
    assert crm.config["database.hostname"] == settings.host
    assert crm.config["database.port"] == str(settings.crm_db_port)
    assert crm.config["database.password"] == unit_secrets.connect_reference("crm.db.password")
    assert crm.config["tombstones.on.delete"] == "true"
    assert crm.config["table.include.list"].split(",") == [
        "crm.customers", "crm.contacts", "crm.addresses", "crm.products", "crm.sales_orders",
        "crm.sales_order_lines", "crm.debezium_signal"]
    assert all(isinstance(v, str) for v in crm.config.values())

    erp = loaded.render("erp-source", variables)
    assert erp.config["database.password"] == unit_secrets.connect_reference("erp.db.password")
    assert erp.config["schema.history.internal.kafka.bootstrap.servers"] == settings.bootstrap_servers
    assert erp.config["database.server.id"] == "184101"


def test_compose_overlay_changes_only_hosts_ports_and_the_secrets_path(
        config_root: Path, variables: dict[str, str]) -> None:
    local = configs.load(config_root, env="local")
    compose = configs.load(config_root, env="compose")
    for name in local.names:
        mine, theirs = local.render(name, variables), compose.render(name, variables)
        assert theirs.problems == ()
        differing = {k for k in mine.config if mine.config[k] != theirs.config[k]}
        assert differing <= {"database.hostname", "database.port", "database.password",
                             "schema.history.internal.kafka.bootstrap.servers"}
    crm = compose.render("crm-source", variables).config
    assert (crm["database.hostname"], crm["database.port"]) == ("crm-db", "5432")
    assert crm["database.password"] == "${file:/run/secrets/isthmus/stack.properties:crm.db.password}"
    assert compose.render("erp-source", variables).config[
        "schema.history.internal.kafka.bootstrap.servers"] == "kafka:9092"


@pytest.mark.parametrize("env", ["local", "compose"])
def test_committed_configs_pass_our_checks(config_root: Path, variables: dict[str, str], env: str) -> None:
    loaded = configs.load(config_root, env=env)
    for name in loaded.names:
        assert check_local(loaded.render(name, variables)) == []


def test_overlay_options_override_and_null_removes(config_root: Path, variables: dict[str, str]) -> None:
    overlay = write(config_root / "overlays" / "local.yaml", """
variables:
  crm_db_host: "{{host}}"
  erp_db_host: db.example
connectors:
  crm-source:
    heartbeat.interval.ms: 30000
    heartbeat.action.query: null
""")
    loaded = configs.load(config_root, env="local")
    crm = loaded.render("crm-source", variables)
    assert crm.config["heartbeat.interval.ms"] == "30000"
    assert "heartbeat.action.query" not in crm.config
    assert crm.source_of("heartbeat.interval.ms") == overlay
    assert crm.source_of("slot.name") == config_root / "connectors" / "crm-source.yaml"
    assert loaded.render("erp-source", variables).config["database.hostname"] == "db.example"


def test_unresolved_placeholder_names_file_key_and_where_to_define_it(
        config_root: Path, variables: dict[str, str]) -> None:
    path = config_root / "connectors" / "crm-source.yaml"
    write(path, path.read_text().replace('"{{crm_db_host}}"', '"{{crm_db_hots}}"'))
    crm = configs.load(config_root, env="local").render("crm-source", variables)
    [problem] = crm.problems
    assert problem.file == path
    assert problem.field == "database.hostname"
    assert "{{crm_db_hots}} is not defined" in problem.message
    assert "overlays/local.yaml" in problem.fix and "crm_db_host" in problem.fix
    assert "database.hostname" in str(problem) and "crm-source.yaml" in str(problem)


def test_placeholder_in_an_overlay_variable_is_reported_against_the_overlay(
        config_root: Path, variables: dict[str, str]) -> None:
    overlay = write(config_root / "overlays" / "local.yaml",
                    "variables:\n  crm_db_host: '{{nowhere}}'\n  erp_db_host: '{{host}}'\n")
    crm = configs.load(config_root, env="local").render("crm-source", variables)
    assert [(p.file, p.field) for p in crm.problems] == [(overlay, "variables.crm_db_host")]


def test_kafka_connect_provider_references_pass_through_untouched(
        config_root: Path, variables: dict[str, str]) -> None:
    write(config_root / "overlays" / "local.yaml", """
variables: {crm_db_host: h, erp_db_host: h}
connectors:
  crm-source:
    database.password: ${env:CRM_PASSWORD}
""")
    crm = configs.load(config_root, env="local").render("crm-source", variables)
    assert crm.config["database.password"] == "${env:CRM_PASSWORD}"


def test_a_mapping_is_not_a_config_value(config_root: Path, variables: dict[str, str]) -> None:
    write(config_root / "overlays" / "local.yaml", """
variables: {crm_db_host: h, erp_db_host: h}
connectors:
  crm-source:
    snapshot.mode: {initial: true}
""")
    crm = configs.load(config_root, env="local").render("crm-source", variables)
    [problem] = crm.problems
    assert problem.field == "snapshot.mode" and "dict is not a config value" in problem.message


def test_unknown_environment_lists_the_known_ones(config_root: Path) -> None:
    with pytest.raises(ConfigError, match=r"no overlay for environment 'prod'.*--env compose or local"):
        configs.load(config_root, env="prod")


def test_name_must_match_the_file(config_root: Path) -> None:
    path = config_root / "connectors" / "crm-source.yaml"
    write(path, path.read_text().replace("name: crm-source", "name: crm"))
    with pytest.raises(ConfigError, match=r"crm-source.yaml: name: 'crm' differs from the file name; fix"):
        configs.load(config_root, env="local")


def test_invalid_yaml_names_file_and_line(config_root: Path) -> None:
    write(config_root / "connectors" / "broken.yaml", "name: broken\nconfig:\n  a: [1,\n  b: 2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: is not valid YAML at line \d+"):
        configs.load(config_root, env="local")


def test_overlay_for_a_connector_without_a_file_is_refused(config_root: Path) -> None:
    write(config_root / "overlays" / "local.yaml", "connectors:\n  crm-sourse:\n    tasks.max: 1\n")
    with pytest.raises(ConfigError, match=r"connectors.crm-sourse: no connector file crm-sourse.yaml"):
        configs.load(config_root, env="local")


def test_selecting_an_unknown_connector_names_the_known_ones(config_root: Path) -> None:
    loaded = configs.load(config_root, env="local")
    assert loaded.select([]) == ["crm-source", "erp-source"]
    assert loaded.select(["erp-source", "erp-source"]) == ["erp-source"]
    with pytest.raises(ConfigError, match=r"no connector file for 'crm'.*known: crm-source, erp-source"):
        loaded.select(["crm"])


def test_another_placeholder_for_unsent_values_is_refused(config_root: Path, variables: dict[str, str]) -> None:
    overlay = write(config_root / "overlays" / "local.yaml", """
variables:
  crm_db_host: "{{host}}"
connectors:
  crm-source:
    unavailable.value.placeholder: "__toast__"
""")
    crm = configs.load(config_root, env="local").render("crm-source", variables)
    [problem] = check_local(crm)
    assert (problem.file, problem.field) == (overlay, "unavailable.value.placeholder")
    assert "'__toast__'" in problem.message and problem.fix == "remove the option"
    kept = write(overlay, overlay.read_text().replace("__toast__", "__debezium_unavailable_value"))
    assert check_local(configs.load(config_root, env="local").render("crm-source", variables)) == [], kept
