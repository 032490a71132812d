"""Turn validation failures into one line per problem: file, field, value, what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

#: ``FieldProblem.value`` when the field is absent (the line then reads ``field: message``).
ABSENT = object()


class ConfigError(Exception):
    """An environment file is invalid. ``str(error)`` is ready to print, one line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class FieldProblem:
    """One problem found by a rule that looks at several fields: ``field`` is relative to the model
    that found it (dotted, ``""`` for the model itself)."""

    field: str
    value: Any
    message: str


class Problems(ValueError):
    """Raised by model validators with every problem they found, so each becomes its own line
    naming its own field (a validator that raised on the first problem would hide the rest)."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def raise_problems(problems: list[FieldProblem]) -> None:
    if problems:
        raise Problems(problems)


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def shorten(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problem_line(source: str, where: str, value: Any, message: str) -> str:
    where = where or "(top level)"
    if value is ABSENT:
        return f"{source}: {where}: {message}"
    return f"{source}: {where} = {shorten(value)}: {message}"


def join_path(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def format_validation_error(source: str, error: ValidationError, allowed_keys: dict[str, list[str]]) -> ConfigError:
    """Format a pydantic error; ``allowed_keys`` maps a dotted parent path to its field names."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if loc and loc[-1] == "[key]":  # a dict key failed: the key itself is the value
            loc = loc[:-1]
        kind = item["type"]
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):
            lines.extend(
                problem_line(source, join_path(_location(loc), problem.field), problem.value, problem.message)
                for problem in cause.problems
            )
            continue
        if kind == "extra_forbidden":
            parent = _location(loc[:-1]) if loc[:-1] else ""
            allowed = allowed_keys.get(_strip_indexes(parent), [])
            lines.append(
                f"{source}: {_location(loc)}: unknown key; allowed keys{' under ' + parent if parent else ''}: "
                f"{', '.join(allowed)}"
            )
            continue
        if kind == "missing":
            lines.append(f"{source}: {_location(loc)}: required but missing")
            continue
        message = str(item["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        message = " ".join(message.split())  # never more than one line per problem
        if kind == "string_type" and isinstance(item.get("input"), (int, float, bool)):
            message += " (quote it in YAML: '...')"
        if loc:
            lines.append(f"{source}: {_location(loc)} = {shorten(item.get('input'))}: {message}")
        else:
            lines.append(f"{source}: {message}")
    return ConfigError(lines)


def _strip_indexes(path: str) -> str:
    out = []
    skip = False
    for char in path:
        if char == "[":
            skip = True
        elif char == "]":
            skip = False
        elif not skip:
            out.append(char)
    return "".join(out)
