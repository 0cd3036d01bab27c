"""A folder of your own schemas (``ISTHMUS_SCHEMAS_DIR``, ``dirs.schemas_dir``) is read beside the built-in one: a
new system's canonical record is a file of configuration, not a change to the project's schemas/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.codecs.avro.schemas import SCHEMAS_DIR_ENV, load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.exceptions import SchemaLoadError

pytestmark = pytest.mark.unit

TICKET = {"type": "record", "name": "Ticket", "namespace": "helpdesk.canonical", "fields": [
    {"name": "ticket_number", "type": "string"},
    {"name": "opened_on", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
    {"name": "customer", "type": ["null", "isthmus.canonical.Customer"], "default": None}]}


def _folder(tmp_path: Path, **files: object) -> Path:
    folder = tmp_path / "own"
    folder.mkdir(exist_ok=True)
    for stem, schema in files.items():
        (folder / f"{stem}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return folder


def test_an_own_record_is_read_beside_the_built_in_ones_and_encodes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path, ticket=TICKET)
    schemas = load_schemas(env={SCHEMAS_DIR_ENV: str(folder)})
    assert schemas.definition("helpdesk.canonical.Ticket")["name"] == "helpdesk.canonical.Ticket"
    assert schemas.definition("isthmus.canonical.Customer") == load_schemas().definition("isthmus.canonical.Customer")
    assert "helpdesk.canonical.Ticket" not in load_schemas(env={}).named
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(folder))  # as every process of a deployment reads it
    store = SchemaStore.from_directory()
    encoded = store.encode("helpdesk.canonical.Ticket", {"ticket_number": "T-1", "opened_on": None,
                                                         "customer": None})
    assert store.decode(encoded).value["ticket_number"] == "T-1"


def test_a_name_or_file_the_project_ships_is_refused_naming_both(tmp_path: Path) -> None:
    customer = {"type": "record", "name": "Customer", "namespace": "isthmus.canonical",
                "fields": [{"name": "customer_number", "type": "string"}]}
    with pytest.raises(SchemaLoadError, match=r"defines isthmus\.canonical\.Customer, which .*customer\.avsc"):
        load_schemas(env={SCHEMAS_DIR_ENV: str(_folder(tmp_path, my_customer=customer))})
    with pytest.raises(SchemaLoadError, match=r"has the name of the built-in .*hold\.avsc; rename your file"):
        load_schemas(env={SCHEMAS_DIR_ENV: str(_folder(tmp_path, hold=TICKET))})


def test_a_folder_without_schemas_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match=f"{SCHEMAS_DIR_ENV} names a folder with no"):
        load_schemas(env={SCHEMAS_DIR_ENV: str(tmp_path / "missing")})
