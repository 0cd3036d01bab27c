"""Every environment variable Isthmus reads, for ``isthmus status --settings``.

Every process's settings are fields of the runtime settings model (streams/config: one section per concern
or process, each field with its default and description), and this listing is generated from them; the
local stack's own settings come from ``SETTINGS`` and its modules' ``DOCS``. A variable is described once.
The stack's settings show the values they resolve to; the runtime model's show their effective values and where
each came from, as ``isthmus config show`` does (:func:`streams.config.show.effective`: the environment, the
``--config`` file, the stack's offer, the default); the others show what the environment sets, or ``(default)``
when it sets nothing. Secrets show as ``***``.

Two kinds of ``ISTHMUS_*`` name are not listed: the test harness's ``ISTHMUS_STACK`` and
``ISTHMUS_KEEP_STACK`` (README "Tests"), and variables a target file names (``auth.env`` in
``targets/*.yaml``, documented in targets/README.md), which belong to that file, not to the code.
An ``ISTHMUS_*`` variable that is none of these is a mistyped or retired name: :func:`unknown_variables` finds
them, and ``isthmus`` warns of each once, with the closest name, before running a command.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.cli.runtime import CONFIG_ENV
from streams.config.dirs import DirectorySettings, folder
from streams.config.model import SECTIONS, RuntimeSettings
from streams.config.section import default_text
from streams.config.show import effective
from streams.inspect import roles
from streams.stack import jars, prerequisites, secrets, tryton_venv
from streams.stack.settings import SETTINGS, StackSettings

#: How an unset variable shows in the text listing (in JSON it is null): the default its description names.
UNSET = "(default)"
HIDDEN = "***"
#: Read by the test harness only (tests/conftest.py, streams/stack/harness.py), not by a command.
HARNESS = ("ISTHMUS_STACK", "ISTHMUS_KEEP_STACK")
_NAME = re.compile(r"\bISTHMUS_[A-Z0-9_]*[A-Z0-9]\b")

@dataclass(frozen=True, kw_only=True)
class Variable:
    process: str
    env: str
    #: The resolved value (stack settings), the effective or environment's value, ``***`` for a secret, or None
    #: when unset.
    value: str | None
    description: str
    #: Where a runtime setting's value came from (``env``, ``file``, ``stack``, ``default``); None: not known.
    origin: str | None = None


def _from_docs(process: str, docs: Mapping[str, str], env: Mapping[str, str], *,
               secret: bool = False) -> list[Variable]:
    found = []
    for name, description in docs.items():
        raw = env.get(name, "").strip()
        value = (HIDDEN if secret else raw) if raw else None
        found.append(Variable(process=process, env=name, value=value, description=description))
    return found


def _runtime(env: Mapping[str, str], runtime: RuntimeSettings | None = None) -> list[Variable]:
    """The runtime settings' variables, generated from the model's fields (streams/config); secrets ``***``. With
    ``runtime`` (the loaded settings), each shows its effective value and origin, as ``config show`` does."""
    config_file = str(runtime.config_file) if runtime is not None and runtime.config_file else None
    found = [Variable(process="runtime", env=CONFIG_ENV, value=config_file or env.get(CONFIG_ENV, "").strip() or None,
                      description="a --config YAML file of runtime settings (kafka:, connect:, dirs:); the "
                                  "environment overrides it; `isthmus config show` prints the effective values")]
    shown = {(row.section, row.key): row for row in effective(runtime)} if runtime is not None else {}
    for section in SECTIONS:
        for name, info in section.model_fields.items():
            variable = section.env_name(name)
            raw = env.get(variable, "").strip()
            secret = info.annotation is not None and "SecretStr" in str(info.annotation)
            default = default_text(info)
            description = info.description or ""
            if default is not None and "default" not in description:
                description += f" (default {default})"
            row = shown.get((section.NAME, name))
            if row is not None:
                value = None if row.origin == "default" else row.value
            else:
                value = (HIDDEN if secret else raw) if raw else None
            found.append(Variable(process=section.NAME, env=variable, description=description, value=value,
                                  origin=row.origin if row is not None else None))
    return found


def variables(settings: StackSettings, env: Mapping[str, str] | None = None,
              runtime_settings: RuntimeSettings | None = None) -> list[Variable]:
    """Every variable, grouped by the section of the model that holds it, then the stack's (``ISTHMUS_WORKER_ID``
    is listed under worker; the warehouse loader also takes it as its name). A variable of the runtime model is
    listed there only, with its effective value and origin when ``runtime_settings`` is given."""
    env = os.environ if env is None else env
    runtime = _runtime(env, runtime_settings)
    found = [Variable(process="stack", env=doc.env, value=str(getattr(settings, name)), description=doc.description)
             for name, doc in SETTINGS.items()]
    found += _from_docs("stack", {**jars.DOCS, **prerequisites.DOCS, **tryton_venv.DOCS}, env)
    found += _from_docs("stack", secrets.DOCS, env, secret=True)
    found += _from_docs("access", roles.DOCS, env, secret=True)
    listed = {v.env for v in runtime}
    return runtime + [v for v in found if v.env not in listed]


def render(found: list[Variable]) -> list[str]:
    """A line per process, then one per variable of it."""
    width = max(len(v.env) for v in found)
    lines: list[str] = []
    process = ""
    for variable in found:
        if variable.process != process:
            process = variable.process
            lines.append(f"{process}:")
        shown = variable.value or UNSET
        if variable.value and variable.origin:
            shown += f" [{variable.origin}]"
        lines.append(f"  {variable.env:<{width}}  {shown:<28} {variable.description}")
    return lines


def unknown_variables(env: Mapping[str, str], targets_dir: Path | None = None) -> list[tuple[str, str | None]]:
    """Each ``ISTHMUS_*`` variable of ``env`` that no setting reads (nor the test harness, nor a target file of
    ``targets_dir``, default the configured one), with the closest name that is one (None when none is close)."""
    given = sorted(name for name in env if name.upper().startswith("ISTHMUS_"))
    if not given:
        return []
    known = {v.env for v in _runtime({})} | {doc.env for doc in SETTINGS.values()} | set(HARNESS)
    known |= {*jars.DOCS, *prerequisites.DOCS, *tryton_venv.DOCS, *secrets.DOCS, *roles.DOCS}
    folder_given = env.get(DirectorySettings.env_name("sink_targets_dir"), "").strip()
    targets = targets_dir or (Path(folder_given) if folder_given else folder("targets"))
    for target in sorted(targets.glob("*.yaml")) if targets.is_dir() else ():
        try:  # a target's own variables (its API token's auth.env)
            known |= set(_NAME.findall(target.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    # compared past the prefix they all share, so that only a name like the given one is offered
    tails = {name[len("ISTHMUS_"):]: name for name in known}
    return [(name, next((tails[t] for t in difflib.get_close_matches(name.upper()[len("ISTHMUS_"):], tails, n=1,
                                                                     cutoff=0.6)), None))
            for name in given if name.upper() not in known]


def warn_unknown_variables(env: Mapping[str, str], targets_dir: Path | None = None) -> list[str]:
    """One warning line per :func:`unknown_variables`, for stderr; the variable is ignored, nothing fails."""
    return [f"isthmus: warning: {name} is not a setting of Isthmus and is ignored"
            + (f"; did you mean {closest}?" if closest else "")
            + " (`isthmus status --settings` lists every variable)"
            for name, closest in unknown_variables(env, targets_dir)]
