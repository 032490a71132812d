"""Read and validate environment files, failing with messages a person can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .environment import EnvironmentConfig
from .errors import ConfigError, format_validation_error


def _allowed_keys(model: type[BaseModel], prefix: str = "", out: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Map every dotted path in the schema to the keys allowed there, for 'unknown key' messages."""
    out = {} if out is None else out
    out[prefix] = sorted(model.model_fields)
    for name, field in model.model_fields.items():
        for candidate in _nested_models(field.annotation):
            _allowed_keys(candidate, f"{prefix}.{name}" if prefix else name, out)
    return out


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_nested_models(arg))
    return found


def parse_environment(data: Any, source: str, name: str) -> EnvironmentConfig:
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the file must be a YAML mapping of settings, got {type(data).__name__}"])
    declared = data.get("name", name)
    if declared != name:
        raise ConfigError([f"{source}: name = {declared!r}: must match the file name '{name}'"])
    try:
        return EnvironmentConfig.model_validate({**data, "name": name})
    except ValidationError as error:
        raise format_validation_error(source, error, _allowed_keys(EnvironmentConfig)) from None


def load_environment(path: str | Path) -> EnvironmentConfig:
    path = Path(path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError([f"{source}: not valid YAML{where}: {getattr(error, 'problem', error)}"]) from None
    return parse_environment(data, source, path.stem)


def load_environments(directory: str | Path) -> list[EnvironmentConfig]:
    """Every ``*.yaml`` in the directory, sorted by name; all errors of all files together."""
    configs, problems = [], []
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise ConfigError([f"{directory}: no environment files (*.yaml) found"])
    for path in files:
        try:
            configs.append(load_environment(path))
        except ConfigError as error:
            problems.extend(error.lines)
    if problems:
        raise ConfigError(problems)
    return configs
