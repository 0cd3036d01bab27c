"""Every environment variable Isthmus reads, for ``isthmus status --settings``.

Each process documents its own variables next to the code that reads them (``SETTINGS``, ``SINK_SETTINGS``
or a module's ``DOCS``, whose descriptions carry the defaults); this module only gathers them, so a
variable is described once. The stack's settings show the values they resolve to; the others show what
the environment sets, or ``(default)`` when it sets nothing. Secrets show as ``***``.

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
from streams.dashboard import settings as dashboard_settings
from streams.flows.files import FLOWS_DIR_ENV
from streams.flows.registry import PLUGINS_ENV
from streams.inspect import roles
from streams.sinks.settings import SINK_SETTINGS
from streams.stack import jars, prerequisites, secrets, tryton_venv
from streams.stack.settings import SETTINGS, StackSettings
from streams.systems.loader import SYSTEMS_DIR_ENV
from streams.warehouse import settings as warehouse_settings
from streams.worker import settings as worker_settings

#: How an unset variable shows in the text listing (in JSON it is null): the default its description names.
UNSET = "(default)"
HIDDEN = "***"

#: Read by streams/flows/registry.py and files.py, and by the systems loader.
_FLOW_DOCS: dict[str, str] = {
    PLUGINS_ENV: "comma-separated [name=]module:callable flow builders loaded besides the flow files' flows "
                 "(default: none)",
    FLOWS_DIR_ENV: "folder of the flow files <name>.yaml: which built-in flows run (default: flows/ of the project)",
    SYSTEMS_DIR_ENV: "folder of the system files <name>.yaml (default: systems/ of the project)",
}


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
            found.append(Variable(process="runtime", env=variable, value=(HIDDEN if secret else raw) if raw else None,
                                  description=info.description or ""))
    return found


def variables(settings: StackSettings, env: Mapping[str, str] | None = None) -> list[Variable]:
    """Every variable, grouped by the process that reads it (``ISTHMUS_WORKER_ID`` is listed under worker;
    the warehouse loader also takes it as its name). A variable of the runtime model is listed there only."""
    env = os.environ if env is None else env
    runtime = _runtime(env)
    found = [Variable(process="stack", env=doc.env, value=str(getattr(settings, name)), description=doc.description)
             for name, doc in SETTINGS.items()]
    found += _from_docs("stack", {**jars.DOCS, **prerequisites.DOCS, **tryton_venv.DOCS}, env)
    found += _from_docs("stack", secrets.DOCS, env, secret=True)
    found += _from_docs("worker", {**worker_settings.DOCS, **_FLOW_DOCS}, env)
    found += _from_docs("sink", {doc.env: doc.description for doc in SINK_SETTINGS.values()}, env)
    found += _from_docs("warehouse", warehouse_settings.DOCS, env)
    found += _from_docs("dashboard", dashboard_settings.DOCS, env)
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
