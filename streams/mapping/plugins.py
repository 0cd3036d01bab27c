"""A user's own transforms, added without editing Isthmus.

Two ways to provide one:

- in the mapping file, under ``plugins:``, a name and where the function is: an importable
  ``package.module:function``, or a file path relative to the mapping file, ``./plugins/phone.py:function``;
- from an installed distribution, as an entry point in the group ``isthmus.transforms``
  (``[project.entry-points."isthmus.transforms"] e164 = "mycompany.isthmus:normalize_phone"``),
  then usable by name in every mapping file.

A transform is a function ``f(value, **options)``; it may also take ``row=`` (the whole source row) and
``context=`` (the run-time :class:`~streams.mapping.transforms.Context`). Setting ``f.output_kind = "string"``
lets the loader type-check what it returns. See ``mappings/examples/`` for a documented example.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

from streams.mapping.transforms import ArgumentProblem

ENTRY_POINT_GROUP = "isthmus.transforms"


def _from_file(path: Path, attribute: str) -> Any:
    if not path.is_file():
        raise ArgumentProblem(f"plugin file {path} does not exist",
                              "give a path relative to the mapping file, e.g. ./plugins/phone.py:normalize")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"isthmus_plugin_{path.stem}_{digest}", path)
    if spec is None or spec.loader is None:
        raise ArgumentProblem(f"cannot load {path} as Python", "point at a .py file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ArgumentProblem(f"importing {path} failed: {type(exc).__name__}: {exc}",
                              "fix the plugin module") from exc
    return getattr(module, attribute, None)


def load_declared(name: str, where: str, base_dir: Path) -> Callable[..., Any]:
    """The function a ``plugins:`` entry names (``module:function`` or ``./file.py:function``)."""
    target, sep, attribute = where.rpartition(":")
    if not sep or not target or not attribute:
        raise ArgumentProblem(f"plugin {name!r} location {where!r} is not <module or file>:<function>",
                              "write `package.module:function` or `./plugins/file.py:function`")
    if target.endswith(".py") or "/" in target:
        function = _from_file((base_dir / target).resolve(), attribute)
    else:
        try:
            function = getattr(importlib.import_module(target), attribute, None)
        except ImportError as exc:
            raise ArgumentProblem(f"cannot import {target}: {exc}",
                                  "install the package, or give a file path relative to the mapping") from exc
    if not callable(function):
        raise ArgumentProblem(f"{where} is not a function", f"define `def {attribute}(value, ...)` there")
    return cast(Callable[..., Any], function)


def from_entry_point(name: str) -> Callable[..., Any] | None:
    """A transform an installed distribution registers under ``isthmus.transforms``, if any."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            try:
                function = point.load()
            except Exception as exc:
                raise ArgumentProblem(f"entry point {point.value} ({ENTRY_POINT_GROUP}) failed to load: {exc}",
                                      "fix or uninstall the distribution that provides it") from exc
            if not callable(function):
                raise ArgumentProblem(f"entry point {point.value} is not a function", "point it at a function")
            return cast(Callable[..., Any], function)
    return None
