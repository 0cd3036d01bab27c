"""Our own checks of a rendered connector config: every problem names the file, the key and the fix."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.capture.configs import LocalConnector
from streams.capture.validation import (
    captured_partitioned,
    check,
    check_capture,
    check_identities,
    check_local,
    check_publication,
    check_server_ids,
    interval_warnings,
    keyless_warnings,
    nan_warnings,
    warnings,
)
from streams.catalog.model import Catalog, Column, Table, TableIdentity
from streams.catalog.postgres import Publication
from streams.cli.main import main
from streams.config.secret import Secret
from streams.config_files.problem import Problem
from streams.systems import Engine

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


def test_isthmus_systems_dir_wins_over_the_folder_beside_the_configs_and_a_broken_one_is_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # a trial: --configs of a copy beside the project's systems/ checked the project's systems, skipping the
    # partitioned-table checks of the user's own (ISTHMUS_SYSTEMS_DIR), and said "valid"; systems that did not
    # load skipped the checks without a word
    import shutil

    from streams.cli.main import main

    example = Path(__file__).parents[2] / "examples" / "tryton"
    mine = tmp_path / "mine"
    for folder in ("connect-configs", "systems", "targets"):
        shutil.copytree(example / folder, mine / folder)
    shutil.copytree(example / "connect-configs", tmp_path / "copy" / "connect-configs")
    (tmp_path / "copy" / "systems").mkdir()  # the folder beside the copy: no system of the user's
    connector = tmp_path / "copy" / "connect-configs" / "connectors" / "tryton-source.yaml"
    connector.write_text(connector.read_text().replace("- public.party_party\n", "- public.party_partie\n"))
    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(mine / "systems"))
    assert main(["connectors", "validate", "--offline", "--configs", str(tmp_path / "copy" / "connect-configs"),
                 "tryton-source"]) == 1
    assert "public.party_partie is not a table of tryton" in capsys.readouterr().out
    (mine / "systems" / "tryton.yaml").write_text("engine: [\n", encoding="utf-8")
    assert main(["connectors", "validate", "--offline", "--configs", str(tmp_path / "copy" / "connect-configs"),
                 "tryton-source"]) == 0
    err = capsys.readouterr().err
    assert "warning: the checks against the captured tables' columns files" in err and "are skipped" in err
    assert f"{mine / 'systems' / 'tryton.yaml'}:2: (yaml): not valid YAML" in err  # the problem itself, and its fix


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


def _wawi(*, generated: bool = True) -> Catalog:
    """The new user's ERP as its columns file records it: schema WaWi, Debitor PARTITIONED BY LIST with two
    partitions, and a STORED generated column."""
    columns = (Column(name="id", sql_type="BIGINT", nullable=False), Column(name="land", sql_type="TEXT"),
               Column(name="anzeige_name", sql_type="TEXT", generated="stored" if generated else None))
    debitor = Table(name="Debitor", columns=MappingProxyType({c.name: c for c in columns}), primary_key=("id",),
                    partitions=("debitor_at", "debitor_de"))
    return Catalog(system="wawi", engine="postgresql", namespace="WaWi", tables=MappingProxyType({"Debitor": debitor}))


def _wawi_source(root: Path, variables: dict[str, str], options: str, *,
                 tables: str = "[WaWi.Debitor]") -> LocalConnector:
    """crm-source, capturing ``tables`` (WaWi.Debitor, as the user's copy of it did), with the overlay's ``options``."""
    (root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + f"connectors:\n  crm-source:\n    table.include.list: {tables}\n" + options,
        encoding="utf-8")
    return configs.load(root, env="local").render("crm-source", variables)


def test_a_partitioned_table_without_publish_via_partition_root_is_refused(config_root: Path,
                                                                            variables: dict[str, str]) -> None:
    connector = _wawi_source(config_root, variables, "    column.exclude.list: WaWi.Debitor.anzeige_name\n")
    problem = only(check_capture(connector, [_wawi()]))
    assert (problem.field, problem.line) == ("publish.via.partition.root", None)
    assert problem.message.startswith(
        "WaWi.Debitor is a partitioned table (partitions: debitor_at, debitor_de) and publish.via.partition.root is "
        "not set (Debezium's default: false): PostgreSQL then publishes its changes as its partitions'")
    assert problem.fix.startswith(
        "set `publish.via.partition.root: true`; Debezium applies it only when it creates the publication, so if "
        "publication isthmus_crm exists already, also run `ALTER PUBLICATION isthmus_crm SET "
        "(publish_via_partition_root = true);`")
    fixed = _wawi_source(config_root, variables, "    column.exclude.list: WaWi.Debitor.anzeige_name\n"
                                                 "    publish.via.partition.root: true\n")
    assert check_capture(fixed, [_wawi()]) == [] and check(fixed, None, [_wawi()]) == []


def test_a_partition_of_a_captured_parent_is_refused(config_root: Path, variables: dict[str, str]) -> None:
    connector = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n"
                                                     "    column.exclude.list: WaWi.Debitor.anzeige_name\n")
    listed = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n"
                                                  "    column.exclude.list: WaWi.Debitor.anzeige_name\n",
                          tables="'WaWi.Debitor,WaWi.debitor_de'")
    problem = only(check(listed, None, [_wawi()]))  # not "no table of wawi": check_tables knows the partition
    assert (problem.field, problem.line) == ("table.include.list", 4)
    assert problem.message == ("WaWi.debitor_de is a partition of WaWi.Debitor, which the connector captures too: the "
                               "partition's rows are the parent's, so the snapshot reads them twice, onto two topics")
    assert problem.fix.startswith("take WaWi.debitor_de out of table.include.list")
    pattern = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n"
                                                   "    column.exclude.list: WaWi.Debitor.anzeige_name\n",
                           tables="'wawi\\..*'")
    assert [p.message.split(" is ")[0] for p in check_capture(pattern, [_wawi()])] == ["WaWi.debitor_at",
                                                                                      "WaWi.debitor_de"]
    alone = _wawi_source(config_root, variables, "", tables="WaWi.debitor_at")
    problem = only(check_capture(alone, [_wawi(generated=False)]))
    assert problem.message.startswith("WaWi.debitor_at is a partition of WaWi.Debitor: the columns file records")
    assert problem.fix.startswith("capture WaWi.Debitor instead, with publish.via.partition.root: true")
    assert check_capture(connector, [_wawi()]) == []


def test_a_generated_column_left_in_the_capture_is_refused(config_root: Path, variables: dict[str, str]) -> None:
    connector = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n")
    problem = only(check_capture(connector, [_wawi()]))
    assert (problem.field, problem.line) == ("column.exclude.list", None)
    assert problem.message.startswith("WaWi.Debitor.anzeige_name is a generated column (GENERATED ALWAYS AS (...) "
                                      "STORED): PostgreSQL's logical decoding (pgoutput) never sends it")
    assert "Column 'anzeige_name' not found in result set" in problem.message
    assert problem.fix.startswith("add WaWi.Debitor.anzeige_name to column.exclude.list")
    included = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n"
                                                    "    column.include.list: 'WaWi\\.Debitor\\..*'\n")
    assert only(check_capture(included, [_wawi()])).fix.startswith(
        "take WaWi.Debitor.anzeige_name out of column.include.list")
    narrowed = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n"
                                                    "    column.include.list: 'WaWi\\.Debitor\\.(id|land)'\n")
    assert check_capture(narrowed, [_wawi()]) == []


def test_an_existing_publication_that_publishes_partitions_is_refused_with_the_alter(
        config_root: Path, variables: dict[str, str]) -> None:
    connector = _wawi_source(config_root, variables, "    publish.via.partition.root: true\n"
                                                     "    publication.name: WaWi_pub\n")
    problem = only(check_publication(connector, [_wawi()], via_root=False))
    assert (problem.field, problem.line) == ("publication.name", 6)
    assert problem.message.startswith("publication WaWi_pub exists in database crm with publish_via_partition_root = "
                                      "false (pg_publication.pubviaroot), so the changes of the partitioned table "
                                      "WaWi.Debitor are published as their partitions' and dropped")
    assert problem.fix.startswith('run `ALTER PUBLICATION "WaWi_pub" SET (publish_via_partition_root = true);` in '
                                  "database crm as the publication's owner")
    assert "`isthmus connectors snapshot crm-source --tables WaWi.Debitor`" in problem.fix
    assert check_publication(connector, [_wawi()], via_root=True) == []
    assert check_publication(connector, [_wawi()], via_root=None) == []  # not there yet: Debezium creates it
    assert captured_partitioned(connector, [_wawi()]) == ["WaWi.Debitor"]
    assert captured_partitioned(connector, []) == []


def test_connectors_validate_refuses_a_partitioned_table_and_reads_the_publication(
        config_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The new user's trial: `connectors validate` said valid while every streamed change of a partitioned table was
    dropped. Online it also reads the publication, with the connector's own connection."""
    import shutil

    from streams.catalog import live

    project = config_root.parent
    for folder in ("systems", "targets"):
        shutil.copytree(Path(__file__).parents[2] / folder, project / folder)
    columns_file = project / "systems" / "crm.columns.yaml"
    columns_file.write_text(columns_file.read_text(encoding="utf-8").replace(
        "  customers:\n    primary_key: [id]\n    replica_identity: full\n",
        "  customers:\n    primary_key: [id]\n    replica_identity: full\n    partitions: [customers_de]\n"),
        encoding="utf-8")
    assert main(["connectors", "validate", "--offline", "--configs", str(config_root), "crm-source"]) == 1
    out = capsys.readouterr().out
    assert "crm-source: 1 problem(s)" in out
    assert ("crm-source.yaml: publish.via.partition.root: crm.customers is a partitioned table (partitions: "
            "customers_de) and publish.via.partition.root is not set") in out
    connector = config_root / "connectors" / "crm-source.yaml"
    connector.write_text(connector.read_text(encoding="utf-8").replace(
        "  publication.autocreate.mode: filtered\n",
        "  publication.autocreate.mode: filtered\n  publish.via.partition.root: true\n"), encoding="utf-8")
    assert main(["connectors", "validate", "--offline", "--configs", str(config_root), "crm-source"]) == 0
    read: list[str] = []

    def via_root(connection: live.Connection, publication: str) -> bool:
        read.append(f"{connection.user}@{connection.database}: {publication}")
        return False

    monkeypatch.setattr(live, "connection_of", lambda config, **_: live.Connection(
        engine=Engine.POSTGRESQL, host=config["database.hostname"], port=5432, user=config["database.user"],
        password=Secret(""), database=config["database.dbname"]))
    monkeypatch.setattr(live, "publication_via_root", via_root)
    monkeypatch.setattr(live, "table_identities", lambda connection: [])
    monkeypatch.setattr(live, "publication_of", lambda connection, name: None)
    monkeypatch.setattr(ConnectClient, "validate", lambda self, *_: [])
    assert main(["connectors", "validate", "--configs", str(config_root), "crm-source"]) == 1
    assert read == ["isthmus@crm: isthmus_crm"]
    out = capsys.readouterr().out
    assert ("crm-source.yaml:19: publication.name: publication isthmus_crm exists in database crm with "
            "publish_via_partition_root = false") in out
    assert "fix: run `ALTER PUBLICATION isthmus_crm SET (publish_via_partition_root = true);` in database crm" in out


def test_the_shipped_connectors_let_truncates_through(config_root: Path, variables: dict[str, str]) -> None:
    set_ = configs.load(config_root, env="local")
    assert [warnings(set_.render(name, variables)) for name in set_.names] == [[], []]


@pytest.mark.parametrize(("overlay", "said"), [
    ("    skipped.operations: null\n", "is not set, so Debezium skips truncates (its default is 't')"),
    ("    skipped.operations: [c, T]\n", "is 'c,T', which skips truncates"),
])
def test_skipped_truncates_are_a_warning_naming_where_and_the_fix(
        config_root: Path, variables: dict[str, str], overlay: str, said: str) -> None:
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n" + overlay, encoding="utf-8")
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    assert check_local(connector) == []  # valid: a warning refuses nothing
    (warning,) = warnings(connector)
    assert warning.field == "skipped.operations"
    assert warning.message.startswith(said + ": a TRUNCATE of a captured table sends no event")
    assert warning.fix.startswith("set `skipped.operations: none`") and '"TRUNCATE"' in warning.fix
    if "null" in overlay:  # unset: the connector file is where to add it
        assert (warning.file, warning.line) == (config_root / "connectors" / "erp-source.yaml", None)
    else:
        assert (warning.file, warning.line) == (config_root / "overlays" / "local.yaml", 4)


@pytest.mark.parametrize("overlay", ["    driver.yearIsDateType: null\n", "    driver.yearIsDateType: true\n"])
def test_a_mariadb_driver_reading_year_as_a_date_is_a_warning(
        config_root: Path, variables: dict[str, str], overlay: str) -> None:
    """MariaDB Connector/J reads YEAR as a date by default, and a YEAR 0000 then fails the snapshot."""
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n" + overlay, encoding="utf-8")
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    assert check_local(connector) == []
    (warning,) = warnings(connector)
    assert warning.field == "driver.yearIsDateType" and "a YEAR of 0000 fails it" in warning.message
    assert warning.fix.startswith("set `driver.yearIsDateType: false`")
    crm = configs.load(config_root, env="local").render("crm-source", variables)
    assert warnings(crm) == []  # PostgreSQL's driver has no such option


@pytest.mark.parametrize("name", ["crm-source", "erp-source"])
def test_a_json_converter_that_writes_defaults_for_nulls_is_a_warning(
        config_root: Path, variables: dict[str, str], name: str) -> None:
    """JsonConverter's replace.null.with.default (true by default) turns a null into the column's DEFAULT."""
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + f"connectors:\n  {name}:\n    value.converter.replace.null.with.default: null\n",
        encoding="utf-8")
    connector = configs.load(config_root, env="local").render(name, variables)
    assert check_local(connector) == []
    (warning,) = warnings(connector)
    assert warning.field == "value.converter.replace.null.with.default"
    assert "writes a nullable column's DEFAULT in place of a null" in warning.message
    assert warning.fix.startswith("set `value.converter.replace.null.with.default: false`")


def test_the_shipped_examples_warn_of_nothing(variables: dict[str, str]) -> None:
    for root in (configs.DEFAULT_ROOT, configs.DEFAULT_ROOT.parent / "examples" / "tryton" / "connect-configs"):
        set_ = configs.load(root, env="local")
        assert {name: warnings(set_.render(name, variables)) for name in set_.names} == {
            name: [] for name in set_.names}, root


def test_connectors_validate_prints_the_warning_and_stays_valid(
        config_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    connector = config_root / "connectors" / "crm-source.yaml"
    connector.write_text(connector.read_text().replace("  skipped.operations: none\n", ""), encoding="utf-8")
    assert main(["connectors", "validate", "--offline", "--configs", str(config_root), "crm-source"]) == 0
    out = capsys.readouterr().out
    assert "crm-source: valid (isthmus checks)\n  warning: " in out
    assert "crm-source.yaml: skipped.operations: is not set, so Debezium skips truncates" in out
    assert main(["connectors", "validate", "--offline", "--json", "--configs", str(config_root), "crm-source"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)["connectors"]
    assert shown["valid"] is True and [w["key"] for w in shown["warnings"]] == ["skipped.operations"]


@pytest.mark.parametrize(("overlay", "key", "said"), [
    ("    notification.enabled.channels: null\n", "notification.enabled.channels", "is not set"),
    ("    notification.enabled.channels: log\n", "notification.enabled.channels", "is 'log', without the sink channel"),
    ("    notification.sink.topic.name: null\n", "notification.sink.topic.name",
     "is not set, so the sink notification channel has no topic"),
])
def test_a_connector_without_the_sink_notification_channel_is_a_warning(
        config_root: Path, variables: dict[str, str], overlay: str, key: str, said: str) -> None:
    """Without Debezium's notifications `isthmus connectors snapshot` cannot follow a snapshot to its end."""
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n" + overlay, encoding="utf-8")
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    assert check_local(connector) == []
    (warning,) = warnings(connector)
    assert warning.field == key
    assert warning.message == (f"{said}: `isthmus connectors snapshot` cannot follow an incremental snapshot, and a "
                               "table it skips (no primary key, a failed read) is said only in Connect's log")
    assert warning.fix.startswith("set `notification.enabled.channels: sink` and `notification.sink.topic.name: "
                                  "erp.notifications` in the connector's file")


def _billing(*tables: TableIdentity) -> list[TableIdentity]:
    """A made-up billing database: subscriber (keyed, FULL, an INTERVAL column), subscriber_tag (no primary key,
    REPLICA IDENTITY DEFAULT), and ``tables``."""
    return [TableIdentity(namespace="billing", name="subscriber", primary_key=True, replica_identity="full",
                          intervals=("grace_period",)),
            TableIdentity(namespace="billing", name="subscriber_tag", primary_key=False, replica_identity="default"),
            *tables]


def _billing_source(root: Path, variables: dict[str, str], options: str = "", *,
                    tables: str = "[billing.subscriber, billing.subscriber_tag]") -> LocalConnector:
    """crm-source, capturing ``tables`` of schema billing (as the new user's billing-source did), with ``options``."""
    (root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + f"connectors:\n  crm-source:\n    table.include.list: {tables}\n" + options,
        encoding="utf-8")
    return configs.load(root, env="local").render("crm-source", variables)


def test_a_captured_table_without_a_replica_identity_is_refused_naming_the_alter(
        config_root: Path, variables: dict[str, str]) -> None:
    """The new user's trial: a table without a primary key in table.include.list was "valid", and once deployed its
    publication made PostgreSQL refuse every UPDATE and DELETE of the source application on it."""
    connector = _billing_source(config_root, variables)
    problem = only(check_identities(connector, _billing(), None, publication_read=False))
    overlay = config_root / "overlays" / "local.yaml"
    assert (problem.field, problem.file, problem.line) == ("table.include.list", overlay, 4)
    assert problem.message == (
        "billing.subscriber_tag has no primary key and REPLICA IDENTITY DEFAULT (which is the primary key): the "
        "connector captures it, so its publication isthmus_crm publishes its updates and deletes, and PostgreSQL then "
        "refuses every UPDATE and DELETE of it, the source application's own too (ERROR: cannot update table "
        "\"subscriber_tag\" because it does not have a replica identity and publishes updates)")
    assert problem.fix.startswith("run `ALTER TABLE billing.subscriber_tag REPLICA IDENTITY FULL;` (its updates and "
                                  "deletes then carry the whole old row")
    assert "REPLICA IDENTITY USING INDEX <a unique index on NOT NULL columns>" in problem.fix
    assert "or leave billing.subscriber_tag out of table.include.list" in problem.fix
    pattern = _billing_source(config_root, variables, tables="'billing\\.subscr.*'")
    assert only(check_identities(pattern, _billing(), None, publication_read=False)).message.startswith(
        "billing.subscriber_tag has no primary key")
    full = [replace(t, replica_identity="full") if t.name == "subscriber_tag" else t for t in _billing()]
    assert check_identities(connector, full, None, publication_read=False) == []
    left_out = _billing_source(config_root, variables, tables="[billing.subscriber]")
    assert check_identities(left_out, _billing(), None, publication_read=False) == []
    erp = configs.load(config_root, env="local").render("erp-source", variables)
    assert check_identities(erp, _billing(), None, publication_read=False) == []  # MariaDB has no replica identity


@pytest.mark.parametrize(("identity", "said"), [
    (TableIdentity(namespace="billing", name="ledger", primary_key=True, replica_identity="nothing"),
     "billing.ledger has REPLICA IDENTITY NOTHING: "),
    (TableIdentity(namespace="billing", name="ledger", primary_key=False, replica_identity="index",
                   identity_index=False),
     "billing.ledger has REPLICA IDENTITY USING INDEX of an index that was dropped (PostgreSQL then takes it as "
     "NOTHING): "),
    (TableIdentity(namespace="billing", name="ledger_2026", primary_key=False, replica_identity="default",
                   root="billing.ledger"),
     "billing.ledger_2026 (a partition of billing.ledger) has no primary key and REPLICA IDENTITY DEFAULT"),
])
def test_nothing_a_dropped_identity_index_and_a_partition_are_refused(
        config_root: Path, variables: dict[str, str], identity: TableIdentity, said: str) -> None:
    connector = _billing_source(config_root, variables, tables="[billing.ledger]")
    assert only(check_identities(connector, _billing(identity), None, publication_read=False)).message.startswith(said)
    kept = replace(identity, replica_identity="index", identity_index=True)
    assert check_identities(connector, _billing(kept), None, publication_read=False) == []


def test_the_publication_decides_which_tables_are_judged(config_root: Path, variables: dict[str, str]) -> None:
    """Debezium's publication.autocreate.mode: all_tables (its default) creates the publication FOR ALL TABLES; an
    existing one is used as it is unless filtered alters it to the captured tables."""
    every = _billing_source(config_root, variables, "    publication.autocreate.mode: null\n",
                            tables="[billing.subscriber]")
    problem = only(check_identities(every, _billing(), None, publication_read=True))
    assert (problem.field, problem.line) == ("publication.autocreate.mode", None)
    assert ("publication.autocreate.mode is not set (Debezium's default: all_tables), so Debezium creates publication "
            "isthmus_crm FOR ALL TABLES") in problem.message
    assert "or set `publication.autocreate.mode: filtered`" in problem.fix
    assert check_identities(every, _billing(), None, publication_read=False) == []  # not read: the captured only
    made = Publication(all_tables=False, updates_or_deletes=True, tables=frozenset({"billing.subscriber_tag"}))
    used = _billing_source(config_root, variables, "    publication.autocreate.mode: disabled\n",
                           tables="[billing.subscriber]")
    problem = only(check_identities(used, _billing(), made, publication_read=True))
    assert (problem.field, problem.message.split(": ")[1]) == (
        "publication.name", "publication isthmus_crm exists and publishes its updates and deletes "
                            "(publication.autocreate.mode disabled")
    assert "`ALTER PUBLICATION isthmus_crm DROP TABLE billing.subscriber_tag;`" in problem.fix
    filtered = _billing_source(config_root, variables, tables="[billing.subscriber]")
    assert check_identities(filtered, _billing(), made, publication_read=True) == []  # altered to the captured
    inserts = replace(made, updates_or_deletes=False)
    assert check_identities(used, _billing(), inserts, publication_read=True) == []


@pytest.mark.parametrize(("overlay", "said"), [
    ("", "is not set (Debezium's default: numeric)"), ("    interval.handling.mode: numeric\n", "is numeric")])
def test_captured_interval_columns_sent_as_microseconds_are_a_warning(
        config_root: Path, variables: dict[str, str], overlay: str, said: str) -> None:
    """An INTERVAL arrived as microseconds with a month as 30.4375 days: '1 mon 2 days' became 32.4375 days."""
    connector = _billing_source(config_root, variables, overlay)
    (warning,) = interval_warnings(connector, _billing())
    assert warning.field == "interval.handling.mode"
    assert warning.message == (
        f"{said}, so the INTERVAL column grace_period of billing.subscriber arrives as microseconds in which a month "
        "is 30.4375 days and a year 365.25: '1 mon 2 days' becomes 32.4375 days, and the interval's own months and "
        "days are lost")
    assert warning.fix.startswith("set `interval.handling.mode: string`: Debezium then sends ISO 8601 text ('1 mon 2 "
                                  "days' as P0Y1M2DT0H0M0S), months kept exact")
    text = _billing_source(config_root, variables, "    interval.handling.mode: string\n")
    assert interval_warnings(text, _billing()) == []
    assert interval_warnings(_billing_source(config_root, variables, tables="[billing.subscriber_tag]"),
                             _billing()) == []


def test_a_captured_mariadb_table_without_a_primary_key_is_a_warning_naming_message_key_columns(
        config_root: Path, variables: dict[str, str]) -> None:
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n    table.include.list: 'erp\\..*'\n", encoding="utf-8")
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    tables = [TableIdentity(namespace="erp", name="account", primary_key=True),
              TableIdentity(namespace="erp", name="posting_tag", primary_key=False)]
    assert check_identities(connector, tables, None, publication_read=False) == []  # valid: MariaDB writes on
    (warning,) = keyless_warnings(connector, tables)
    assert warning.field == "message.key.columns"
    assert warning.message.startswith("erp.posting_tag has no primary key, so Debezium sends its changes without "
                                      "a key")
    assert warning.fix.startswith("set `message.key.columns: erp.posting_tag:<columns that identify a row>`")
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n    table.include.list: 'erp\\..*'\n"
                          "    message.key.columns: 'erp.posting_tag:account_id,tag'\n", encoding="utf-8")
    keyed = configs.load(config_root, env="local").render("erp-source", variables)
    assert keyless_warnings(keyed, tables) == []


def test_connectors_validate_refuses_a_table_without_a_replica_identity_from_the_columns_file(
        config_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Offline, the columns files say what the tables are: `validate` (and `deploy`, which validates first) refuses."""
    import shutil

    project = config_root.parent
    for folder in ("systems", "targets"):
        shutil.copytree(Path(__file__).parents[2] / folder, project / folder)
    columns_file = project / "systems" / "crm.columns.yaml"
    columns_file.write_text(columns_file.read_text(encoding="utf-8").replace(
        "tables:\n", "tables:\n  customer_tags:\n    primary_key: []\n    replica_identity: default\n    columns:\n"
                     "      customer_id: {type: BIGINT, nullable: false}\n      tag: {type: TEXT, nullable: false}\n",
        1), encoding="utf-8")
    connector = config_root / "connectors" / "crm-source.yaml"
    connector.write_text(connector.read_text(encoding="utf-8").replace(
        "    - crm.customers\n", "    - crm.customers\n    - crm.customer_tags\n"), encoding="utf-8")
    assert main(["connectors", "validate", "--offline", "--configs", str(config_root), "crm-source"]) == 1
    out = capsys.readouterr().out
    assert "crm-source: 1 problem(s)" in out
    assert ("crm-source.yaml:23: table.include.list: crm.customer_tags has no primary key and REPLICA IDENTITY "
            "DEFAULT") in out
    columns_file.write_text(columns_file.read_text(encoding="utf-8").replace(
        "  customer_tags:\n    primary_key: []\n    replica_identity: default\n",
        "  customer_tags:\n    primary_key: []\n    replica_identity: full\n"), encoding="utf-8")
    assert main(["connectors", "validate", "--offline", "--configs", str(config_root), "crm-source"]) == 0
    assert "warning: " in capsys.readouterr().out  # still no key: message.key.columns


def test_discover_says_what_capturing_a_table_without_a_key_does() -> None:
    """`isthmus mappings discover` printed only "no primary key" of the table whose capture broke its application."""
    tag, full, ledger = (TableIdentity(namespace="billing", name="subscriber_tag", primary_key=False,
                                       replica_identity="default"),
                         TableIdentity(namespace="billing", name="subscriber_tag", primary_key=False,
                                       replica_identity="full"),
                         TableIdentity(namespace="erp", name="posting_tag", primary_key=False))
    assert tag.caveat is not None and tag.caveat.startswith(
        "no primary key and REPLICA IDENTITY DEFAULT (which is the primary key): once a publication publishes its "
        "updates and deletes (the connector's does when it captures it) PostgreSQL refuses every UPDATE and DELETE of "
        "it; fix: ALTER TABLE billing.subscriber_tag REPLICA IDENTITY FULL")
    assert full.caveat == ledger.caveat == (
        "Debezium sends its changes without a key; fix: set message.key.columns for it in the connector's file "
        "(`isthmus connectors validate` warns of it)")
    keyed = replace(tag, primary_key=True)
    assert keyed.caveat is None and replace(keyed, replica_identity="nothing").caveat is not None


def test_a_mariadb_history_of_only_the_captured_tables_is_a_warning(
        config_root: Path, variables: dict[str, str]) -> None:
    """A trial added a table to a running MariaDB capture: with the history keeping only the captured tables' DDL,
    the table's CREATE was not there and the task FAILED at its first row. The shipped connector keeps every
    table's DDL; a config that keeps only the captured ones is warned of, naming the recovery and the fix."""
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    assert connector.config["schema.history.internal.store.only.captured.tables.ddl"] == "false"
    assert warnings(connector) == []
    (config_root / "overlays" / "local.yaml").write_text(
        LOCAL_VARIABLES + "connectors:\n  erp-source:\n    schema.history.internal.store.only.captured.tables.ddl: "
                          "true\n", encoding="utf-8")
    connector = configs.load(config_root, env="local").render("erp-source", variables)
    assert check_local(connector) == []  # valid: a warning refuses nothing
    (warning,) = warnings(connector)
    assert warning.field == "schema.history.internal.store.only.captured.tables.ddl"
    assert (warning.file, warning.line) == (config_root / "overlays" / "local.yaml", 4)
    assert "whose schema isn't known to this connector" in warning.message
    assert "`isthmus connectors offsets <name> --reset`" in warning.message
    assert warning.fix.startswith("set `schema.history.internal.store.only.captured.tables.ddl: false`")
    assert '"Adding a table to a MariaDB capture"' in warning.fix


def test_captured_numeric_columns_that_may_hold_nan_are_a_warning(
        config_root: Path, variables: dict[str, str]) -> None:
    """A new user's trial: NaN in a nullable NUMERIC reached the ERP as null with no word, and NaN in a NOT NULL one
    (an invoice amount, of a partition) failed the connector's task mid-snapshot; `validate` had said "valid"."""
    tables = _billing(
        TableIdentity(namespace="billing", name="subscriber_x", primary_key=True, replica_identity="default",
                      numerics=("balance", "due"), required_numerics=("due",)))
    connector = _billing_source(config_root, variables,  # crm-source's decimal.handling.mode: precise
                                tables="[billing.subscriber, billing.subscriber_tag, billing.subscriber_x]")
    (warning,) = nan_warnings(connector, tables)
    assert warning.field == "decimal.handling.mode"
    assert warning.message.startswith(
        "is precise, and no CHECK keeps 'NaN' (or an infinity) out of the NUMERIC columns balance, due of "
        "billing.subscriber_x: Debezium sends null for such a value, so balance arrives as null"), warning.message
    assert ("due is NOT NULL, so the null fails the connector's task at the first such row (DataException: Invalid "
            "value: null used for required field)") in warning.message, warning.message
    assert warning.fix.startswith("set each row that holds one to a number or NULL, then ALTER TABLE "
                                  "billing.subscriber_x ADD CHECK (balance NOT IN ('NaN', 'Infinity', "
                                  "'-Infinity')); ALTER TABLE billing.subscriber_x ADD CHECK (due NOT IN"), warning.fix
    # a table not captured, or NUMERICs sent as text (NaN then dead-lettered by name), say nothing
    assert nan_warnings(_billing_source(config_root, variables), tables) == []
    as_text = _billing_source(config_root, variables, "    decimal.handling.mode: string\n",
                              tables="[billing.subscriber_x]")
    assert nan_warnings(as_text, tables) == []
