"""The base of every settings section: a pydantic-settings class whose fields each name their variable.

A section is one concern's settings (Kafka, Kafka Connect, folders, one process's knobs). Each field is
written once, with its default and its description; its environment variable is the section's prefix plus
the field's name in upper case (``ISTHMUS_KAFKA_`` + ``bootstrap_servers``), or the name ``ENV_NAMES`` keeps
from before the model (``ISTHMUS_RESYNC_AT``). Adding a setting is adding a field. A bad value is reported as
its variable (or file line), the value, what it must be, and the default that unsetting it gives. Sections
are validated by :mod:`streams.config.model`, which layers the sources and records where each value came from;
a section is never built from ``os.environ`` behind the caller's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from streams.errors import IsthmusError


class Section(BaseSettings):
    """One concern's settings; subclasses set ``model_config`` with their ``env_prefix`` and a ``NAME``."""

    #: The section's key in a ``--config`` file and in ``isthmus config show``.
    NAME: ClassVar[str] = ""
    #: The variables that do not follow ``env_prefix + field`` (names older than the model): field -> variable.
    ENV_NAMES: ClassVar[dict[str, str]] = {}
    #: What a process raises when its section alone is invalid (:meth:`from_env`).
    ERROR: ClassVar[type[IsthmusError]] = IsthmusError
    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_ignore_empty=True, case_sensitive=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: the sources (environment, file, stack) are layered by the model, which knows
        where each value came from; pydantic-settings would otherwise read ``os.environ`` on every build."""
        return (init_settings,)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable of ``field``."""
        return cls.ENV_NAMES.get(field) or f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The values ``env`` sets for this section's fields, decoded as pydantic-settings decodes them (each
        variable once, empty ones ignored); not validated yet."""
        prefix = cls.model_config.get("env_prefix", "")
        wanted = {cls.env_name(name): name for name in cls.model_fields}
        source = EnvSettingsSource(cls)
        source.env_vars = {f"{prefix}{wanted[k.upper()]}".lower(): v for k, v in env.items()
                           if v.strip() and k.upper() in wanted}
        return dict(source())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """This section from ``env`` and the defaults alone (a process's own knobs, in tests and tools); every
        bad value is named at once in the section's ``ERROR``."""
        try:
            return cls.model_validate(cls.from_environment(env))
        except ValidationError as exc:
            problems = [problem(cls, error, "env", env.get(cls.env_name(str(error["loc"][0])), "")
                                if error["loc"] else None) for error in exc.errors()]
            raise cls.ERROR(f"invalid {cls.NAME} settings:\n  " + "\n  ".join(problems)) from None

    def shown(self, field: str) -> str | None:
        """``field``'s value as ``config show`` prints it: secrets as ``***``, lists comma-joined, mappings as
        ``k=v`` comma-joined."""
        value = getattr(self, field)
        if value is None:
            return None
        if isinstance(value, SecretStr):
            return "***"
        if isinstance(value, list | tuple | frozenset):
            return ",".join(str(v) for v in value)
        if isinstance(value, dict):
            return ",".join(f"{k}={v}" for k, v in value.items())
        return str(value)


#: pydantic's error types of a number that does not parse or is out of bounds: described from the field.
_NUMBER_ERRORS = {"int_parsing", "int_from_float", "int_type", "float_parsing", "float_type", "finite_number",
                  "greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def expectation(info: FieldInfo) -> str:
    """What a value of a number field must be, from its type and bounds: ``a whole number in 1..64``."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("expect"), str):
        return str(extra["expect"])
    whole = "int" in str(info.annotation)
    kind = "a whole number" if whole else "a number"
    bounds = {type(m).__name__.lower(): getattr(m, type(m).__name__.lower()) for m in info.metadata
              if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")}
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if low is not None and high is not None:
        return f"{kind} in {low}..{high}" if whole else f"{kind} between {low} and {high}"
    if "gt" in bounds:
        return f"{kind} above {bounds['gt']}"
    if "ge" in bounds:
        return f"{kind} at least {bounds['ge']}"
    return kind


def default_text(info: FieldInfo) -> str | None:
    """The default a field falls back to, as a fix names it; None when it has none to name."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("default"), str):
        return str(extra["default"])
    if info.default is PydanticUndefined or info.default is None:
        return None
    return ",".join(map(str, info.default)) if isinstance(info.default, list) else str(info.default)


def problem(section: type[Section], error: Any, origin: str | None, raw: Any, where: str | None = None) -> str:
    """One validation error as what, where and the fix. ``origin``: env, file, stack or None (the default);
    ``raw``: the value as given; ``where``: the file line of a file's value."""
    name = str(error["loc"][0]) if error["loc"] else ""
    if not name:  # a check across fields
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        return f"{section.NAME}: {message}"
    info = section.model_fields[name]
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    elif error["type"] in _NUMBER_ERRORS:
        message = f"{raw!r} is not {expectation(info)}"
    else:
        message = error["msg"]
    variable = section.env_name(name)
    if origin == "env":
        place = variable
    elif origin == "file":
        place = f"{where or '(config file)'}: {section.NAME}.{name}"
    elif origin == "stack":
        place = f"{section.NAME}.{name} (offered by the local stack)"
    else:
        return f"{variable} is required: {message}; set it, or {section.NAME}.{name} in the --config file"
    default = default_text(info)
    use = f" to use {default}" if default is not None else ""
    return f"{place}: {message}; fix it or unset it{use} (variable {variable}, file key {section.NAME}.{name})"
