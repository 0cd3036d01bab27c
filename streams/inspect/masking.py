"""Personal data in inspection output: which fields hold it, and hiding their values.

Canonical records mark personal fields with ``"pii": true`` in schemas/ (:meth:`SchemaSet.pii_fields`).
Debezium records carry source columns, not canonical fields: a column is personal when a mapping
(mappings/*.yaml) binds it to a marked field; a marked field is hidden whole, so a command's ``payload``
(the JSON of a record that holds personal data) shows as ``***``. Records of no known shape (store
changelogs, other JSON) have every key named like a marked field hidden: an unknown layout errs on the
side of masking. An audit record of a conflict (``ConflictRecord``) holds the values of one field of an
entity: they are hidden when the entity's schema marks that field personal, or when that schema is not known here,
and shown otherwise (:meth:`PiiCatalog.mask_conflict`). When the mappings cannot be loaded (a columns file
``mappings discover`` rewrote no longer fits them), the inspection commands still run, exactly when they are
needed: :func:`inspection_catalog` warns once and hides every value (:meth:`PiiCatalog.masking_all`), keys by the
schemas' marked field names alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.codecs.exceptions import UnknownSchema
from streams.errors import IsthmusError
from streams.mapping.loader import load_mappings
from streams.mapping.spec import FieldBinding, RecordMapping

MASK = "***"
#: The audit topic's record of a conflict: its ``values`` are values of field ``field`` of ``entity_type``.
CONFLICT = "isthmus.canonical.ConflictRecord"


def mask(value: Any, paths: Iterable[str]) -> Any:
    """A copy of ``value`` with the dotted ``paths`` (through dicts and lists) replaced by ``***``."""
    result = value
    for path in paths:
        result = _mask_path(result, path.split("."))
    return result


def _mask_path(value: Any, parts: list[str]) -> Any:
    if isinstance(value, list):
        return [_mask_path(item, parts) for item in value]
    if not isinstance(value, Mapping) or parts[0] not in value:
        return value
    copy = dict(value)
    if len(parts) == 1:
        copy[parts[0]] = MASK if copy[parts[0]] is not None else None
    else:
        copy[parts[0]] = _mask_path(copy[parts[0]], parts[1:])
    return copy


def mask_names(value: Any, names: frozenset[str]) -> Any:
    """A copy of ``value`` with every key in ``names``, at any depth, replaced by ``***``."""
    if isinstance(value, list):
        return [mask_names(item, names) for item in value]
    if isinstance(value, Mapping):
        return {k: (MASK if k in names and v is not None and not isinstance(v, (Mapping, list))
                    else mask_names(v, names)) for k, v in value.items()}
    return value


def mask_all(value: Any) -> Any:
    """A copy of ``value`` with every value in it (at any depth, through dicts and lists) replaced by ``***``."""
    if isinstance(value, list):
        return [mask_all(item) for item in value]
    if isinstance(value, Mapping):
        return {k: mask_all(v) for k, v in value.items()}
    return None if value is None else MASK


def _bound_columns(binding: FieldBinding, prefix: str, pii: frozenset[str]) -> set[str]:
    path = prefix + binding.field
    if binding.nested:
        found: set[str] = set()
        for inner in binding.nested.values():
            found |= _bound_columns(inner, path + ".", pii)
        return found
    return set(binding.reads) if path in pii else set()


@dataclass(frozen=True, kw_only=True)
class PiiCatalog:
    """Marked fields per canonical schema and personal columns per source table."""

    schemas: SchemaSet
    columns: Mapping[tuple[str, str], frozenset[str]]
    names: frozenset[str]
    #: Every value hidden, whatever its field (:meth:`masking_all`): the mappings that say which hold personal data
    #: could not be loaded.
    everything: bool = False

    @classmethod
    def load(cls, schemas: SchemaSet | None = None,
             mappings: Mapping[str, RecordMapping] | None = None) -> PiiCatalog:
        """From ``schemas`` and ``mappings`` (default: loaded here; a caller that has them saves the reading)."""
        schemas = schemas or load_schemas()
        columns: dict[tuple[str, str], set[str]] = {}
        for mapping in (mappings if mappings is not None else load_mappings(schemas=schemas)).values():
            pii = schemas.pii_fields(mapping.target)
            for source in mapping.sources:
                if source.system is None or source.table is None:
                    continue
                found = columns.setdefault((source.system, source.table), set())
                for binding in source.bindings.values():
                    found |= _bound_columns(binding, "", pii)
        names = {path.rpartition(".")[2] for name in schemas.names() for path in schemas.pii_fields(name)}
        names |= {c for cols in columns.values() for c in cols}
        return cls(schemas=schemas, columns={k: frozenset(v) for k, v in columns.items()},
                   names=frozenset(names))

    @classmethod
    def masking_all(cls, schemas: SchemaSet | None = None) -> PiiCatalog:
        """A catalog that hides every value of every record, for when the mappings cannot be loaded; a key (which
        names an entity) by the schemas' marked field names, as keys always are."""
        schemas = schemas or load_schemas()
        names = {path.rpartition(".")[2] for name in schemas.names() for path in schemas.pii_fields(name)}
        return cls(schemas=schemas, columns={}, names=frozenset(names), everything=True)

    def fields(self, schema: str) -> frozenset[str]:
        try:
            return self.schemas.pii_fields(schema)
        except UnknownSchema:
            return frozenset()

    def mask_canonical(self, schema: str, value: Any) -> Any:
        """``value`` of canonical ``schema`` with its marked fields hidden."""
        if self.everything:
            return mask_all(value)
        if schema == CONFLICT and isinstance(value, Mapping):
            return self.mask_conflict(value)
        return mask(value, self.fields(schema))

    def mask_conflict(self, value: Mapping[str, Any]) -> Any:
        """A conflict record with each system's value of its field hidden (the systems' names shown) when its
        entity's schema marks that field personal (the field, a part of it, or a field it is part of), or when
        that schema is not known here: which values are personal depends on the entity, not on the audit record."""
        shown = mask(value, self.fields(CONFLICT) - {"values"})
        name = str(value.get("field"))
        try:
            marked = self.schemas.pii_fields(str(value.get("entity_type")))
        except UnknownSchema:
            personal = True
        else:
            personal = any(path == name or path.startswith(f"{name}.") or name.startswith(f"{path}.")
                           for path in marked)
        return {**shown, "values": mask_all(shown.get("values"))} if personal else shown

    def mask_change(self, system: str, table: str, change: Mapping[str, Any]) -> Any:
        """A Debezium change (``before``/``after`` rows) with the table's personal columns hidden."""
        columns = self.columns.get((system, table), self.names)
        return {k: ((mask_all(v) if self.everything else mask(v, columns)) if k in ("before", "after") else v)
                for k, v in change.items()}

    def mask_unknown(self, value: Any) -> Any:
        return mask_all(value) if self.everything else mask_names(value, self.names)

    def mask_key(self, key: Any) -> Any:
        """A decoded key: shown, but for a column named like a personal field (a key names an entity)."""
        return mask_names(key, self.names)


def inspection_catalog(schemas: SchemaSet, *, warn: Callable[[str], None],
                       mappings: Mapping[str, RecordMapping] | None = None) -> PiiCatalog:
    """The catalog an inspection command masks with: from ``schemas`` and the mappings (``mappings``, else loaded
    here); when the mappings cannot be loaded, one that hides every value (:meth:`PiiCatalog.masking_all`), after
    telling ``warn`` once why. The inspection commands are needed most while the mappings do not load (after
    ``mappings discover`` rewrote a columns file), so they do not refuse then."""
    try:
        return PiiCatalog.load(schemas, mappings=mappings)
    except IsthmusError as exc:
        warn(unloaded_warning(exc))
        return PiiCatalog.masking_all(schemas)


def unloaded_warning(exc: IsthmusError) -> str:
    """The one warning of an inspection command that masks every value because the mappings did not load."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = ": ".join(lines[:2]) + (f" (and {len(lines) - 2} more)" if len(lines) > 2 else "")
    return (f"isthmus: warning: the mappings cannot be loaded, so every value is masked (keys by the schemas' "
            f"personal fields; --show-pii shows them): {why}. Fix: `isthmus mappings validate` lists the problems")


__all__ = ["CONFLICT", "MASK", "PiiCatalog", "inspection_catalog", "mask", "mask_all", "mask_names", "unloaded_warning"]
