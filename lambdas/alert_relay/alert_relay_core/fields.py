"""Tolerant readers for fields of untrusted JSON objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import EnvelopeError

_DIRECTIVE = re.compile(r"^[ \t]*(alert_team|alert_severity)[ \t]*=[ \t]*(\S+)[ \t]*$", re.MULTILINE)


def text(payload: Mapping[str, Any], key: str) -> str | None:
    """The field as text when it is a non-empty string or a number, else None."""
    value = payload.get(key)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def required_text(payload: Mapping[str, Any], key: str, where: str) -> str:
    value = text(payload, key)
    if value is None:
        raise EnvelopeError(f"{where} field '{key}' must be a non-empty string")
    return value


def mapping(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def mappings(payload: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = payload.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def first_text(payload: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = text(payload, key)
        if value is not None:
            return value
    return None


def arn_part(arn: str | None, index: int) -> str | None:
    """``arn:partition:service:region:account:resource`` -> the part at ``index``."""
    if not arn:
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[index] or None


def arn_resource_name(arn: str | None) -> str | None:
    """The last path segment of an ARN's resource (``cluster/prod`` -> ``prod``)."""
    resource = arn_part(arn, 5)
    if resource is None:
        return None
    return resource.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or None


def directives(description: str) -> dict[str, str]:
    """``alert_team=<name>`` / ``alert_severity=<level>`` lines in a free-text description."""
    return {match.group(1): match.group(2) for match in _DIRECTIVE.finditer(description)}


def without_directives(description: str) -> str:
    return _DIRECTIVE.sub("", description).strip()
