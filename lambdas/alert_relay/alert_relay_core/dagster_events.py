"""Parsers for alerts from Dagster: the platform alert contract and the Dagster+ webhook wrapper.

The contract lives in ``dagster_platform.alert_contract`` (shipped next to this package in the
Lambda asset); this module only maps a validated contract alert into the relay's model.

Dagster+ webhook bodies are free-form JSON that an alert policy's template defines. The
recommended template is a contract alert (``"schema": "dagster-platform/alert@1"`` plus the
contract fields), which the relay validates like a direct publish. Any other JSON object is
mapped best-effort from common field names (``title``/``summary``/``text``,
``details``/``description``, ``severity``, ``team``/``alert_team``/``tags.alert_team``,
``url``/``run_url``, ``dedup_key``/``alert_id``/``id``), and every field it does not map is
kept in the details so nothing is lost. A non-JSON body is relayed as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dagster_platform.alert_contract import DagsterAlert, alert_team, parse_alert

from . import fields
from .alerts import (
    KIND_FRESHNESS,
    SEVERITIES,
    SOURCE_DAGSTER,
    SOURCE_DAGSTER_CLOUD_WEBHOOK,
    AlertLink,
    FreshnessEvaluation,
    ParsedAlert,
    content_dedup_key,
    normalize_timestamp,
    stable_dedup_key,
    truncate,
)

_WEBHOOK_KIND = "dagster_cloud_alert"
_TITLE_KEYS = ("title", "summary", "alert_summary", "text", "message", "subject")
_DETAIL_KEYS = ("details", "description", "alert_content", "content", "body")
_TEAM_KEYS = ("team", "alert_team")
# Field -> the label people see on the link.
_LINK_KEYS = (
    ("url", "Open in Dagster+"),
    ("alert_url", "Open the alert in Dagster+"),
    ("run_url", "Open the run in Dagster+"),
    ("dagster_url", "Open in Dagster+"),
    ("link", "Open link"),
)
_DEDUP_KEYS = ("dedup_key", "alert_id", "id")
_TIME_KEYS = ("occurred_at", "timestamp", "time")
_FACT_KEYS = (
    ("Deployment", ("deployment", "deployment_name")),
    ("Code location", ("location", "location_name", "code_location")),
    ("Job", ("job", "job_name")),
    ("Run ID", ("run_id",)),
    ("Asset", ("asset_key",)),
    ("Event type", ("event_type", "kind", "alert_type")),
    ("Alert policy", ("alert_policy_name", "policy_name")),
)
_MAX_EXTRA_JSON_CHARS = 4000


def is_contract_alert(payload: Mapping[str, Any]) -> bool:
    """Whether the payload claims to be a contract alert; it is then validated strictly."""
    return "schema" in payload


def parse_contract_alert(payload: Mapping[str, Any], *, source: str = SOURCE_DAGSTER) -> ParsedAlert:
    """Validate against the alert contract (raises AlertContractError) and map it."""
    alert = parse_alert(payload)
    freshness = None
    if alert.kind == KIND_FRESHNESS:
        freshness = FreshnessEvaluation(
            deployment=alert.deployment or "",
            asset_key=alert.asset_key or "",
            lateness_seconds=float(alert.lateness_seconds or 0.0),
        )
    return ParsedAlert(
        source=source,
        kind=alert.kind,
        severity=alert.severity,
        title=alert.title,
        details=alert.details,
        dedup_key=_contract_dedup_key(alert, payload),
        occurred_at=normalize_timestamp(alert.occurred_at, alert.occurred_at),
        links=tuple(AlertLink(link.label, link.url) for link in alert.links),
        facts=_contract_facts(alert),
        requested_team=alert_team(alert),
        freshness=freshness,
    )


def _contract_dedup_key(alert: DagsterAlert, payload: Mapping[str, Any]) -> str:
    if alert.dedup_key:
        return stable_dedup_key("dagster", alert.dedup_key)
    if alert.run_id:
        return stable_dedup_key("dagster", alert.kind, alert.run_id, alert.asset_key or "")
    return content_dedup_key("dagster", json.dumps(payload, sort_keys=True, default=str))


def _contract_facts(alert: DagsterAlert) -> tuple[tuple[str, str], ...]:
    facts = [
        ("Deployment", alert.deployment),
        ("Code location", alert.location),
        ("Job", alert.job),
        ("Run ID", alert.run_id),
        ("Asset", alert.asset_key),
    ]
    if alert.lateness_seconds is not None:
        facts.append(("Lateness", f"{alert.lateness_seconds / 60:.1f} min"))
    return tuple((label, value) for label, value in facts if value)


def parse_dagster_cloud_webhook(wrapper: Mapping[str, Any], *, fallback_time: str) -> ParsedAlert:
    """The ``{"source": "dagster_cloud_webhook", "received_at", "body"}`` message that the
    webhook Lambda enqueues."""
    received_at = normalize_timestamp(wrapper.get("received_at"), fallback_time)
    body = wrapper.get("body")
    if isinstance(body, Mapping) and is_contract_alert(body):
        return parse_contract_alert(body, source=SOURCE_DAGSTER_CLOUD_WEBHOOK)
    if isinstance(body, Mapping):
        return _free_form_webhook(body, received_at)
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return ParsedAlert(
        source=SOURCE_DAGSTER_CLOUD_WEBHOOK,
        kind=_WEBHOOK_KIND,
        severity="error",
        title=truncate(f"Dagster+ alert: {first_line}" if first_line else "Dagster+ alert (empty body)", 300),
        details=truncate(text, 8000),
        dedup_key=content_dedup_key("dagster_cloud", text),
        occurred_at=received_at,
    )


def _free_form_webhook(body: Mapping[str, Any], received_at: str) -> ParsedAlert:
    used: set[str] = set()

    def pick(keys: tuple[str, ...]) -> str | None:
        for key in keys:
            value = fields.text(body, key)
            if value is not None:
                used.add(key)
                return value
        return None

    title = pick(_TITLE_KEYS) or "Dagster+ alert"
    details = pick(_DETAIL_KEYS) or ""
    severity_value = pick(("severity",))
    severity = severity_value.lower() if severity_value and severity_value.lower() in SEVERITIES else "error"
    team = pick(_TEAM_KEYS) or fields.text(fields.mapping(body, "tags"), "alert_team")
    links = []
    for key, label in _LINK_KEYS:
        url = fields.text(body, key)
        if url and url.startswith(("https://", "http://")):
            used.add(key)
            links.append(AlertLink(label, url[:2000]))
    facts = []
    for label, keys in _FACT_KEYS:
        value = pick(keys)
        if value:
            facts.append((label, truncate(value, 300)))
    dedup_value = pick(_DEDUP_KEYS)
    occurred_at = normalize_timestamp(pick(_TIME_KEYS), received_at)

    extra = {key: value for key, value in body.items() if key not in used}
    if extra:
        extra_json = truncate(json.dumps(extra, indent=2, sort_keys=True, default=str), _MAX_EXTRA_JSON_CHARS)
        details = f"{details}\n\nOther fields:\n{extra_json}".strip()
    canonical = json.dumps(body, sort_keys=True, default=str)
    return ParsedAlert(
        source=SOURCE_DAGSTER_CLOUD_WEBHOOK,
        kind=_WEBHOOK_KIND,
        severity=severity,
        title=truncate(title, 300),
        details=truncate(details, 8000),
        dedup_key=stable_dedup_key("dagster_cloud", dedup_value)
        if dedup_value
        else content_dedup_key("dagster_cloud", canonical),
        occurred_at=occurred_at,
        links=tuple(links),
        facts=tuple(facts),
        requested_team=team,
    )
