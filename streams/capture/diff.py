"""Local config against deployed config, key by key, with secret values masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.capture.options import is_provider_reference, looks_secret

MASK = "****"


def mask(key: str, value: str | None, connector_class: str | None) -> str | None:
    """A value fit to print: a secret's literal value becomes ``****``; provider references stay visible."""
    if value is None or not looks_secret(key, connector_class) or is_provider_reference(value):
        return value
    return MASK


@dataclass(frozen=True, kw_only=True)
class Change:
    key: str
    #: ``add`` (only local), ``remove`` (only deployed) or ``change``.
    kind: str
    local: str | None
    deployed: str | None

    def __str__(self) -> str:
        if self.kind == "add":
            return f"+ {self.key} = {self.local}"
        if self.kind == "remove":
            return f"- {self.key} = {self.deployed}"
        return f"~ {self.key}: {self.deployed} -> {self.local}"


@dataclass(frozen=True, kw_only=True)
class ConfigDiff:
    name: str
    deployed: bool
    changes: tuple[Change, ...]

    @property
    def unchanged(self) -> bool:
        return self.deployed and not self.changes

    @property
    def state(self) -> str:
        return "not deployed" if not self.deployed else ("unchanged" if not self.changes else "changed")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state,
                "changes": [{"key": c.key, "kind": c.kind, "local": c.local, "deployed": c.deployed}
                            for c in self.changes]}


def diff_configs(name: str, local: Mapping[str, str], deployed: Mapping[str, str] | None) -> ConfigDiff:
    connector_class = local.get("connector.class") or (deployed or {}).get("connector.class")
    if deployed is None:
        changes = tuple(Change(key=k, kind="add", local=mask(k, v, connector_class), deployed=None)
                        for k, v in sorted(local.items()))
        return ConfigDiff(name=name, deployed=False, changes=changes)
    found = []
    for key in sorted(set(local) | set(deployed)):
        mine, theirs = local.get(key), deployed.get(key)
        if mine == theirs:
            continue
        kind = "add" if theirs is None else "remove" if mine is None else "change"
        found.append(Change(key=key, kind=kind, local=mask(key, mine, connector_class),
                            deployed=mask(key, theirs, connector_class)))
    return ConfigDiff(name=name, deployed=True, changes=tuple(found))
