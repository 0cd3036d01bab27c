"""Look-ups that nothing can ever answer, found from the mapping files alone.

A look-up ``lookup: {record: R, by: F, field: G}`` is answered from the changes of the table sources of the
mapping file whose ``target`` is R, in systems that are captured (:mod:`streams.flows.lookups`; an entity flow
looking up its link fills the same index from the link's changes). It needs no flow of R: the rows are read where
they are. So it can be known at load that one is never answered when none of those sources binds F (nothing is
ever indexed by it) or G (the record found never has it): every change that needs it waits, and is held or
dead-lettered (``LookupMissing``). A record no mapping file targets makes the flow that looks it up unavailable,
said where the flow is built; whether a row of R will exist for a given value is data, not configuration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from streams.config_files.problem import Problem, shown
from streams.mapping.spec import FieldBinding, RecordMapping
from streams.mapping.transforms import LookupStep


def lookup_steps(binding: FieldBinding) -> Iterator[LookupStep]:
    """Every look-up of ``binding``, its nested fields' included."""
    for step in binding.steps:
        if isinstance(step, LookupStep):
            yield step
    for inner in (binding.nested or {}).values():
        yield from lookup_steps(inner)


def unanswered(mappings: Mapping[str, RecordMapping], captured: frozenset[str]) -> dict[str, list[Problem]]:
    """By file stem, a warning for each look-up of ``mappings`` whose record's mapping file has no table source of
    a ``captured`` system that binds the field it looks up by, or the field it takes."""
    targets = {m.target.rpartition(".")[2]: m for m in mappings.values() if m.parent is None}
    found: dict[str, list[Problem]] = {}
    for stem, mapping in mappings.items():
        for source in mapping.sources:
            bindings = {f"sources.{source.name}.fields.{name}": b for name, b in source.bindings.items()}
            if source.parent_key is not None:
                bindings[f"sources.{source.name}.parent_key"] = source.parent_key
            for where, binding in bindings.items():
                for step in lookup_steps(binding):
                    looked_up = targets.get(step.record.rpartition(".")[2])
                    if looked_up is None:
                        continue
                    bound = {name for s in looked_up.sources if s.table is not None and s.system in captured
                             for name in s.bindings}
                    lacking = [f for f in dict.fromkeys((step.by, step.field)) if f not in bound]
                    if lacking:
                        found.setdefault(stem, []).append(_warning(mapping, where, binding, step, looked_up,
                                                                   lacking, bound))
    return found


def _warning(mapping: RecordMapping, where: str, binding: FieldBinding, step: LookupStep,
             looked_up: RecordMapping, lacking: list[str], bound: set[str]) -> Problem:
    file, record = shown(looked_up.path), step.record.rpartition(".")[2]
    return Problem(
        file=mapping.path, line=binding.line, field=where,
        message=(f"looks up {record} by {step.by} (taking {step.field}), but no table source of a captured system in "
                 f"{file} binds {' or '.join(lacking)}: the look-up is never answered, and every change that needs it "
                 "waits, then is held or dead-lettered (LookupMissing)"),
        fix=(f"bind {', '.join(lacking)} in a table source of {file} (a column of a captured system), or look "
             f"{record} up by a field its sources bind ({', '.join(sorted(bound)) or 'none does'})"))
