"""Load the canonical Avro schemas from ``schemas/``: one named type per file, referring to others by name.

Files are parsed in dependency order with fastavro, so ``"type": "Address"`` in ``customer.avsc`` resolves to
the record ``address.avsc`` defines. ``schemas/history/<stem>.v<N>.avsc`` keeps earlier published versions of
``schemas/<stem>.avsc``; they are parsed against the current definitions of every other type they do not
define themselves (a copy may be self-contained, each embedded type defined inline as it was published).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from fastavro.schema import fingerprint as crc64_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

from streams.codecs.exceptions import SchemaLoadError, UnknownSchema
from streams.config.paths import DATA_ROOT

SCHEMA_DIR = DATA_ROOT / "schemas"
#: Environment variable naming a folder of your own schemas, read beside the built-in ones (``dirs.schemas_dir``).
SCHEMAS_DIR_ENV = "ISTHMUS_SCHEMAS_DIR"
#: The fix of a record name no schema has.
NAME_A_RECORD = f"name a record of schemas/, or of your own schemas folder ({SCHEMAS_DIR_ENV})"
HISTORY_DIR_NAME = "history"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
#: What a history copy may declare the current schema owes it: ``full`` (the default), or ``backward`` with a
#: ``compatibility_reason`` when a change let the current schema read the copy's data but not the other way
#: round (``System`` became a string: an old reader cannot read a string as its enum).
HISTORY_COMPATIBILITY = ("full", "backward")
_HISTORY_FILE = re.compile(r"^(?P<stem>[a-z0-9_]+)\.v(?P<version>[0-9]+)\.avsc$")

#: A schema as JSON values: a type name, a union list, or a type object.
Schema = str | list[Any] | dict[str, Any]


def full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _names(schema: Any, namespace: str | None, defines: list[str], refers: list[str]) -> None:
    """Collect the named types a raw schema defines and the ones it refers to, with Avro's namespace rules."""
    if isinstance(schema, str):
        if schema not in PRIMITIVES:
            refers.append(full_name(schema, namespace))
    elif isinstance(schema, list):
        for branch in schema:
            _names(branch, namespace, defines, refers)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in NAMED_KINDS:
            name = full_name(str(schema.get("name", "")), schema.get("namespace", namespace))
            defines.append(name)
            inner = name.rpartition(".")[0] or None
            for item in schema.get("fields", ()) if kind in ("record", "error") else ():
                _names(item.get("type"), inner, defines, refers)
        elif kind == "array":
            _names(schema.get("items"), namespace, defines, refers)
        elif kind == "map":
            _names(schema.get("values"), namespace, defines, refers)
        else:
            _names(kind, namespace, defines, refers)


def _strip(schema: Any) -> Any:
    """fastavro's parsed form without its private ``__`` keys."""
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


@dataclass(frozen=True, kw_only=True)
class SchemaFile:
    """One ``.avsc`` file: the type it is named after, what it defines and refers to, and its parsed form."""

    path: Path
    name: str
    raw: Mapping[str, Any]
    defines: tuple[str, ...]
    refers: tuple[str, ...]
    version: int | None = None

    @property
    def stem(self) -> str:
        return self.path.name.split(".", 1)[0]


def read_schema_file(path: Path, *, version: int | None = None) -> SchemaFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaLoadError(f"cannot read it: {exc}", where=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise SchemaLoadError(f"not JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                              where=str(path)) from exc
    if not isinstance(raw, dict) or raw.get("type") not in NAMED_KINDS:
        raise SchemaLoadError("the top level must be a named type (record, enum or fixed) with a name",
                              where=str(path))
    defines: list[str] = []
    refers: list[str] = []
    _names(raw, raw.get("namespace"), defines, refers)
    duplicates = sorted({n for n in defines if defines.count(n) > 1})
    if duplicates:
        raise SchemaLoadError(f"defines {', '.join(duplicates)} more than once", where=str(path))
    own = set(defines)
    return SchemaFile(path=path, name=defines[0], raw=MappingProxyType(raw), defines=tuple(defines),
                      refers=tuple(dict.fromkeys(r for r in refers if r not in own)), version=version)


def _dependency_order(files: Iterable[SchemaFile], known: Iterable[str] = ()) -> list[SchemaFile]:
    pending = {f.name: f for f in files}
    owner = {name: f for f in pending.values() for name in f.defines}
    done: set[str] = set(known)
    ordered: list[SchemaFile] = []
    while pending:
        ready = [f for f in pending.values() if all(r in done for r in f.refers)]
        if not ready:
            for f in sorted(pending.values(), key=lambda f: str(f.path)):
                missing = [r for r in f.refers if r not in done and r not in owner]
                if missing:
                    raise SchemaLoadError(
                        f"refers to {', '.join(missing)}, which no schema file defines; define it in its own "
                        f"schemas/<name>.avsc or fix the spelling (names are namespace-qualified)",
                        where=str(f.path))
            cycle = ", ".join(sorted(str(f.path.name) for f in pending.values()))
            raise SchemaLoadError(f"these files refer to each other in a cycle: {cycle}; define the shared "
                                  "type in one file only")
        for f in sorted(ready, key=lambda f: f.name):
            ordered.append(f)
            done.update(f.defines)
            del pending[f.name]
    return ordered


def _parse(f: SchemaFile, named: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = cast(dict[str, Any], parse_schema(dict(f.raw), named_schemas=named))
    except Exception as exc:  # fastavro raises several unrelated types for a bad schema
        raise SchemaLoadError(f"invalid Avro schema: {exc}", where=str(f.path)) from exc
    return parsed


def _missing_docs(schema: Any, where: str) -> Iterator[str]:
    if isinstance(schema, list):
        for branch in schema:
            yield from _missing_docs(branch, where)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in NAMED_KINDS and not schema.get("doc"):
            yield f"{where} {schema.get('name')}"
        if kind in ("record", "error"):
            for item in schema.get("fields", ()):
                if not item.get("doc"):
                    yield f"{where} field {schema.get('name')}.{item.get('name')}"
                yield from _missing_docs(item.get("type"), where)
        elif kind == "array":
            yield from _missing_docs(schema.get("items"), where)
        elif kind == "map":
            yield from _missing_docs(schema.get("values"), where)
        elif isinstance(kind, (dict, list)):
            yield from _missing_docs(kind, where)


@dataclass(frozen=True, kw_only=True)
class SchemaVersion:
    """An earlier published version of a schema, from ``history/``, as one self-contained document."""

    file: SchemaFile
    schema: Schema
    compatibility: str = "full"
    """What the current schema owes this version: ``full``, or ``backward`` (see ``HISTORY_COMPATIBILITY``)."""

    @property
    def version(self) -> int:
        return self.file.version or 0


@dataclass(frozen=True, kw_only=True)
class SchemaSet:
    """The current schemas of a directory, each parsed, plus their earlier versions from ``history/``."""

    directory: Path
    files: Mapping[str, SchemaFile]
    named: Mapping[str, Any]
    #: The earlier versions of each top-level schema, by its full name.
    history: Mapping[str, tuple[SchemaVersion, ...]] = field(default_factory=dict)
    _parsed: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.files))

    def file(self, name: str) -> SchemaFile:
        return self.files[self.resolve(name, top_level=True)]

    def resolve(self, name: str, *, top_level: bool = False) -> str:
        """A full name, or a short name (``Customer``) if exactly one schema has it."""
        pool = self.files if top_level else self.named
        if name in pool:
            return name
        matches = [n for n in pool if n.rpartition(".")[2] == name]
        if len(matches) == 1:
            return matches[0]
        raise UnknownSchema(f"no schema named {name!r}; known: {', '.join(self.names())}")

    def definition(self, name: str) -> dict[str, Any]:
        """The named type as written, with names qualified and references left as names."""
        found: dict[str, Any] = self.named[self.resolve(name)]
        return found

    def standalone(self, name: str) -> Schema:
        """The schema as one self-contained JSON document: each named type defined at its first use."""
        return standalone(self.named[self.resolve(name)], self.named)

    def parsed(self, name: str) -> dict[str, Any]:
        """The fastavro parsed form of the standalone schema, for schemaless writers and readers."""
        full = self.resolve(name)
        if full not in self._parsed:
            self._parsed[full] = cast(dict[str, Any], parse_schema(self.standalone(full), named_schemas={}))
        return self._parsed[full]

    def versions(self, name: str) -> tuple[SchemaVersion, ...]:
        """Earlier versions of a top-level schema kept in ``history/``, oldest first."""
        return self.history.get(self.resolve(name, top_level=True), ())

    def pii_fields(self, name: str) -> frozenset[str]:
        """Dotted paths of fields marked ``"pii": true``, through nested records, arrays, maps and unions."""
        paths: set[str] = set()
        _pii(self.standalone(name), "", paths, set())
        return frozenset(paths)

    def undocumented(self) -> tuple[str, ...]:
        """Every named type and field without a ``doc``, as ``<file> <name>``."""
        return tuple(m for f in self.files.values() for m in _missing_docs(dict(f.raw), f.path.name))


def canonical_form(schema: Schema) -> str:
    """The Avro Parsing Canonical Form of a self-contained schema."""
    form: str = to_parsing_canonical_form(schema)
    return form


def fingerprint(schema: Schema) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form."""
    return bytes.fromhex(crc64_fingerprint(canonical_form(schema), "CRC-64-AVRO"))


def standalone(schema: Any, named: Mapping[str, Any]) -> Schema:
    seen: set[str] = set()

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            if node in PRIMITIVES or node in seen:
                return node
            if node not in named:
                raise SchemaLoadError(f"refers to {node}, which no schema file defines", where=path)
            return walk(_strip(named[node]), path)
        if isinstance(node, list):
            return [walk(branch, path) for branch in node]
        if not isinstance(node, dict):
            return node
        node = _strip(node)
        kind = node.get("type")
        if kind in NAMED_KINDS:
            seen.add(node["name"])
            if kind in ("record", "error"):
                return {**node, "fields": [{**f, "type": walk(f["type"], f"{path}.{f['name']}")}
                                           for f in node["fields"]]}
            return node
        if kind == "array":
            return {**node, "items": walk(node["items"], path)}
        if kind == "map":
            return {**node, "values": walk(node["values"], path)}
        if isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in PRIMITIVES):
            return {**node, "type": walk(kind, path)}
        return node

    result: Schema = walk(schema, schema.get("name", "schema") if isinstance(schema, dict) else "schema")
    return result


def definitions(schema: Any) -> dict[str, dict[str, Any]]:
    """Every named type a self-contained schema defines, by full name."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in NAMED_KINDS:
                found[node["name"]] = node
                for item in node.get("fields", ()):
                    walk(item["type"])
            elif kind == "array":
                walk(node["items"])
            elif kind == "map":
                walk(node["values"])
            elif isinstance(kind, (dict, list)):
                walk(kind)

    walk(schema)
    return found


def _pii(schema: Schema, prefix: str, paths: set[str], seen: set[str]) -> None:
    names = definitions(schema)

    def walk(node: Any, prefix: str, seen: frozenset[str]) -> None:
        if isinstance(node, str) and node in names:
            walk(names[node], prefix, seen)
        elif isinstance(node, list):
            for branch in node:
                walk(branch, prefix, seen)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "error") and node["name"] not in seen:
                for item in node["fields"]:
                    path = f"{prefix}{item['name']}"
                    if item.get("pii") is True:
                        paths.add(path)
                    walk(item["type"], path + ".", seen | {node["name"]})
            elif kind == "array":
                walk(node["items"], prefix, seen)
            elif kind == "map":
                walk(node["values"], prefix, seen)
            elif isinstance(kind, (dict, list, str)) and kind not in NAMED_KINDS:
                walk(kind, prefix, seen)

    walk(schema, prefix, frozenset(seen))


def own_schemas_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """``ISTHMUS_SCHEMAS_DIR``: a folder of your own schemas (a new system's canonical records), or None."""
    value = (os.environ if env is None else env).get(SCHEMAS_DIR_ENV)
    return Path(value) if value else None


def load_schemas(directory: Path = SCHEMA_DIR, *, env: Mapping[str, str] | None = None) -> SchemaSet:
    """Parse every ``*.avsc`` in ``directory`` (not recursive) and every version kept in ``history/``; with the
    built-in folder, those of ``ISTHMUS_SCHEMAS_DIR`` (and its ``history/``) too, when set (``env``: the
    environment to read it from). A full name both folders define is refused, every one at once: add records,
    never redefine one Isthmus ships (its readers and history rely on it). A file of yours may share a built-in
    file's name (``account.avsc`` defining ``acme.Account``): records are known by their full names, and each
    folder's ``history/`` copies are matched only to that folder's files."""
    paths = sorted(directory.glob("*.avsc"))
    if not paths:
        raise SchemaLoadError("no *.avsc files here; point ISTHMUS at the repository's schemas/ folder",
                              where=str(directory))
    own = own_schemas_dir(env) if directory == SCHEMA_DIR else None
    own_paths: list[Path] = []
    if own is not None:
        own_paths = sorted(own.glob("*.avsc")) if own.is_dir() else []
        if not own_paths:
            raise SchemaLoadError(f"{SCHEMAS_DIR_ENV} names a folder with no *.avsc schema file",
                                  where=str(own))
    files = [read_schema_file(p) for p in (*paths, *own_paths)]
    _refuse_redefined(files)
    named: dict[str, Any] = {}
    for f in _dependency_order(files):
        _parse(f, named)
    by_name = {f.name: f for f in files}
    plain = {k: _strip(v) for k, v in named.items()}
    history = _load_history(directory / HISTORY_DIR_NAME, {f.stem: f for f in files[:len(paths)]}, plain)
    if own is not None:
        history.update(_load_history(own / HISTORY_DIR_NAME, {f.stem: f for f in files[len(paths):]}, plain))
    return SchemaSet(directory=directory, files=MappingProxyType(by_name), named=MappingProxyType(plain),
                     history=MappingProxyType(history))


def _refuse_redefined(files: Iterable[SchemaFile]) -> None:
    """Refuse every full name (namespace and name) that two files define, all in one error."""
    owners: dict[str, Path] = {}
    clashes: list[tuple[Path, str]] = []
    for f in files:
        for name in f.defines:
            other = owners.setdefault(name, f.path)
            if other != f.path:
                shown = other.name if other.parent == f.path.parent else str(other)
                clashes.append((f.path, f"defines {name}, which {shown} defines too"))
    fix = ("keep one (a record of your own takes a name of its own, e.g. in a namespace of yours): mappings, routes "
           "and the records on the topics know a type by its full name, whatever its file is called, so two "
           "definitions of one would be read one for the other")
    if len(clashes) == 1:
        raise SchemaLoadError(f"{clashes[0][1]}; {fix}", where=str(clashes[0][0]))
    if clashes:
        raise SchemaLoadError(f"{len(clashes)} full names are defined twice: "
                              f"{'; '.join(f'{path} {clash}' for path, clash in clashes)}; for each, {fix}")


def _declared_compatibility(old: SchemaFile) -> str:
    mode = old.raw.get("compatibility", "full")
    if mode not in HISTORY_COMPATIBILITY:
        raise SchemaLoadError(f"compatibility {mode!r} is not one of {', '.join(HISTORY_COMPATIBILITY)}; the "
                              "current schema must at least read this version's data (backward)", where=str(old.path))
    reason = old.raw.get("compatibility_reason")
    if mode != "full" and not (isinstance(reason, str) and reason.strip()):
        raise SchemaLoadError(f"compatibility {mode!r} needs a compatibility_reason: say which change made the "
                              "older readers unable to read current data, and why it could not be avoided",
                              where=str(old.path))
    return str(mode)


def _load_history(directory: Path, current: Mapping[str, SchemaFile],
                  named: Mapping[str, Any]) -> dict[str, tuple[SchemaVersion, ...]]:
    versions: dict[str, list[SchemaVersion]] = {}
    for path in sorted(directory.glob("*.avsc")) if directory.is_dir() else ():
        match = _HISTORY_FILE.match(path.name)
        if not match:
            raise SchemaLoadError("a history file is named <stem>.v<N>.avsc after the current "
                                  "schemas/<stem>.avsc", where=str(path))
        stem = match["stem"]
        if stem not in current:
            raise SchemaLoadError(f"no current schemas/{stem}.avsc for this history copy; remove it or "
                                  "restore the current file", where=str(path))
        old = read_schema_file(path, version=int(match["version"]))
        if old.name != current[stem].name:
            raise SchemaLoadError(f"defines {old.name} but schemas/{stem}.avsc defines "
                                  f"{current[stem].name}; a history copy keeps the name (renames need "
                                  "aliases in the current file)", where=str(path))
        # A copy's own definitions win: a copy of a schema embedding a type that changed since (System, an enum
        # until it became a string) pins that type inline, so its fingerprint stays the one it was written with.
        others = {k: v for k, v in named.items() if k not in current[stem].defines and k not in old.defines}
        scratch = dict(others)
        _parse(old, scratch)
        plain = {k: _strip(v) for k, v in scratch.items()}
        version = SchemaVersion(file=old, schema=standalone(plain[old.name], plain),
                                compatibility=_declared_compatibility(old))
        versions.setdefault(old.name, []).append(version)
    return {name: tuple(sorted(found, key=lambda v: v.version)) for name, found in versions.items()}
