"""Our own checks of a rendered connector config: every problem names the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.capture import configs
from streams.capture.validation import check_local, check_server_ids
from streams.cli.main import main
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
    assert problem.file == config_root / "overlays" / "local.yaml" and problem.line == 4
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


def test_a_table_the_include_list_names_that_its_system_does_not_have_is_said(config_root: Path,
                                                                              variables: dict[str, str]) -> None:
    from streams.capture.validation import check_tables
    from streams.catalog.columns_file import read_all
    from streams.systems.loader import SYSTEMS_DIR

    catalogs = read_all(SYSTEMS_DIR)
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n    table.include.list: "
        "'erp.accounts,erp.acounts,erp.stock_.*,other_db.anything,ERP.Invoices'\n", encoding="utf-8")
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    problem = only(check_tables(connector, [catalogs["erp"], catalogs["crm"]]))
    assert problem.field == "table.include.list" and problem.line == 4  # the overlay's line
    assert problem.message.startswith("erp.acounts is not a table of erp (")  # a pattern or another namespace: not
    assert "accounts, debezium_signal" in problem.message                    # checked; case is ignored
    assert problem.fix == "correct the name; if the table is new, run `isthmus mappings discover erp` first"
    assert check_tables(connector, [catalogs["crm"]]) == []


def test_connectors_validate_checks_the_tables_against_the_systems_beside_the_configs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from streams.cli.main import main

    example = Path(__file__).parents[2] / "examples" / "tryton"
    for folder in ("connect-configs", "systems", "targets"):
        shutil.copytree(example / folder, tmp_path / folder)
    connector = tmp_path / "connect-configs" / "connectors" / "tryton-source.yaml"
    assert main(["connectors", "validate", "--offline", "--configs", str(tmp_path / "connect-configs"),
                 "tryton-source"]) == 0
    connector.write_text(connector.read_text().replace("- public.party_party\n", "- public.party_partie\n"))
    assert main(["connectors", "validate", "--offline", "--configs", str(tmp_path / "connect-configs"),
                 "tryton-source"]) == 1
    out = capsys.readouterr().out
    assert "tryton-source.yaml:23: table.include.list: public.party_partie is not a table of tryton" in out
    assert "run `isthmus mappings discover tryton` first" in out


def _second_erp_reader(root: Path, server_id: str, *, host: str = '"{{erp_db_host}}"') -> Path:
    """A copy of erp-source, named shop-source, reading the same server (or ``host``) as ``server_id``."""
    text = (root / "connectors" / "erp-source.yaml").read_text(encoding="utf-8")
    copy = root / "connectors" / "shop-source.yaml"
    copy.write_text(text.replace("name: erp-source", "name: shop-source")
                    .replace("database.server.id: 184101", f"database.server.id: {server_id}")
                    .replace('database.hostname: "{{erp_db_host}}"', f"database.hostname: {host}"), encoding="utf-8")
    return copy


def test_two_mariadb_connectors_of_one_server_with_one_server_id_are_refused(
        config_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deployed, the second would fail "A slave with the same server_uuid/server_id is already connected"; validate
    says so for the connector validated, though the other is not named."""
    _second_erp_reader(config_root, "184101")
    assert main(["connectors", "validate", "--offline", "--configs", str(config_root), "shop-source"]) == 1
    out = capsys.readouterr().out
    assert ("shop-source.yaml:15: database.server.id: 184101 is also the database.server.id of connector erp-source "
            "(") in out and "erp-source.yaml:15), which reads the same MariaDB server" in out
    assert "A slave with the same server_uuid/server_id is already connected" in out
    assert "fix: give each connector that reads a MariaDB server its own database.server.id" in out
    assert "e.g. 184102" in out


def test_distinct_server_ids_or_other_servers_are_valid(config_root: Path, variables: dict[str, str]) -> None:
    set_ = configs.load(config_root, env="local")
    every = [set_.render(name, variables) for name in set_.names]
    assert check_server_ids(every, every) == {}
    _second_erp_reader(config_root, "184102")
    copy = _second_erp_reader(config_root, "184101", host="other-db.example")
    set_ = configs.load(config_root, env="local")
    every = [set_.render(name, variables) for name in set_.names]
    assert check_server_ids(every, every) == {}
    copy.write_text(copy.read_text().replace("other-db.example", "127.0.0.1"), encoding="utf-8")
    set_ = configs.load(config_root, env="local")
    every = [set_.render(name, variables) for name in set_.names]
    assert sorted(check_server_ids(every, every)) == ["erp-source", "shop-source"]


def test_the_servers_own_default_id_is_refused(config_root: Path, variables: dict[str, str]) -> None:
    _second_erp_reader(config_root, "1")
    set_ = configs.load(config_root, env="local")
    every = [set_.render(name, variables) for name in set_.names]
    (problem,) = check_server_ids(every, every)["shop-source"]
    assert problem.field == "database.server.id" and problem.line == 15
    assert "1 is MariaDB's default server_id" in problem.message and "its own id" in problem.message
