"""``isthmus config show``: every runtime setting, its effective value and where it came from."""

from __future__ import annotations

from dataclasses import dataclass

from streams.config.model import SECTIONS, Origin, RuntimeSettings


@dataclass(frozen=True, kw_only=True)
class Shown:
    section: str
    key: str
    env: str
    #: The effective value as printed (secrets ``***``), or None when unset.
    value: str | None
    origin: Origin
    description: str


def effective(settings: RuntimeSettings) -> list[Shown]:
    rows = []
    for section in SECTIONS:
        values = getattr(settings, section.NAME)
        for name, info in section.model_fields.items():
            rows.append(Shown(section=section.NAME, key=name, env=section.env_name(name), value=values.shown(name),
                              origin=settings.origins[(section.NAME, name)], description=info.description or ""))
    return rows


def render(rows: list[Shown]) -> list[str]:
    """A line per section, then one per setting: variable, value, origin."""
    width = max(len(row.env) for row in rows)
    lines: list[str] = []
    section = ""
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"{section}:")
        lines.append(f"  {row.env:<{width}}  {row.value or '(unset)':<32} [{row.origin}]")
    return lines
