"""`isthmus mappings validate` prints every problem of every mapping file and exits 1, or says they are
valid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.config_files.problem import shown
from streams.mapping.loader import MAPPINGS_DIR


def test_validate_prints_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text(
        "target: Shipment\nkey: shipment_id\nowner: erp\npolicy: owner_wins\nsources:\n  s:\n    system: erp\n"
        "    table: shipments\n    fields: {shipment_id: id, erp_order_id: order_id, shipped_at: shipped_at, "
        "carrier: carrier}\n", encoding="utf-8")
    assert main(["mappings", "validate", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'bad.yaml'}:9: sources.s.fields.shipment_id: 'id' is not a column of erp.shipments" in out
    assert "re-run `isthmus mappings discover erp`" in out
    # the DATETIME of the columns file keeps its kind: a zone-less time cannot fill a UTC timestamp
    assert "sources.s.fields.shipped_at: a zone-less local time cannot fill a UTC timestamp" in out
    assert "2 problems in the mapping files" in out


def test_validate_accepts_the_repository_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "validate", "--dir", str(MAPPINGS_DIR)]) == 0
    assert "mapping files of" in capsys.readouterr().out


def test_validate_reads_the_folder_the_environment_names(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    second_pair = Path(__file__).parents[1] / "second_pair"
    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(second_pair / "systems"))
    monkeypatch.setenv("ISTHMUS_MAPPINGS_DIR", str(second_pair / "mappings"))
    # the reference flows name the reference systems: a worker with these variables alone would not start
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert f"4 mapping files of {second_pair / 'mappings'} are valid" in out
    assert "entity.origin: unknown system 'crm'; fix: origin: one of ledger, rolodex" in out
    monkeypatch.setenv("ISTHMUS_FLOWS_DIR", str(second_pair / "flows"))
    assert main(["mappings", "validate"]) == 0
    assert f"1 flow of {second_pair / 'flows'} builds: second-pair-parties" in capsys.readouterr().out


def test_validate_builds_the_flow_files_over_the_mappings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "customers.yaml").write_text(
        (Path(__file__).parents[2] / "flows" / "customers.yaml").read_text().replace("writes: [", "writes: [nmae, "))
    assert main(["mappings", "validate", "--flows", str(flows)]) == 1
    out = capsys.readouterr().out
    assert f"{flows / 'customers.yaml'}:" in out and "'nmae' is not a field of the record" in out
    assert "in the flow files of" in out
    assert main(["mappings", "validate", "--dir", str(MAPPINGS_DIR)]) == 0
    assert "flow files not checked: give --flows DIR" in capsys.readouterr().out
    assert main(["mappings", "validate"]) == 0
    assert "5 flows of" in capsys.readouterr().out


def test_mapping_errors_still_let_the_flow_files_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mappings, flows = tmp_path / "mappings", tmp_path / "flows"
    mappings.mkdir()
    flows.mkdir()
    (mappings / "bad.yaml").write_text("target: Shipment\n", encoding="utf-8")
    customers = (Path(__file__).parents[2] / "flows" / "customers.yaml").read_text()
    (flows / "customers.yaml").write_text(customers.replace("block: entity", "blok: entity"), encoding="utf-8")
    assert main(["mappings", "validate", "--dir", str(mappings), "--flows", str(flows)]) == 1
    out = capsys.readouterr().out
    assert "in the mapping files of" in out
    assert f"{flows / 'customers.yaml'}:5: blok: unknown key" in out, out
    assert "in the flow files of" in out and "built over the mappings once those load" in out
    (flows / "customers.yaml").write_text(customers, encoding="utf-8")
    assert main(["mappings", "validate", "--dir", str(mappings), "--flows", str(flows)]) == 1
    assert "their sections are checked when they are built over the mappings" in capsys.readouterr().out


def test_a_folder_with_no_flow_file_is_said_and_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It once printed "0 flows of ... build: " and exited 0; a worker there is refused at start."""
    flows = tmp_path / "flows"
    flows.mkdir()
    assert main(["mappings", "validate", "--flows", str(flows)]) == 1
    out = capsys.readouterr().out
    assert f"no flow of {flows} builds: a worker there would run nothing and is refused at start" in out


def test_validate_loads_the_target_files_of_the_systems_the_flows_write_into(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    targets = Path(__file__).parents[2] / "targets"
    (tmp_path / "crm.yaml").write_text((targets / "crm.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    erp = (targets / "erp.yaml").read_text(encoding="utf-8")
    assert "    operation: create\n" in erp
    (tmp_path / "erp.yaml").write_text(erp.replace("    operation: create\n", "    operation: creat\n", 1),
                                       encoding="utf-8")
    monkeypatch.setenv("ISTHMUS_SINK_TARGETS_DIR", str(tmp_path))  # where the sinks read them, as they would
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert "5 flows of" in out, "the flows build: only the target file is wrong"
    line = erp.splitlines().index("    operation: create") + 1
    assert f"{tmp_path / 'erp.yaml'}:{line}: routes[0].operation" in out, out
    assert "fix:" in out and "in the target files of crm, erp" in out
    (tmp_path / "erp.yaml").write_text(erp, encoding="utf-8")
    assert main(["mappings", "validate"]) == 0
    assert "the target files of crm, erp load as their sinks load them" in capsys.readouterr().out


def test_validate_refuses_a_command_the_flows_send_that_no_route_applies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial (made up in tests/second_pair/): Rolodex's target file lost the route of the link the
    flow sends back to it; validate passed and the sink dead-lettered every link (NoRoute)."""
    second_pair = Path(__file__).parents[1] / "second_pair"
    for name in ("systems", "mappings", "flows"):
        monkeypatch.setenv(f"ISTHMUS_{name.upper()}_DIR", str(second_pair / name))
    monkeypatch.setenv("ISTHMUS_SINK_TARGETS_DIR", str(tmp_path))  # where the sinks read them, as they would
    for target in ("ledger.yaml", "rolodex.yaml"):
        (tmp_path / target).write_text((second_pair / "targets" / target).read_text(encoding="utf-8"),
                                       encoding="utf-8")
    rolodex = (tmp_path / "rolodex.yaml").read_text(encoding="utf-8")
    link = rolodex.index("  # The link:")
    (tmp_path / "rolodex.yaml").write_text(rolodex[:link] + rolodex[rolodex.index("  # The ERP-owned"):],
                                           encoding="utf-8")
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert "the target files of ledger, rolodex load as their sinks load them" in out, "each loads: a route lacks"
    flow = (second_pair / "flows" / "parties.yaml").read_text(encoding="utf-8").splitlines()
    observes = next(n for n, line in enumerate(flow, 1) if line.strip().startswith("observes:"))
    routes = rolodex.splitlines().index("routes:") + 1
    assert (f"{tmp_path / 'rolodex.yaml'}:{routes}: routes: no route for CustomerAccountXref update, which flow "
            f"second-pair-parties ({shown(second_pair / 'flows' / 'parties.yaml')}:{observes}, "
            "entity.systems.rolodex.observes) sends to rolodex for the link back of erp_account_id") in out, out
    assert (f"fix: add a route with `payload_type: CustomerAccountXref` and `operation: update` to "
            f"{tmp_path / 'rolodex.yaml'} (see targets/README.md, \"Routes\")") in out, out
    assert "1 problem: commands the flows send that their target files cannot apply (no route for them" in out
    (tmp_path / "rolodex.yaml").write_text(rolodex, encoding="utf-8")
    assert main(["mappings", "validate"]) == 0
    assert "every command the flows send has a route in the target files of ledger, rolodex" in capsys.readouterr().out


def test_a_system_without_its_columns_file_is_said_once_with_the_discover_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's first validate, before `isthmus mappings discover`: the missing columns file was said once per
    source that reads a table of the system (44 lines for two systems), where one discover per system settles all."""
    second_pair = Path(__file__).parents[1] / "second_pair"
    for name in ("systems", "connect-configs", "mappings", "targets"):
        shutil.copytree(second_pair / name, tmp_path / name)
    for columns in (tmp_path / "systems").glob("*.columns.yaml"):
        columns.unlink()
    monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(tmp_path / "systems"))
    monkeypatch.setenv("ISTHMUS_MAPPINGS_DIR", str(tmp_path / "mappings"))
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "has no columns file" in line]
    assert len(said) == 2, out
    ledger, rolodex = sorted(said, key=lambda line: "rolodex" in line)
    assert "system 'ledger' has no columns file, so the tables of its " in ledger, ledger
    assert "said once for all); fix: run `isthmus mappings discover ledger`" in ledger, ledger
    assert "fix: run `isthmus mappings discover rolodex`" in rolodex, rolodex
    assert "2 problems in the mapping files" in out, out

def _second_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the made-up pair of tests/second_pair/ (Rolodex and Ledger), its folders named by the environment
    as a user's own would be."""
    second_pair = Path(__file__).parents[1] / "second_pair"
    for name in ("systems", "mappings", "flows", "targets", "connect-configs"):
        shutil.copytree(second_pair / name, tmp_path / name)
    for name in ("systems", "mappings", "flows"):
        monkeypatch.setenv(f"ISTHMUS_{name.upper()}_DIR", str(tmp_path / name))
    monkeypatch.setenv("ISTHMUS_SINK_TARGETS_DIR", str(tmp_path / "targets"))
    return tmp_path


def _line(path: Path, start: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if line.strip().startswith(start))


def test_a_flow_file_naming_a_mapping_file_the_folder_lacks_is_a_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial: `record: invoices` for mappings/invoice.yaml; validate said the flow "is not started",
    then "9 flows build", and exited 0, while the worker ran without it."""
    pair = _second_pair(tmp_path, monkeypatch)
    parties = (pair / "flows" / "parties.yaml").read_text(encoding="utf-8")
    typo = pair / "flows" / "parties_typo.yaml"
    typo.write_text(parties.replace("name: second-pair-parties", "name: second-pair-typo")
                    .replace("record: customer\n", "record: customers\n"), encoding="utf-8")
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert (f"{typo}:{_line(typo, 'record:')}: entity.record: names mapping file customers.yaml, which the mappings "
            "folder lacks: the flow cannot be built; fix: name customer if that is the file meant") in out, out
    assert f"1 problem in the flow files of {pair / 'flows'}: a worker leaves out second-pair-typo" in out
    assert "1 flow of" in out and "builds: second-pair-parties" in out, "the others are still checked"
    assert "every command the flows send has a route" in out
    typo.unlink()
    assert main(["mappings", "validate"]) == 0


def test_every_flow_file_s_problems_are_said_in_one_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial: quote's error hid sales_order's identical one until the first was fixed."""
    pair = _second_pair(tmp_path, monkeypatch)
    parties = (pair / "flows" / "parties.yaml").read_text(encoding="utf-8")
    first, second = pair / "flows" / "parties.yaml", pair / "flows" / "parties_two.yaml"
    first.write_text(parties.replace("writes: [credit_limit,", "writes: [credit_lmit,"), encoding="utf-8")
    second.write_text(parties.replace("name: second-pair-parties", "name: second-pair-two")
                      .replace("origin: rolodex", "origin: rolodx"), encoding="utf-8")
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert f"{first}:{_line(first, 'writes: [credit_lmit')}: entity.systems.rolodex.writes:" in out, out
    assert f"{second}:{_line(second, 'origin:')}: entity.origin: unknown system 'rolodx'" in out, out
    assert f"4 problems in the flow files of {pair / 'flows'}" in out  # two of each file


def test_two_flows_keeping_one_record_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial: a flow file copied under another name, and a second flow of the same record the other
    way round, were accepted (each flow takes the other's writes for edits; creates are made twice)."""
    pair = _second_pair(tmp_path, monkeypatch)
    parties = pair / "flows" / "parties.yaml"
    copy = pair / "flows" / "parties_copy.yaml"
    copy.write_text(parties.read_text(encoding="utf-8").replace("name: second-pair-parties", "name: second-pair-copy"),
                    encoding="utf-8")
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert (f"{copy}:{_line(copy, 'ledger:')}: entity.systems.ledger: flow second-pair-copy keeps the record "
            f"Customer, which flow second-pair-parties ({shown(parties)}:{_line(parties, 'ledger:')}, "
            "entity.systems.ledger) keeps too; both write Account, Customer, CustomerAccountXref into ledger, "
            "rolodex, neither knowing of the other's writes") in out, out
    assert "fix: keep one flow per record: remove the flow file of second-pair-copy if it is a copy" in out
    copy.unlink()
    back = pair / "flows" / "parties_back.yaml"
    back.write_text("name: second-pair-back\nblock: entity\nentity:\n  record: customer\n"
                    "  publish: second-pair.canonical.back\n  link: customer_account_xref\n  origin: ledger\n"
                    "  systems:\n    rolodex: {id: crm_customer_id, writes: [credit_limit, payment_terms, blocked, "
                    "active]}\n", encoding="utf-8")
    assert main(["mappings", "validate"]) == 1
    out = capsys.readouterr().out
    assert f"{back}:9: entity.systems.rolodex: flow second-pair-back keeps the record Customer" in out, out
    assert "both write Customer, CustomerAccountXref into rolodex" in out
    back.unlink()
    assert main(["mappings", "validate"]) == 0


def test_a_look_up_no_source_answers_is_warned_of(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Contacts find their company through the cross-reference by crm_customer_id: with no source of it binding
    that field, each contact would wait for ever (then be held), and validate said nothing."""
    pair = _second_pair(tmp_path, monkeypatch)
    xref = pair / "mappings" / "customer_account_xref.yaml"
    text = xref.read_text(encoding="utf-8")
    assert "      crm_customer_id: party_id\n" in text
    xref.write_text(text.replace("      crm_customer_id: party_id\n", "").replace(
        "    on_delete: {set: {crm_customer_id: null}}\n", ""), encoding="utf-8")
    assert main(["mappings", "validate"]) == 0, "a warning: the look-up could be meant for a source to come"
    out = capsys.readouterr().out
    contact = pair / "mappings" / "contact.yaml"
    assert (f"warning: {contact}:{_line(contact, 'from: org_party')}: sources.rolodex_contacts.parent_key: looks up "
            "CustomerAccountXref by crm_customer_id (taking customer_number), but no table source of a captured "
            f"system in {shown(xref)} binds crm_customer_id: the look-up is never answered") in out, out
    assert f"fix: bind crm_customer_id in a table source of {shown(xref)}" in out
