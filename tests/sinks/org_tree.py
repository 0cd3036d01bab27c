"""A made-up hierarchy of organisations written into a SQL target: each row's ``parent_id`` is the generated id of
its parent's row, which only the target knows; the canonical record carries the parent's business code. Shared by
the unit and integration tests of SQL lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sink_support import command

from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore

PAYLOAD_TYPE = "tree.canonical.Organisation"
SCHEMA = {
    "type": "record", "name": "Organisation", "namespace": "tree.canonical",
    "doc": "An organisation of a tenant, with its parent's code (same tenant).",
    "fields": [
        {"name": "org_key", "type": "string", "doc": "tenant_id:org_code"},
        {"name": "tenant_id", "type": ["null", "int"], "default": None, "doc": "tenant"},
        {"name": "org_code", "type": ["null", "string"], "default": None, "doc": "code within the tenant"},
        {"name": "parent_code", "type": ["null", "string"], "default": None, "doc": "the parent's org_code"},
        {"name": "name", "type": ["null", "string"], "default": None, "doc": "name"},
        {"name": "company_id", "type": ["null", "string"], "default": None,
         "doc": "the target's generated id of the row, once it came back (null before)"},
    ],
}

#: The routes of a table ``{table}`` with a parent reference filled by a lookup (``{wait_s}``: its wait).
ROUTES = """\
  - payload_type: Organisation
    operation: create
    table: {table}
    key: [tenant_id, external_code]
    columns: &cols
      tenant_id: tenant_id
      external_code: org_code
      parent_id: parent_id
      name: name
    lookups: &parent
      parent_id:
        table: {table}
        match: {{tenant_id: tenant_id, external_code: parent_code}}
        take: id
        wait_s: {wait_s}
    ids: {{company_id: id}}
  - payload_type: Organisation
    operation: update
    action: update
    only_changed: true
    table: {table}
    key: [tenant_id, external_code]
    columns: *cols
    lookups: *parent
"""


#: The routes of a table ``{table}`` whose key is its generated ``id``: a create keyed by the business key, an update
#: and a deactivate keyed by ``id``, filled by a lookup by the business key when the payload has no id yet.
KEY_ROUTES = """\
  - {{payload_type: Organisation, operation: create, table: {table}, key: [tenant_id, external_code],
     columns: {{tenant_id: tenant_id, external_code: org_code, name: name}}, ids: {{company_id: id}}}}
  - payload_type: Organisation
    operation: update
    action: update
    only_changed: true
    table: {table}
    key: [id]
    columns: {{id: company_id, name: name}}
    lookups: &row
      company_id: {{table: {table}, match: {{tenant_id: tenant_id, external_code: org_code}}, take: id,
                   wait_s: {wait_s}}}
    ids: {{company_id: id}}
  - payload_type: Organisation
    operation: deactivate
    action: delete
    table: {table}
    key: [id]
    columns: {{id: company_id}}
    lookups: *row
"""


def schemas(folder: Path) -> SchemaStore:
    """The built-in schemas and the Organisation, from ``folder`` (written there)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tree_organisation.avsc").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


def target_file(folder: Path, system: str, table: str, *, wait_s: float = 60, section: str = "",
                routes: str = ROUTES) -> Path:
    """A sql target file of ``system`` writing ``table`` (``section``: the lines of its ``sql:``; ``routes``:
    ``ROUTES`` or ``KEY_ROUTES``)."""
    path = folder / f"{system}.yaml"
    path.write_text(f"system: {system}\nadapter: sql\nsql:\n{section or '  {}'}\nroutes:\n"
                    + routes.format(table=table, wait_s=wait_s), encoding="utf-8")
    return path


def payload(code: str, parent: str | None, *, tenant: int = 1, name: str | None = None,
            company_id: str | None = None) -> dict[str, Any]:
    """``company_id``: the target's id of the row, None (absent) before it came back."""
    return {"org_key": f"{tenant}:{code}", "tenant_id": tenant, "org_code": code, "parent_code": parent,
            "name": name or f"Org {code}", **({"company_id": company_id} if company_id else {})}


def organisation(target: str, code: str, parent: str | None, *, tenant: int = 1, operation: str = "create",
                 changed: tuple[str, ...] = (), name: str | None = None) -> dict[str, Any]:
    """A Command record of one organisation, as the entity flow makes it (its target id not known yet)."""
    return command(target=target, operation=operation, payload_type=PAYLOAD_TYPE, entity_key=f"{tenant}:{code}",
                   payload=payload(code, parent, tenant=tenant, name=name), changed=changed)
