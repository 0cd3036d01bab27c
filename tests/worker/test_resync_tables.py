"""The daily re-sync's master tables come from the systems' files (``resync``), not from a list in the code: a
system of one's own is re-synced as the reference pair is, and one that lists none is named, not skipped
silently."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest
from systems.test_systems_loader import _project

from streams.systems import SystemConfigError, load_systems
from streams.worker import resync
from streams.worker.resync import master_tables, request_master_data_resync, unsynced

SHOP = "engine: mariadb\nconnector: shop-src\ntopics: {prefix: shop, namespace: shopdb}\n"
BOOKS = "engine: postgresql\nconnector: books-src\ntopics: {prefix: b, namespace: ledger}\n"


def test_the_reference_pair_resyncs_its_master_tables() -> None:
    assert master_tables(load_systems(env={})) == {"crm-source": ("crm.customers", "crm.products"),
                                                   "erp-source": ("erp.accounts", "erp.stock")}


def test_a_system_of_ones_own_gets_its_tables_and_one_without_is_named(tmp_path: Path) -> None:
    directory = _project(tmp_path, {"shop": SHOP + "resync: [items, customers, items]\n", "books": BOOKS},
                         {"shop-src": "shop", "books-src": "b"})
    systems = load_systems(directory, env={})
    assert master_tables(systems) == {"shop-src": ("shopdb.items", "shopdb.customers")}
    assert unsynced(systems) == ("books",)


def test_resync_requests_a_snapshot_of_each_listed_connector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    directory = _project(tmp_path, {"shop": SHOP + "resync: [items]\n", "books": BOOKS},
                         {"shop-src": "shop", "books-src": "b"})

    class Loaded:
        files: ClassVar[dict[str, Path]] = {"shop-src": Path("shop-src.yaml"), "books-src": Path("books-src.yaml")}

        def render(self, name: str, variables: Any) -> Any:
            return type("Rendered", (), {"config": {"name": name}})()

    asked: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(resync.configs, "load", lambda root, env: Loaded())
    monkeypatch.setattr(resync, "request_incremental_snapshot",
                        lambda name, config, tables, root: asked.append((name, tuple(tables))) or name)
    with caplog.at_level(logging.INFO, logger=resync.__name__):
        assert request_master_data_resync({}, systems=load_systems(directory, env={})) == [
            "shop-src"]
    assert asked == [("shop-src", ("shopdb.items",))]
    assert "books list no resync tables" in caplog.text


@pytest.mark.parametrize(("value", "message"), [("customers", "must be a list of tables"),
                                                ("['no such.table']", "is not a table name")])
def test_a_resync_that_is_not_a_list_of_tables_is_refused_with_line_and_fix(tmp_path: Path, value: str,
                                                                            message: str) -> None:
    directory = _project(tmp_path, {"shop": SHOP + f"resync: {value}\n"}, {"shop-src": "shop"})
    with pytest.raises(SystemConfigError) as raised:
        load_systems(directory, env={})
    (problem,) = raised.value.problems
    assert (problem.line, problem.field) == (4, "resync") and message in problem.message
    assert "resync: [<table>, ...]" in problem.fix


def test_a_write_only_system_has_no_resync(tmp_path: Path) -> None:
    directory = _project(tmp_path, {"hub": "capture: none\nwritable: true\ntarget: targets/hub.yaml\n"
                                           "resync: [clients]\n"}, targets=("hub.yaml",))
    with pytest.raises(SystemConfigError, match=r"a write-only system .* has no resync"):
        load_systems(directory, env={})


def test_a_project_of_ones_own_is_resynced_through_its_own_connector_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A new user's systems, mappings and connectors in a folder of their own (ISTHMUS_SYSTEMS_DIR=<dir>/systems):
    the 02:00 re-sync looked for the connector among the project's files, found none and logged `master-data
    re-sync requested: ` with nothing after it, every night. It reads the connector beside the systems' folder, as
    the systems loader and `isthmus mappings validate` find it, and names a connector it cannot find."""
    directory = _project(tmp_path, {"shop": SHOP + "resync: [items]\n", "books": BOOKS + "resync: [ledger]\n"},
                         {"shop-src": "shop", "books-src": "b"})
    (tmp_path / "connect-configs" / "overlays").mkdir()
    (tmp_path / "connect-configs" / "overlays" / "local.yaml").write_text("variables: {}\n")
    systems = load_systems(directory, env={})
    (tmp_path / "connect-configs" / "connectors" / "books-src.yaml").unlink()  # gone since the systems loaded
    asked: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(resync, "request_incremental_snapshot",
                        lambda name, config, tables, root: asked.append((name, tuple(tables))) or name)
    with caplog.at_level(logging.INFO, logger=resync.__name__):
        assert request_master_data_resync({}, systems=systems) == ["shop-src"]
    assert asked == [("shop-src", ("shopdb.items",))]
    assert ("master-data re-sync: ledger.ledger is not read again: its connector books-src has no file in "
            f"{(tmp_path / 'connect-configs' / 'connectors').resolve()}") in caplog.text
