"""A user's own transform, added by the mapping file or by an entry point, without editing the core."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, Engine, MappingLoadError, MappingValueError, RecordMapping, load_mapping
from streams.mapping.plugins import ENTRY_POINT_GROUP

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "examples" / "customer_phone_e164.yaml"
#: A CRM whose local times are Shanghai's (the plugin below reads the zone of the row's system).
CONTEXT = Context(time_zones={"crm": "Asia/Shanghai"})
ROW = {"customer_number": "C-000001", "name": "Acme", "phone": "021 6123-4567"}

PLUGIN_MAPPING = """
target: Customer
key: customer_number
owner: crm
policy: owner_wins
{plugins}
sources:
  s:
    system: crm
    table: customers
    fields:
      customer_number: customer_number
      name: name
      phone: {{from: phone, transform: [{step}]}}
"""


def mapped_phone(mapping: RecordMapping, schemas: SchemaSet, row: Mapping[str, object] = ROW) -> object:
    return Engine(mapping, schemas.named).map_row(mapping.sources[0], row, CONTEXT)["phone"]


def test_documented_example_plugin(schemas: SchemaSet) -> None:
    mapping = load_mapping(EXAMPLE, schemas=schemas)
    assert mapped_phone(mapping, schemas) == "+862161234567"
    assert mapped_phone(mapping, schemas, {**ROW, "phone": "+1 (555) 0100"}) == "+15550100"


def test_plugin_by_importable_module(
    load: Callable[..., RecordMapping], schemas: SchemaSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_transforms.py").write_text("def shout(value, *, mark='!'):\n    return value.upper() + mark\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mapping = load(
        PLUGIN_MAPPING.format(plugins="plugins: {shout: acme_transforms:shout}", step="{shout: {mark: '?'}}")
    )
    assert mapped_phone(mapping, schemas) == "021 6123-4567?"


def test_plugin_may_read_the_row_and_context(
    load: Callable[..., RecordMapping], schemas: SchemaSet, write_mapping: Callable[..., Path]
) -> None:
    write_mapping(
        "def tag(value, row, context):\n    return f\"{row['name']}:{context.time_zone}:{value}\"\n",
        "plugins/tag.py",
    )
    mapping = load(PLUGIN_MAPPING.format(plugins="plugins: {tag: ./plugins/tag.py:tag}", step="tag"))
    assert mapped_phone(mapping, schemas) == "Acme:Asia/Shanghai:021 6123-4567"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution on sys.path that declares an isthmus.transforms entry point, as pip would install it."""
    site = tmp_path / "site"
    (site / "acme_isthmus").mkdir(parents=True)
    (site / "acme_isthmus" / "__init__.py").write_text("def reverse(value):\n    return value[::-1]\n")
    info = site / "acme_isthmus-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-isthmus\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nreverse = acme_isthmus:reverse\n")
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("acme_isthmus", None)


def test_plugin_by_entry_point_needs_no_declaration(
    installed_plugin: None, load: Callable[..., RecordMapping], schemas: SchemaSet
) -> None:
    mapping = load(PLUGIN_MAPPING.format(plugins="", step="reverse"))
    assert mapped_phone(mapping, schemas) == "7654-3216 120"


def test_plugin_arguments_are_checked_at_load(write_mapping: Callable[..., Path], schemas: SchemaSet) -> None:
    text = textwrap.dedent(EXAMPLE.read_text()).replace('country_code: "86"', "region: CN")
    path = write_mapping(text, "customer_phone_e164.yaml")
    write_mapping((EXAMPLE.parent / "plugins" / "phone.py").read_text(), "plugins/phone.py")
    with pytest.raises(MappingLoadError) as caught:
        load_mapping(path, schemas=schemas)
    (problem,) = caught.value.problems
    assert problem.line == text.splitlines().index("          - e164: {region: CN}") + 1
    assert "has no option region" in problem.message and "country_code" in problem.fix


def test_plugin_failure_is_a_mapping_value_error(
    load: Callable[..., RecordMapping], schemas: SchemaSet, write_mapping: Callable[..., Path]
) -> None:
    write_mapping("def boom(value):\n    raise RuntimeError('nope')\n", "plugins/boom.py")
    mapping = load(PLUGIN_MAPPING.format(plugins="plugins: {boom: ./plugins/boom.py:boom}", step="boom"))
    with pytest.raises(MappingValueError, match="plugin transform boom failed on '021 6123-4567': RuntimeError"):
        mapped_phone(mapping, schemas)
