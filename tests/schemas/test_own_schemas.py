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


def test_a_name_the_project_ships_is_refused_naming_both(tmp_path: Path) -> None:
    customer = {"type": "record", "name": "Customer", "namespace": "isthmus.canonical",
                "fields": [{"name": "customer_number", "type": "string"}]}
    with pytest.raises(SchemaLoadError, match=r"defines isthmus\.canonical\.Customer, which .*customer\.avsc"):
        load_schemas(env={SCHEMAS_DIR_ENV: str(_folder(tmp_path, my_customer=customer))})


def test_every_name_defined_twice_is_refused_at_once_with_why_the_name_matters(tmp_path: Path) -> None:
    customer = {"type": "record", "name": "Customer", "namespace": "isthmus.canonical",
                "fields": [{"name": "customer_number", "type": "string"}]}
    hold = {"type": "record", "name": "Hold", "namespace": "isthmus.canonical",
            "fields": [{"name": "flow", "type": "string"}]}
    with pytest.raises(SchemaLoadError) as raised:
        load_schemas(env={SCHEMAS_DIR_ENV: str(_folder(tmp_path, my_customer=customer, my_hold=hold))})
    text = str(raised.value)
    assert text.startswith("2 full names are defined twice: "), text
    assert "my_customer.avsc defines isthmus.canonical.Customer, which " in text, text
    assert "my_hold.avsc defines isthmus.canonical.Hold, which " in text, text
    assert "know a type by its full name, whatever its file is called" in text, text


def test_a_file_named_like_a_built_in_one_loads_when_its_record_has_a_name_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's schemas/customer.avsc and hold.avsc in a namespace of its own were refused ("rename your file"),
    one file at a time, though no name clashed: only the file's. Each folder's history stays its own."""
    customer = {"type": "record", "name": "Customer", "namespace": "acme", "doc": "An acme customer.",
                "fields": [{"name": "number", "type": "string", "doc": "Key."}]}
    folder = _folder(tmp_path, customer=customer, hold=TICKET)
    (folder / "history").mkdir()
    (folder / "history" / "customer.v1.avsc").write_text(json.dumps({**customer, "fields": [
        {"name": "number", "type": "string", "doc": "Key."},
        {"name": "old", "type": ["null", "string"], "default": None, "doc": "Gone."}]}), encoding="utf-8")
    schemas = load_schemas(env={SCHEMAS_DIR_ENV: str(folder)})
    shipped = load_schemas(env={})
    assert schemas.file("acme.Customer").path == folder / "customer.avsc"
    assert schemas.file("isthmus.canonical.Customer").path == shipped.file("isthmus.canonical.Customer").path
    assert "helpdesk.canonical.Ticket" in schemas.named and "isthmus.canonical.Hold" in schemas.named
    assert [v.version for v in schemas.versions("acme.Customer")] == [1]
    assert schemas.versions("isthmus.canonical.Customer") == shipped.versions("isthmus.canonical.Customer") != ()
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(folder))
    store = SchemaStore.from_directory()
    assert store.decode(store.encode("acme.Customer", {"number": "A-1"})).value == {"number": "A-1"}


def test_a_folder_without_schemas_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match=f"{SCHEMAS_DIR_ENV} names a folder with no"):
        load_schemas(env={SCHEMAS_DIR_ENV: str(tmp_path / "missing")})
