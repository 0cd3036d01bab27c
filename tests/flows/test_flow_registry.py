"""Only the selected flows are built; a flow whose mapping files are missing is left out once, the others run."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from streams.flows.context import FlowContext
from streams.flows.exceptions import FlowFileError, FlowUnavailable
from streams.flows.registry import FlowPluginError, build_flows
from streams.mapping.loader import MAPPINGS_DIR
from streams.stack.settings import PROJECT_ROOT


def _context(tmp_path: Path, *without: str) -> FlowContext:
    mappings = tmp_path / "mappings"
    mappings.mkdir(parents=True)
    for path in MAPPINGS_DIR.glob("*.yaml"):
        if path.name not in without:
            shutil.copy(path, mappings / path.name)
    return FlowContext.load(env={"ISTHMUS_MAPPINGS_DIR": str(mappings)})


def _never(*_: object) -> None:
    raise AssertionError("a flow that is not selected was built")


def test_a_flow_not_selected_is_never_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = _context(tmp_path, "customer.yaml")
    monkeypatch.setattr("streams.flows.customers.build_customer_flow", _never)
    monkeypatch.setattr("streams.flows.orders.build", _never)

    built = build_flows(context, only={"isthmus-stock"}, env={})

    assert [f.name for f in built.flows] == ["isthmus-stock"]
    assert built.unavailable == {}


def test_a_flow_without_its_mappings_is_left_out_once_and_the_others_are_built(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    context = _context(tmp_path, "customer.yaml")
    with caplog.at_level(logging.WARNING, logger="streams.flows.registry"):
        built = build_flows(context, env={})

    assert [f.name for f in built.flows] == ["isthmus-canonical", "isthmus-stock"]  # flow files in name order
    assert sorted(built.unavailable) == ["isthmus-customer360", "isthmus-customers", "isthmus-orders"]
    for name, reason in built.unavailable.items():
        assert "customer.yaml" in reason and f"leave {name} out of ISTHMUS_WORKER_FLOWS" in reason
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]  # loud: a flow file does not run
    assert len(errors) == 3
    assert all(e.startswith(("flow isthmus-customers is not started", "flow isthmus-orders is not started",
                             "flow isthmus-customer360 is not started")) for e in errors)


def test_a_selected_flow_without_its_mappings_is_left_out_when_another_can_run(tmp_path: Path) -> None:
    context = _context(tmp_path, "product_availability.yaml")
    built = build_flows(context, only={"isthmus-stock", "isthmus-canonical"}, env={})
    assert [f.name for f in built.flows] == ["isthmus-canonical"]
    assert "product_availability.yaml" in built.unavailable["isthmus-stock"]


def test_no_flow_that_can_be_built_fails_with_every_reason(tmp_path: Path) -> None:
    context = _context(tmp_path, *(p.name for p in MAPPINGS_DIR.glob("*.yaml")))
    with pytest.raises(FlowUnavailable, match="no flow can be built") as raised:
        build_flows(context, env={})
    for name in ("isthmus-customers", "isthmus-orders", "isthmus-stock", "isthmus-canonical", "isthmus-customer360"):
        assert f"{name}: " in str(raised.value)
    assert "product_availability.yaml" in str(raised.value)

    only_stock = _context(tmp_path / "stock", "product_availability.yaml")
    with pytest.raises(FlowUnavailable, match="isthmus-stock: isthmus-stock needs"):
        build_flows(only_stock, only={"isthmus-stock"}, env={})


def test_an_unknown_name_and_any_other_error_still_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = _context(tmp_path)
    with pytest.raises(FlowPluginError, match="no flow named isthmus-nothing; flows: isthmus-canonical, isthmus-cust"):
        build_flows(context, only={"isthmus-nothing"}, env={})

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the stock builder")

    monkeypatch.setattr("streams.flows.stock.build", broken)
    with pytest.raises(RuntimeError, match="a bug in the stock builder"):
        build_flows(context, only={"isthmus-stock"}, env={})


def test_a_plugin_is_built_only_when_selected_and_must_carry_its_registered_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "examples" / "flow_plugin"))
    context = _context(tmp_path)
    unloadable = {"ISTHMUS_FLOW_PLUGINS": "example-high-credit-alerts=no_such_module:build"}
    assert [f.name for f in build_flows(context, only={"isthmus-stock"}, env=unloadable).flows] == ["isthmus-stock"]

    named = {"ISTHMUS_FLOW_PLUGINS": "example-high-credit-alerts=high_credit_alerts:build"}
    flows = build_flows(context, only={"example-high-credit-alerts"}, env=named).flows
    assert [f.name for f in flows] == ["example-high-credit-alerts"]

    misnamed = {"ISTHMUS_FLOW_PLUGINS": "alerts=high_credit_alerts:build"}
    with pytest.raises(FlowPluginError, match="built a flow named 'example-high-credit-alerts', but it is "
                                              "registered as 'alerts'"):
        build_flows(context, only={"alerts"}, env=misnamed)

    twice = {"ISTHMUS_FLOW_PLUGINS": "isthmus-stock=high_credit_alerts:build"}
    with pytest.raises(FlowPluginError, match="two flows are registered as isthmus-stock"):
        build_flows(context, only={"isthmus-canonical"}, env=twice)


def test_every_flow_file_that_does_not_build_is_said_at_once_as_the_worker_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker builds its flows with build_flows: the first flow file's problems used to stop it, hiding the
    next file's (the made-up pair of tests/second_pair/, its flow file twice, each with a mistake of its own)."""
    second_pair = PROJECT_ROOT / "tests" / "second_pair"
    flows = tmp_path / "flows"
    flows.mkdir()
    parties = (second_pair / "flows" / "parties.yaml").read_text(encoding="utf-8")
    (flows / "a.yaml").write_text(parties.replace("link: customer_account_xref", "link: customer_account"),
                                  encoding="utf-8")
    (flows / "b.yaml").write_text(parties.replace("name: second-pair-parties", "name: second-pair-b")
                                  .replace("origin: rolodex", "origin: rolodx"), encoding="utf-8")
    (flows / "c.yaml").write_text(parties.replace("name: second-pair-parties", "name: second-pair-c")
                                  .replace("writes: [credit_limit,", "writes: [credit_lmit,"), encoding="utf-8")
    for name, folder in (("SYSTEMS", second_pair / "systems"), ("MAPPINGS", second_pair / "mappings"),
                         ("FLOWS", flows)):
        monkeypatch.setenv(f"ISTHMUS_{name}_DIR", str(folder))
    with pytest.raises(FlowFileError) as raised:
        build_flows(FlowContext.load())
    files = {p.file.name for p in raised.value.problems}
    assert files == {"b.yaml", "c.yaml"}, raised.value  # a.yaml is unavailable (no such mapping file), not wrong
    assert "entity.origin: unknown system 'rolodx'" in str(raised.value)
    assert "'credit_lmit' is not a field of the record" in str(raised.value)
