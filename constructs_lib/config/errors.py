"""Turn validation failures into one line per problem: file, field, value, what is allowed."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class ConfigError(Exception):
    """An environment file is invalid. ``str(error)`` is ready to print, one line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _shorten(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(source: str, error: ValidationError, allowed_keys: dict[str, list[str]]) -> ConfigError:
    """Format a pydantic error; ``allowed_keys`` maps a dotted parent path to its field names."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
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
        if loc:
            lines.append(f"{source}: {_location(loc)} = {_shorten(item.get('input'))}: {message}")
        else:
            lines.extend(f"{source}: {line}" for line in message.splitlines())
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
