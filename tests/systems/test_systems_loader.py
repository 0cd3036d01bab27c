"""systems/*.yaml: the reference pair loads, any identifier is a system, and every problem names file, line,
field and fix."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.systems import Engine, NotCaptured, SystemConfigError, UnknownSystem, load_systems

CONNECTOR = "name: {name}\nconfig:\n  topic.prefix: {prefix}\n"


def _project(tmp_path: Path, systems: dict[str, str], connectors: dict[str, str] | None = None,
             targets: tuple[str, ...] = ()) -> Path:
    """A folder laid out as a project: systems/, connect-configs/connectors/, targets/."""
    (tmp_path / "systems").mkdir()
    (tmp_path / "connect-configs" / "connectors").mkdir(parents=True)
    (tmp_path / "targets").mkdir()
    for name, text in systems.items():
        (tmp_path / "systems" / f"{name}.yaml").write_text(text)
    for name, prefix in (connectors or {}).items():
        (tmp_path / "connect-configs" / "connectors" / f"{name}.yaml").write_text(
            CONNECTOR.format(name=name, prefix=prefix))
    for target in targets:
        (tmp_path / "targets" / target).write_text("adapter: http\n")
    return tmp_path / "systems"


def test_the_reference_pair_loads_from_systems_folder() -> None:
    systems = load_systems(env={})
    assert list(systems) == ["crm", "erp"]
    assert systems["crm"].engine is Engine.POSTGRESQL and systems["erp"].engine is Engine.MARIADB
    assert systems["crm"].topic("customers") == "crm.crm.customers"
    assert systems["erp"].transaction_topic == "erp.transaction"
    assert systems["erp"].time_zone == "Asia/Shanghai"
    assert systems.writable == ("crm", "erp")


def test_a_zone_from_the_environment_wins_over_its_default() -> None:
    assert load_systems(env={"ISTHMUS_ERP_TIME_ZONE": "America/New_York"})["erp"].time_zone == "America/New_York"


def test_three_systems_any_names_and_a_read_only_one(tmp_path: Path) -> None:
    directory = _project(tmp_path, {
        "sales": "engine: postgresql\nconnector: sales-src\ntopics: {prefix: s, namespace: public}\n"
                 "writable: true\ntarget: targets/sales.yaml\n",
        "books": "engine: mysql\nconnector: books-src\ntopics: {prefix: b, namespace: ledger}\n"
                 "time_zone: Europe/Berlin\nwritable: true\ntarget: targets/books.yaml\n",
        "shop": "engine: mariadb\nconnector: shop-src\ntopics: {prefix: shop, namespace: shopdb}\n",
    }, {"sales-src": "s", "books-src": "b", "shop-src": "shop"}, ("sales.yaml", "books.yaml"))
    systems = load_systems(directory, env={})
    assert list(systems) == ["books", "sales", "shop"]
    assert systems.writable == ("books", "sales")
    assert not systems["shop"].writable and systems["shop"].target is None
    assert systems["shop"].time_zone == "UTC"
    found = systems.by_topic("shop.shopdb.order_items")
    assert found is not None and found[0].name == "shop" and found[1] == "order_items"
    assert systems.by_topic("other.x.y") is None
    with pytest.raises(UnknownSystem, match=r"no system named 'crm'; declared in .*: books, sales, shop"):
        systems["crm"]


def test_every_problem_is_reported_at_once_with_line_field_and_fix(tmp_path: Path) -> None:
    directory = _project(tmp_path, {
        "bad": "engine: oracle\nconnector: nowhere\ntopics: {prefix: x}\ntime_zone: Mars/Olympus\n"
               "writable: yes-please\ncolour: blue\n",
        "ro": "engine: postgresql\nconnector: ro-src\ntopics: {prefix: wrong, namespace: public}\n"
              "target: targets/ro.yaml\n",
    }, {"ro-src": "ro"})
    with pytest.raises(SystemConfigError) as raised:
        load_systems(directory, env={})
    shown = {(Path(p.file).name, p.line, p.field): (p.message, p.fix) for p in raised.value.problems}
    assert shown[("bad.yaml", 1, "engine")][0] == "unknown engine 'oracle'"
    assert "postgresql, mariadb, mysql" in shown[("bad.yaml", 1, "engine")][1]
    assert "no connector file nowhere.yaml" in shown[("bad.yaml", 2, "connector")][0]
    assert shown[("bad.yaml", 3, "topics.namespace")][0].startswith("missing")
    assert shown[("bad.yaml", 4, "time_zone")][0] == "unknown time zone 'Mars/Olympus'"
    assert "must be true or false" in shown[("bad.yaml", 5, "writable")][0]
    assert shown[("bad.yaml", 6, "colour")][0] == "unknown field"
    assert "sets topic.prefix 'ro'" in shown[("ro.yaml", 3, "topics.prefix")][0]
    assert shown[("ro.yaml", 4, "target")][0] == "a read-only system takes no commands"
    assert "bad.yaml:1: engine: unknown engine 'oracle'; fix: use one of" in str(raised.value)


def test_a_writable_system_needs_an_existing_target_and_names_must_be_identifiers(tmp_path: Path) -> None:
    directory = _project(tmp_path, {
        "Big-Shop": "engine: mariadb\nconnector: c\ntopics: {prefix: c, namespace: d}\n",
        "erp2": "engine: mariadb\nconnector: c\ntopics: {prefix: c, namespace: d}\nwritable: true\n",
    }, {"c": "c"})
    with pytest.raises(SystemConfigError) as raised:
        load_systems(directory, env={})
    fields = {(Path(p.file).name, p.field) for p in raised.value.problems}
    assert ("Big-Shop.yaml", "(file name)") in fields
    assert ("erp2.yaml", "target") in fields


def test_two_systems_on_the_same_topics_are_refused(tmp_path: Path) -> None:
    text = "engine: postgresql\nconnector: c\ntopics: {prefix: c, namespace: public}\n"
    directory = _project(tmp_path, {"one": text, "two": text}, {"c": "c"})
    with pytest.raises(SystemConfigError, match=r"the same prefix and namespace as one\.yaml"):
        load_systems(directory, env={})


def test_an_empty_or_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemConfigError, match="no such folder"):
        load_systems(tmp_path / "nowhere", env={})
    with pytest.raises(SystemConfigError, match="declares no system"):
        load_systems(_project(tmp_path, {}), env={})


def test_the_cli_names_a_broken_system_file_instead_of_failing_with_a_traceback(tmp_path: Path) -> None:
    directory = _project(tmp_path, {"shop": "engine: oracle\n"})
    env = {**os.environ, "ISTHMUS_SYSTEMS_DIR": str(directory), "ISTHMUS_RESYNC_AT": "off"}
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "worker"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "shop.yaml:1: engine: unknown engine 'oracle'; fix: use one of postgresql, mariadb, mysql" in result.stderr


def test_a_system_knows_the_tables_its_connector_captures_unless_an_overlay_changes_them(tmp_path: Path) -> None:
    directory = _project(tmp_path, {"shop": "engine: postgresql\nconnector: shop-source\n"
                                            "topics: {prefix: shop, namespace: sales}\n"}, {"shop-source": "shop"})
    connector = tmp_path / "connect-configs" / "connectors" / "shop-source.yaml"
    connector.write_text(connector.read_text() + "  table.include.list: [sales.orders, sales.lines]\n")
    shop = load_systems(directory, env={})["shop"]
    assert shop.connector_file == connector
    assert shop.captures("orders") and not shop.captures("order_status")
    overlays = tmp_path / "connect-configs" / "overlays"
    overlays.mkdir()
    (overlays / "prod.yaml").write_text("connectors:\n  shop-source:\n    table.include.list: sales.orders\n")
    shop = load_systems(directory, env={})["shop"]
    assert shop.capture is None and shop.captures("order_status")  # not known from the file alone


def test_a_write_only_system_declares_capture_none_and_a_target(tmp_path: Path) -> None:
    """A SaaS API Isthmus only writes into: no engine, connector or topics (and no placeholder connector file)."""
    directory = _project(tmp_path, {
        "hub": "description: a SaaS API\ncapture: none\nwritable: true\ntarget: targets/hub.yaml\n",
        "shop": "engine: mariadb\nconnector: shop-src\ntopics: {prefix: shop, namespace: shopdb}\n",
    }, {"shop-src": "shop"}, ("hub.yaml",))
    systems = load_systems(directory, env={})
    hub = systems["hub"]
    assert not hub.captured and hub.engine is None and hub.connector is None and hub.topics is None
    assert hub.writable and hub.target == tmp_path / "targets" / "hub.yaml" and hub.description == "a SaaS API"
    assert systems.writable == ("hub",) and systems.captured == ("shop",)
    assert systems.clocks == {"shop": dt.timedelta(seconds=1)}  # a write-only system commits nothing Isthmus compares
    assert not hub.captures("clients") and systems.by_topic("shop.shopdb.orders") is not None
    with pytest.raises(NotCaptured, match=r"system hub is written only \(capture: none in .*hub.yaml\): it has no "
                                          "connector and no change-event topics"):
        hub.topic("clients")


def test_a_half_declared_write_only_system_is_refused_with_line_field_and_fix(tmp_path: Path) -> None:
    directory = _project(tmp_path, {
        # capture: none, yet an engine and topics: which is it?
        "both": "engine: postgresql\ntopics: {prefix: b, namespace: public}\ncapture: none\nwritable: true\n"
                "target: targets/both.yaml\n",
        # nothing to capture and nothing to write
        "idle": "description: x\ncapture: none\n",
        "typo": "capture: nothing\nwritable: true\ntarget: targets/typo.yaml\n",
        # neither captured nor capture: none (the trial's system without its placeholder connector)
        "bare": "writable: true\ntarget: targets/bare.yaml\n",
    }, targets=("both.yaml", "typo.yaml", "bare.yaml"))
    with pytest.raises(SystemConfigError) as raised:
        load_systems(directory, env={})
    shown = {(Path(p.file).name, p.line, p.field): (p.message, p.fix) for p in raised.value.problems}
    assert shown[("both.yaml", 1, "engine")] == (
        "a write-only system (capture: none) has no engine",
        "remove engine, or remove `capture: none` if a connector captures the system (then engine, connector and "
        "topics are all required)")
    assert shown[("both.yaml", 2, "topics")][0] == "a write-only system (capture: none) has no topics"
    assert shown[("idle.yaml", 2, "capture")][0].startswith("capture: none, and not writable")
    assert "add writable: true and target: targets/<file>.yaml" in shown[("idle.yaml", 2, "capture")][1]
    assert shown[("typo.yaml", 1, "capture")][0] == "unknown value 'nothing'"
    assert shown[("bare.yaml", 1, "engine")] == (
        "no engine, connector or topics: how is the system captured?",
        "declare engine, connector and topics (see systems/README.md), or write `capture: none` for a system "
        "Isthmus only writes into (no database it can capture), with writable: true and a target")
    assert len(raised.value.problems) == 5
