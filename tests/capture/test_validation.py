"""Our own checks of a rendered connector config: every problem names the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

from streams.capture import configs
from streams.capture.validation import check_local
from streams.config_files.problem import Problem

LOCAL_VARIABLES = "variables: {crm_db_host: '{{host}}', erp_db_host: '{{host}}'}\n"


def problems_with(root: Path, variables: dict[str, str], name: str, overlay_options: str) -> list[Problem]:
    (root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + f"connectors:\n  {name}:\n" + overlay_options, encoding="utf-8")
    return check_local(configs.load(root, env="local").render(name, variables))


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def test_missing_required_key_names_the_connector_file(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source", "    database.dbname: null\n"))
    assert problem.file == config_root / "connectors" / "crm-source.yaml"
    assert problem.field == "database.dbname"
    assert "required by Debezium PostgreSQL" in problem.message
    assert problem.fix == "add `database.dbname: <value>` under `config:`"


def test_mariadb_needs_its_schema_history_topic(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "erp-source",
                                 "    schema.history.internal.kafka.topic: null\n"))
    assert problem.field == "schema.history.internal.kafka.topic"


def test_unknown_key_suggests_the_closest_option(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source", "    heartbeat.interval.msec: 5\n"))
    assert problem.file == config_root / "overlays" / "local.yaml"
    assert problem.field == "heartbeat.interval.msec"
    assert problem.message == "is not an option of Debezium PostgreSQL"
    assert "did you mean `heartbeat.interval.ms`?" in problem.fix


def test_option_families_by_prefix_are_known(config_root: Path, variables: dict[str, str]) -> None:
    assert problems_with(config_root, variables, "erp-source", """\
    transforms: route
    transforms.route.type: org.apache.kafka.connect.transforms.RegexRouter
    schema.history.internal.producer.linger.ms: 5
    topic.creation.default.cleanup.policy: delete
""") == []


def test_mariadb_option_is_unknown_to_postgres(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source", "    database.server.id: 5\n"))
    assert problem.field == "database.server.id" and "not an option" in problem.message


def test_integer_option_with_words(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source", "    heartbeat.interval.ms: soon\n"))
    assert problem.field == "heartbeat.interval.ms"
    assert problem.message == "must be a whole number, not 'soon'"
    assert "e.g. 10000" in problem.fix


def test_integer_out_of_range(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source", "    tasks.max: 99999999999\n"))
    assert "out of range for a int" in problem.message


def test_boolean_option_with_yes_in_quotes(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "erp-source", '    tombstones.on.delete: "yes"\n'))
    assert problem.field == "tombstones.on.delete"
    assert problem.message == "must be true or false, not 'yes'"


def test_literal_password_is_refused_naming_where_it_was_written(
        config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source", "    database.password: hunter2\n"))
    assert problem.file == config_root / "overlays" / "local.yaml"
    assert problem.field == "database.password"
    assert problem.message == "holds a secret written literally"
    assert "${file:{{secrets_file}}:<key>}" in problem.fix
    assert "hunter2" not in str(problem)


def test_any_secret_looking_key_needs_a_provider(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source",
                                 "    database.sslpassword: s3cret\n"))
    assert problem.field == "database.sslpassword"
    assert problems_with(config_root, variables, "crm-source",
                         "    database.sslpassword: ${env:SSL_PASSWORD}\n") == []


def test_unknown_connector_class_lists_the_known_ones(config_root: Path, variables: dict[str, str]) -> None:
    problem = only(problems_with(config_root, variables, "crm-source",
                                 "    connector.class: io.debezium.connector.mysql.MySqlConnector\n"))
    assert problem.field == "connector.class"
    assert "io.debezium.connector.postgresql.PostgresConnector" in problem.fix


def test_problems_are_all_collected(config_root: Path, variables: dict[str, str]) -> None:
    found = problems_with(config_root, variables, "erp-source", """\
    heartbeat.interval.ms: often
    provide.transaction.metadata: maybe
    database.server.id: null
    databse.include.list: erp
""")
    assert sorted(p.field or "" for p in found) == [
        "database.server.id", "databse.include.list", "heartbeat.interval.ms", "provide.transaction.metadata"]
    assert all("fix: " in str(p) for p in found)
