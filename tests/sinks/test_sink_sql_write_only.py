"""A `sql` target writes in its system's engine's dialect, and a write-only system (`capture: none`) declares none.
A new user's ledger (`capture: none`, `adapter: sql`) passed `isthmus mappings validate` ("the target files of
ledger load as their sinks load them"), and only `isthmus sink --check` refused it. The target loader both use now
refuses it, with the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from systems.test_systems_loader import _project

from streams.codecs.avro.single_object import SchemaStore
from streams.sinks.exceptions import TargetConfigError
from streams.sinks.runner import load_system_target
from streams.systems import load_systems

pytestmark = pytest.mark.unit

SQL_TARGET = """\
system: hub
adapter: sql
sql:
  database: hub
routes:
  - payload_type: ProductAvailability
    operation: upsert
    table: product_availability
    key: [sku]
    columns: {sku: sku, available_qty: available_qty}
"""


def test_a_sql_target_of_a_write_only_system_is_refused_where_validate_loads_it(tmp_path: Path) -> None:
    directory = _project(tmp_path, {"hub": "capture: none\nwritable: true\ntarget: targets/hub.yaml\n"},
                         targets=("hub.yaml",))
    (tmp_path / "targets" / "hub.yaml").write_text(SQL_TARGET)
    systems = load_systems(directory, env={})
    with pytest.raises(TargetConfigError) as refused:
        load_system_target("hub", None, SchemaStore.from_directory(), systems)
    assert str(refused.value) == (
        f"{tmp_path / 'targets' / 'hub.yaml'}: a sql target writes into its system's database, and hub is written "
        "only (capture: none), so its engine is not known; fix: use an http target, or declare the system's engine, "
        "connector and topics")
