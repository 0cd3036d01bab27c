"""Two flows keeping one record are refused at load, naming both flow files and the systems each writes it into."""

from __future__ import annotations

from pathlib import Path

from streams.config_files import located_yaml
from streams.flows.commands import Sends
from streams.flows.engine.api import FlowSpec
from streams.flows.files import FlowFile
from streams.flows.shared import kept_twice

PRODUCT = "acme.Product"


def _flow(tmp_path: Path, name: str, origin: str, target: str) -> tuple[FlowSpec, FlowFile]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nblock: entity\nentity:\n  record: product\n  origin: {origin}\n  systems:\n"
                    f"    {target}: {{writes: [name]}}\n", encoding="utf-8")
    root = located_yaml.read_file(path, lambda *_: None)
    assert root is not None
    section = root.get("entity")
    assert section is not None
    sends = (Sends(target=target, payload_type=PRODUCT, operation="create", at=("systems", target), kept=PRODUCT),
             Sends(target=target, payload_type=PRODUCT, operation="update", at=("systems", target), kept=PRODUCT))
    return (FlowSpec(name=name, inputs=(), handler=lambda *_: None, sends=sends),
            FlowFile(name=name, block="entity", path=path, section=section))


def test_a_second_flow_of_a_record_the_other_way_round_is_refused(tmp_path: Path) -> None:
    """A new user's trial: a product flow from the ERP into the CRM, and a second one from the CRM into the ERP."""
    there, there_file = _flow(tmp_path, "product", "erpx", "crmx")
    back, back_file = _flow(tmp_path, "product-back", "crmx", "erpx")
    problems = kept_twice([there, back], {"product": there_file, "product-back": back_file})
    assert [str(p) for p in problems] == [
        f"{back_file.path}:7: entity.systems.erpx: flow product-back keeps the record Product, which flow product "
        f"({there_file.path}:7, entity.systems.crmx) keeps too; product writes it into crmx and product-back into "
        "erpx: each would take the other's writes for edits made there and write them back (conflicts, and no fixed "
        "point); fix: keep one flow per record: remove the flow file of product-back if it is a copy, or write every "
        "system of both from product (an entity flow takes several systems under `systems:` and several origins, "
        "`origin: [a, b]`: flows/README.md, \"entity\")"]


def test_flows_of_other_records_and_a_field_of_another_flow_s_record_are_not_refused(tmp_path: Path) -> None:
    """The reference orders flow updates the customer's balance, a record the customers flow keeps: allowed."""
    customers, customers_file = _flow(tmp_path, "customers", "crm", "erp")
    balance = Sends(target="crm", payload_type=PRODUCT, operation="update", at=("balance",))
    orders = FlowSpec(name="orders", inputs=(), handler=lambda *_: None, sends=(
        Sends(target="erp", payload_type="acme.Order", operation="create", at=("send",), kept="acme.Order"), balance))
    assert kept_twice([customers, orders], {"customers": customers_file}) == []
