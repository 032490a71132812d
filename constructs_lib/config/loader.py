"""Read and validate environment files, failing with messages a person can act on.

Every problem of every file is reported at once: duplicate YAML keys, each field's own errors,
and the rules that span sections (run even when unrelated sections failed, on the sections
that validated).
"""

from __future__ import annotations

import copy as copy_module
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Mapping

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from .environment import EnvironmentConfig, cross_section_problems
from .errors import ConfigError, Problems, format_validation_error, join_path, problem_line
from .locations import CodeLocationSettings
from .yaml_source import load_yaml


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


@lru_cache(maxsize=None)
def _field_adapter(name: str) -> TypeAdapter:
    field = EnvironmentConfig.model_fields[name]
    annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(annotation)


def _validated_sections(data: dict) -> dict[str, Any]:
    """Each top-level section that validates on its own (absent sections take their defaults);
    code locations one by one, so one broken location does not hide the rules of the others."""
    sections: dict[str, Any] = {}
    for name, field in EnvironmentConfig.model_fields.items():
        if name == "code_locations":
            continue
        if name in data:
            try:
                sections[name] = _field_adapter(name).validate_python(data[name])
            except ValidationError:
                continue
        elif not field.is_required():
            sections[name] = field.get_default(call_default_factory=True)
    alerting = data.get("alerting")
    if "alerting" not in sections and isinstance(alerting, dict) and isinstance(alerting.get("teams"), dict):
        sections["alerting_teams"] = set(alerting["teams"])
    locations = data.get("code_locations")
    if isinstance(locations, dict):
        sections["code_locations"] = {}
        for key, value in locations.items():
            try:
                sections["code_locations"][key] = CodeLocationSettings.model_validate(value)
            except ValidationError:
                sections["code_locations"][key] = None
    return sections


def _without(data: Any, paths: list[tuple]) -> Any:
    """A copy of ``data`` without the values at ``paths`` (so their defaults apply)."""
    result = copy_module.deepcopy(data)
    for path in paths:
        node = result
        for key in path[:-1]:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                node = None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return result


def _error_path(item: dict) -> tuple:
    loc = tuple(item["loc"])
    return loc[:-1] if loc and loc[-1] == "[key]" else loc


def _rules_hidden_by_field_errors(
    document: dict, error: ValidationError, source: str, cdk_context: Mapping[str, Any] | None, seen: set[str]
) -> list[str]:
    """A section's own cross-field rules (say, network's mode rules) do not run while one of its
    fields is invalid. Validate again without the invalid values (defaults apply) and keep the
    rule problems that appear, except those about the removed values themselves."""
    removed = [_error_path(item) for item in error.errors(include_url=False) if item["loc"]]
    found: list[str] = []
    for _ in range(3):  # a rule problem may itself hide another section's rules
        try:
            EnvironmentConfig.model_validate(_without(document, removed), context={"cdk_context": cdk_context})
            break
        except ValidationError as again:
            rule_errors = [
                item for item in again.errors(include_url=False)
                if item["loc"] and isinstance((item.get("ctx") or {}).get("error"), Problems)
            ]
            new = [
                line for line in _format_items(source, rule_errors)
                if line not in seen and not _names_removed(line, source, removed)
            ]
            if not new:
                break
            found += new
            seen.update(new)
            removed += [_error_path(item) for item in again.errors(include_url=False) if item["loc"]]
    return found


def _dotted(path: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else ("." if index else "") + str(part)
                   for index, part in enumerate(path))


def _names_removed(line: str, source: str, removed: list[tuple]) -> bool:
    where = line[len(source) + 2 :].split(" = ", 1)[0].split(": ", 1)[0]
    return any(where == _dotted(path) or where.startswith(_dotted(path) + ".") for path in removed)


def _format_items(source: str, items: list[dict]) -> list[str]:
    return [
        problem_line(source, join_path(_dotted(tuple(item["loc"])), problem.field), problem.value, problem.message)
        for item in items
        for problem in item["ctx"]["error"].problems
    ]


def parse_environment(
    data: Any, source: str, name: str, cdk_context: Mapping[str, Any] | None = None
) -> EnvironmentConfig:
    """Validate one environment's data. With ``cdk_context`` (cdk.json's context), also check that
    an explicit account's availability zones are pinned there."""
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the file must be a YAML mapping of settings, got {type(data).__name__}"])
    declared = data.get("name", name)
    if declared != name:
        raise ConfigError([f"{source}: name = {declared!r}: must match the file name '{name}'"])
    document = {**data, "name": name}
    try:
        return EnvironmentConfig.model_validate(document, context={"cdk_context": cdk_context})
    except ValidationError as error:
        lines = format_validation_error(source, error, _allowed_keys(EnvironmentConfig)).lines
        lines += _rules_hidden_by_field_errors(document, error, source, cdk_context, set(lines))
        cross_rules_ran = any(not item["loc"] for item in error.errors(include_url=False))
        if not cross_rules_ran:
            lines += [
                problem_line(source, join_path(problem.field), problem.value, problem.message)
                for problem in cross_section_problems(_validated_sections(document), cdk_context)
            ]
        raise ConfigError(lines) from None


def load_environment(path: str | Path, cdk_context: Mapping[str, Any] | None = None) -> EnvironmentConfig:
    path = Path(path)
    source = str(path)
    try:
        data, duplicates = load_yaml(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([f"{source}: not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ConfigError([f"{source}: not valid YAML{where}: {problem}"]) from None
    lines = [f"{source}: {duplicate.describe()}" for duplicate in duplicates]
    try:
        config = parse_environment(data, source, path.stem, cdk_context)
    except ConfigError as error:
        lines += error.lines
    if lines:
        raise ConfigError(lines)
    return config


def load_environments(directory: str | Path, cdk_context: Mapping[str, Any] | None = None) -> list[EnvironmentConfig]:
    """Every ``*.yaml`` in the directory, sorted by name; all errors of all files together.

    Pass the CDK context (``app.cdk_json_context()``) to check availability-zone pinning too.
    """
    configs, problems = [], []
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise ConfigError([f"{directory}: no environment files (*.yaml) found"])
    for path in files:
        try:
            configs.append(load_environment(path, cdk_context))
        except ConfigError as error:
            problems.extend(error.lines)
    if problems:
        raise ConfigError(problems)
    return configs
