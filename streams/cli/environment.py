"""Every environment variable Isthmus reads, for ``isthmus status --settings``.

Every process's settings are fields of the runtime settings model (streams/config: one section per concern
or process, each field with its default and description), and this listing is generated from them; the
local stack's own settings come from ``SETTINGS`` and its modules' ``DOCS``. A variable is described once.
The stack's settings show the values they resolve to; the others show what the environment sets, or
``(default)`` when it sets nothing. Secrets show as ``***``.

Two kinds of ``ISTHMUS_*`` name are not listed: the test harness's ``ISTHMUS_STACK`` and
``ISTHMUS_KEEP_STACK`` (README "Tests"), and variables a target file names (``auth.env`` in
``targets/*.yaml``, documented in targets/README.md), which belong to that file, not to the code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from streams.cli.runtime import CONFIG_ENV
from streams.config.model import SECTIONS
from streams.config.section import default_text
from streams.inspect import roles
from streams.stack import jars, prerequisites, secrets, tryton_venv
from streams.stack.settings import SETTINGS, StackSettings

#: How an unset variable shows in the text listing (in JSON it is null): the default its description names.
UNSET = "(default)"
HIDDEN = "***"

@dataclass(frozen=True, kw_only=True)
class Variable:
    process: str
    env: str
    #: The resolved value (stack settings), the environment's value, ``***`` for a secret, or None when unset.
    value: str | None
    description: str


def _from_docs(process: str, docs: Mapping[str, str], env: Mapping[str, str], *,
               secret: bool = False) -> list[Variable]:
    found = []
    for name, description in docs.items():
        raw = env.get(name, "").strip()
        value = (HIDDEN if secret else raw) if raw else None
        found.append(Variable(process=process, env=name, value=value, description=description))
    return found


def _runtime(env: Mapping[str, str]) -> list[Variable]:
    """The runtime settings' variables, generated from the model's fields (streams/config); secrets ``***``."""
    found = [Variable(process="runtime", env=CONFIG_ENV, value=env.get(CONFIG_ENV, "").strip() or None,
                      description="a --config YAML file of runtime settings (kafka:, connect:, dirs:); the "
                                  "environment overrides it; `isthmus config show` prints the effective values")]
    for section in SECTIONS:
        for name, info in section.model_fields.items():
            variable = section.env_name(name)
            raw = env.get(variable, "").strip()
            secret = info.annotation is not None and "SecretStr" in str(info.annotation)
            default = default_text(info)
            description = info.description or ""
            if default is not None and "default" not in description:
                description += f" (default {default})"
            found.append(Variable(process=section.NAME, env=variable, description=description,
                                  value=(HIDDEN if secret else raw) if raw else None))
    return found


def variables(settings: StackSettings, env: Mapping[str, str] | None = None) -> list[Variable]:
    """Every variable, grouped by the section of the model that holds it, then the stack's (``ISTHMUS_WORKER_ID``
    is listed under worker; the warehouse loader also takes it as its name). A variable of the runtime model is
    listed there only."""
    env = os.environ if env is None else env
    runtime = _runtime(env)
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
        lines.append(f"  {variable.env:<{width}}  {variable.value or UNSET:<28} {variable.description}")
    return lines
