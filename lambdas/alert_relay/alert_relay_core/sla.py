"""Turn a freshness SLA crossing into the alert that is sent (one on breach, one on recovery)."""

from __future__ import annotations

from dataclasses import replace

from .alerts import NormalizedAlert, stable_dedup_key
from .state import BREACH, SlaDecision


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def sla_crossing_alert(alert: NormalizedAlert, decision: SlaDecision, message_id: str) -> NormalizedAlert:
    if alert.freshness is None or decision.transition is None:
        raise ValueError("sla_crossing_alert needs a freshness alert and a crossing")
    asset = alert.freshness.asset_key
    lateness = _minutes(decision.lateness_seconds)
    threshold = _minutes(decision.threshold_seconds)
    if decision.transition == BREACH:
        title = f"Freshness SLA breached: {asset} is {lateness} late (threshold {threshold})"
        severity = alert.severity if alert.severity != "info" else "warning"
        summary = (
            f"Asset {asset} in deployment {alert.freshness.deployment} is {lateness} late, at or above the "
            f"team's SLA threshold of {threshold}. You get one message now and one when it is fresh again."
        )
    else:
        title = f"Freshness SLA recovered: {asset} is within {threshold} again"
        severity = "info"
        summary = (
            f"Asset {asset} in deployment {alert.freshness.deployment} is back within the SLA (lateness {lateness})."
        )
    details = "\n\n".join(part for part in (summary, alert.details) if part)
    facts = (
        *(fact for fact in alert.facts if fact[0] != "Lateness"),
        ("Lateness", lateness),
        ("SLA threshold", threshold),
    )
    return replace(
        alert,
        kind=f"freshness_sla_{decision.transition}",
        severity=severity,
        title=title,
        details=details,
        facts=facts,
        dedup_key=stable_dedup_key("sla", alert.freshness.deployment, asset, decision.transition, message_id),
    )
