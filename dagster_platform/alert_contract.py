"""The JSON alert that Dagster code publishes to the platform's alert relay.

One source of truth for both sides: ``dagster_platform.sensors`` builds these messages and
the relay Lambda (``lambdas/alert_relay``, which ships a copy of this module) validates them.
Standard library only.

A message is a JSON object::

    {
      "schema": "dagster-platform/alert@1",     # required, exactly this string
      "kind": "run_failure",                     # required, one of ALERT_KINDS
      "severity": "error",                       # required, one of SEVERITIES
      "title": "Run of daily_orders failed",     # required, 1-300 chars
      "occurred_at": "2026-11-24T06:40:00+00:00",# required, ISO 8601 with offset
      "team": "data-eng",                        # optional; else tags["alert_team"]; else relay default
      "details": "...",                          # optional, up to 8000 chars
      "dedup_key": "run_failure:<run_id>",       # optional; the relay derives one if missing
      "links": [{"label": "Run", "url": "https://..."}],   # optional
      "deployment": "prod", "location": "analytics", "job": "daily_orders",
      "run_id": "...", "asset_key": "analytics/orders",    # optional strings
      "tags": {"alert_team": "data-eng", ...},             # optional str -> str
      "lateness_seconds": 420.0                            # freshness kinds only; 0 when fresh
    }
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Mapping

SCHEMA_ID = "dagster-platform/alert@1"

ALERT_KINDS = (
    "run_failure",
    "run_success",
    "asset_check_failure",
    "freshness",  # an evaluation of an asset's lateness; the relay alerts on threshold crossings
)
SEVERITIES = ("critical", "error", "warning", "info")

_REQUIRED = ("schema", "kind", "severity", "title", "occurred_at")
_OPTIONAL_STR = ("team", "details", "dedup_key", "deployment", "location", "job", "run_id", "asset_key")
_MAX_LEN = {"title": 300, "details": 8000, "dedup_key": 512}
_DEFAULT_MAX_LEN = 512
_ALLOWED = set(_REQUIRED) | set(_OPTIONAL_STR) | {"links", "tags", "lateness_seconds"}


class AlertContractError(ValueError):
    """The payload is not a valid platform alert; the message says which field and why."""


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class DagsterAlert:
    kind: str
    severity: str
    title: str
    occurred_at: str
    team: str | None = None
    details: str = ""
    dedup_key: str | None = None
    links: tuple[Link, ...] = ()
    deployment: str | None = None
    location: str | None = None
    job: str | None = None
    run_id: str | None = None
    asset_key: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    lateness_seconds: float | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"schema": SCHEMA_ID}
        for key, value in asdict(self).items():
            if value in (None, "", (), [], {}):
                continue
            body[key] = value
        if self.lateness_seconds is not None:
            body["lateness_seconds"] = self.lateness_seconds
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _string(payload: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = payload.get(key)
    if value is None:
        if required:
            raise AlertContractError(f"alert field '{key}' is required")
        return None
    if not isinstance(value, str):
        raise AlertContractError(f"alert field '{key}' must be a string, got {type(value).__name__}")
    limit = _MAX_LEN.get(key, _DEFAULT_MAX_LEN)
    if len(value) > limit:
        raise AlertContractError(f"alert field '{key}' is {len(value)} characters; at most {limit} allowed")
    if required and not value.strip():
        raise AlertContractError(f"alert field '{key}' must not be empty")
    return value


def parse_alert(payload: Any) -> DagsterAlert:
    """Validate a decoded JSON payload and return the alert, or raise AlertContractError."""
    if not isinstance(payload, Mapping):
        raise AlertContractError(f"alert must be a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - _ALLOWED)
    if unknown:
        raise AlertContractError(
            f"alert has unknown field(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(_ALLOWED))}"
        )
    if payload.get("schema") != SCHEMA_ID:
        raise AlertContractError(f"alert field 'schema' must be '{SCHEMA_ID}', got {payload.get('schema')!r}")
    kind = _string(payload, "kind", required=True)
    if kind not in ALERT_KINDS:
        raise AlertContractError(f"alert field 'kind' is {kind!r}; allowed: {', '.join(ALERT_KINDS)}")
    severity = _string(payload, "severity", required=True)
    if severity not in SEVERITIES:
        raise AlertContractError(f"alert field 'severity' is {severity!r}; allowed: {', '.join(SEVERITIES)}")
    title = _string(payload, "title", required=True)
    occurred_at = _string(payload, "occurred_at", required=True)
    try:
        parsed_time = datetime.fromisoformat(occurred_at)  # type: ignore[arg-type]
    except ValueError as exc:
        raise AlertContractError(f"alert field 'occurred_at' is not ISO 8601: {occurred_at!r}") from exc
    if parsed_time.tzinfo is None:
        raise AlertContractError("alert field 'occurred_at' must include a UTC offset")
    optional = {key: _string(payload, key, required=False) for key in _OPTIONAL_STR}

    links_raw = payload.get("links", [])
    if not isinstance(links_raw, list):
        raise AlertContractError("alert field 'links' must be a list of {label, url} objects")
    links = []
    for index, item in enumerate(links_raw):
        if not (isinstance(item, Mapping) and isinstance(item.get("label"), str) and isinstance(item.get("url"), str)):
            raise AlertContractError(f"alert field 'links[{index}]' must be an object with string 'label' and 'url'")
        if not item["url"].startswith(("https://", "http://")):
            raise AlertContractError(f"alert field 'links[{index}].url' must be an http(s) URL")
        links.append(Link(label=item["label"][:200], url=item["url"][:2000]))

    tags_raw = payload.get("tags", {})
    if not isinstance(tags_raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags_raw.items()
    ):
        raise AlertContractError("alert field 'tags' must be an object of string values")

    lateness = payload.get("lateness_seconds")
    if lateness is not None:
        if isinstance(lateness, bool) or not isinstance(lateness, (int, float)) or lateness < 0 or lateness != lateness:
            raise AlertContractError("alert field 'lateness_seconds' must be a number >= 0")
        lateness = float(lateness)
    if kind == "freshness" and lateness is None:
        raise AlertContractError("alert of kind 'freshness' needs 'lateness_seconds' (0 when fresh)")
    if kind == "freshness" and not optional["asset_key"]:
        raise AlertContractError("alert of kind 'freshness' needs 'asset_key'")

    return DagsterAlert(
        kind=kind,
        severity=severity,
        title=title,  # type: ignore[arg-type]
        occurred_at=occurred_at,  # type: ignore[arg-type]
        details=optional.pop("details") or "",
        links=tuple(links),
        tags=dict(tags_raw),
        lateness_seconds=lateness,
        **optional,
    )


def alert_team(alert: DagsterAlert) -> str | None:
    """The team an alert names: its ``team`` field, else its ``alert_team`` tag."""
    return alert.team or alert.tags.get("alert_team")
