"""Build contract alerts (``alert_contract.DagsterAlert``) from Dagster runs, checks and assets.

Context from the environment (Dagster+ sets the first two in every code server and run task;
the platform's container context sets the ``DAGSTER_PLATFORM_*`` ones):

* ``DAGSTER_CLOUD_DEPLOYMENT_NAME``: the deployment, e.g. ``prod``;
* ``DAGSTER_CLOUD_LOCATION_NAME`` (else ``DAGSTER_PLATFORM_LOCATION``): the code location;
* ``DAGSTER_PLATFORM_DEFAULT_ALERT_TEAM``: the location's ``alert_team`` (else it is looked up in
  the active run policy's ``locations``);
* ``DAGSTER_PLATFORM_UI_URL`` (else ``DAGSTER_CLOUD_URL``): the organization's Dagster+ URL,
  e.g. ``https://acme.dagster.cloud``; links are ``<url>/<deployment>/runs/<run_id>`` and
  ``<url>/<deployment>/assets/<key>``. Without URL or deployment, alerts carry no links.

Team routing: the asset's ``alert_team`` tag (asset alerts), else the run's ``alert_team`` tag,
else the location's ``alert_team``, else none (the relay's default team).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, DagsterRun

from dagster_platform import limits
from dagster_platform.alert_contract import DagsterAlert, Link
from dagster_platform.freshness import LatenessEvaluation, freshness_check_lateness, is_freshness_check
from dagster_platform.policy import PolicyError, active_policy

ENV_DEPLOYMENT = "DAGSTER_CLOUD_DEPLOYMENT_NAME"
ENV_LOCATION = "DAGSTER_CLOUD_LOCATION_NAME"
ENV_PLATFORM_LOCATION = "DAGSTER_PLATFORM_LOCATION"
ENV_LOCATION_TEAM = "DAGSTER_PLATFORM_DEFAULT_ALERT_TEAM"
ENV_UI_URL = "DAGSTER_PLATFORM_UI_URL"
ENV_CLOUD_URL = "DAGSTER_CLOUD_URL"

MAX_DETAILS = 8000
MAX_TITLE = 300

_CHECK_SEVERITY = {AssetCheckSeverity.ERROR: "error", AssetCheckSeverity.WARN: "warning"}
_FRESHNESS_SEVERITY = {"FAIL": "error", "WARN": "warning", "PASS": "info"}


@dataclass(frozen=True)
class AlertEnvironment:
    deployment: str | None = None
    location: str | None = None
    ui_url: str | None = None
    location_team: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AlertEnvironment:
        env = os.environ if environ is None else environ
        location = env.get(ENV_LOCATION) or env.get(ENV_PLATFORM_LOCATION) or None
        return cls(
            deployment=env.get(ENV_DEPLOYMENT) or None,
            location=location,
            ui_url=(env.get(ENV_UI_URL) or env.get(ENV_CLOUD_URL) or "").rstrip("/") or None,
            location_team=env.get(ENV_LOCATION_TEAM) or _location_team(location, env),
        )

    def for_run(self, run: DagsterRun) -> AlertEnvironment:
        """Fill the location from the run's origin when the environment does not name it."""
        if self.location or run.remote_job_origin is None:
            return self
        location = run.remote_job_origin.location_name
        return AlertEnvironment(
            self.deployment, location, self.ui_url, self.location_team or _location_team(location)
        )

    def run_links(self, run_id: str) -> tuple[Link, ...]:
        if not (self.ui_url and self.deployment):
            return ()
        return (Link("Run", f"{self.ui_url}/{quote(self.deployment)}/runs/{quote(run_id)}"),)

    def asset_links(self, asset_key: AssetKey) -> tuple[Link, ...]:
        if not (self.ui_url and self.deployment):
            return ()
        path = "/".join(quote(part, safe="") for part in asset_key.path)
        return (Link("Asset", f"{self.ui_url}/{quote(self.deployment)}/assets/{path}"),)


def _location_team(location: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    if not location:
        return None
    try:
        policy = active_policy(environ)
    except PolicyError:
        return None  # routing falls back to the relay's default; the tag helpers report the policy error
    defaults = policy.locations.get(location)
    return defaults.alert_team if defaults else None


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


#: Run tags ride along for routing and context, bounded so that no run can make an alert too large
#: for the queue (which would fail every tick: the sensor's cursor would never pass it).
MAX_TAGS = 100
MAX_TAG_VALUE = 1024


def _string_tags(tags: Mapping[str, object]) -> dict[str, str]:
    items = sorted((str(k), str(v)) for k, v in tags.items())
    items.sort(key=lambda item: item[0] != limits.TAG_ALERT_TEAM)  # routing first, kept whatever the count
    return {key[:MAX_TAG_VALUE]: _truncate(value, MAX_TAG_VALUE) for key, value in items[:MAX_TAGS]}


def _team(env: AlertEnvironment, run_tags: Mapping[str, str], asset_team: str | None = None) -> str | None:
    return asset_team or run_tags.get(limits.TAG_ALERT_TEAM) or env.location_team


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_failure_alert(
    run: DagsterRun,
    *,
    occurred_at: float,
    reasons: Iterable[str],
    env: AlertEnvironment,
    attempts: int = 1,
    preface: Iterable[str] = (),
) -> DagsterAlert:
    """``attempts``: runs of the retry chain this (last) run ends, for the title; ``preface``:
    lines before the failure reasons (which attempt, why it is sent before a retry)."""
    details = "\n".join(line for line in (*preface, *reasons) if line)
    outcome = f"failed after {attempts} attempts" if attempts > 1 else "failed"
    return run_alert(run, "run_failure", "error", outcome, occurred_at=occurred_at, details=details, env=env)


def run_success_alert(run: DagsterRun, *, occurred_at: float, env: AlertEnvironment) -> DagsterAlert:
    return run_alert(run, "run_success", "info", "succeeded", occurred_at=occurred_at, details="", env=env)


def run_alert(
    run: DagsterRun,
    kind: str,
    severity: str,
    outcome: str,
    *,
    occurred_at: float,
    details: str,
    env: AlertEnvironment,
    team: str | None = None,
    dedup_key: str | None = None,
) -> DagsterAlert:
    """The alert about one run, titled "Run of <job> <outcome>".

    ``team`` replaces the run's ``alert_team`` tag (a caller that has judged the tag);
    ``dedup_key`` replaces ``<kind>:<run id>``.
    """
    env = env.for_run(run)
    tags = _string_tags(run.tags)
    return DagsterAlert(
        kind=kind,
        severity=severity,
        title=_truncate(f"Run of {run.job_name} {outcome}", MAX_TITLE),
        occurred_at=iso(occurred_at),
        team=team or _team(env, tags),
        details=_truncate(details, MAX_DETAILS),
        dedup_key=dedup_key or f"{kind}:{run.run_id}",
        links=env.run_links(run.run_id),
        deployment=env.deployment,
        location=env.location,
        job=run.job_name,
        run_id=run.run_id,
        tags=tags,
    )


def asset_check_alert(
    evaluation: AssetCheckEvaluation,
    *,
    storage_id: int,
    evaluated_at: float,
    run: DagsterRun | None,
    asset_team: str | None,
    env: AlertEnvironment,
) -> DagsterAlert | None:
    """A ``freshness`` alert for every freshness-check evaluation (passing ones report lateness 0,
    so the relay sees recoveries), an ``asset_check_failure`` for other failed checks, else None.
    A failed freshness check on a never-updated asset has no lateness: it is a check failure."""
    if run is not None:
        env = env.for_run(run)
    tags = _string_tags(run.tags) if run is not None else {}
    asset = evaluation.asset_key.to_user_string()
    check = evaluation.check_name
    links = (env.run_links(run.run_id) if run is not None else ()) + env.asset_links(evaluation.asset_key)
    check_severity = _CHECK_SEVERITY.get(evaluation.severity, "error")

    def alert(kind: str, severity: str, title: str, lateness: float | None = None) -> DagsterAlert:
        return DagsterAlert(
            kind=kind,
            severity=severity,
            title=_truncate(title, MAX_TITLE),
            occurred_at=iso(evaluated_at),
            team=_team(env, tags, asset_team),
            details=_truncate(evaluation.description or "", MAX_DETAILS),
            dedup_key=f"{kind}:{asset}:{check}:{storage_id}",
            links=links,
            deployment=env.deployment,
            location=env.location,
            job=run.job_name if run is not None else None,
            run_id=run.run_id if run is not None else None,
            asset_key=asset,
            tags=tags,
            lateness_seconds=lateness,
        )

    if is_freshness_check(evaluation):
        lateness = freshness_check_lateness(evaluation, evaluated_at)
        if lateness is not None:
            if evaluation.passed:
                return alert("freshness", "info", f"{asset} is fresh (check {check})", lateness)
            return alert(
                "freshness",
                check_severity,
                f"{asset} is late by {_minutes(lateness)} (check {check})",
                lateness,
            )
    if evaluation.passed:
        return None
    return alert("asset_check_failure", check_severity, f"Asset check {check} on {asset} failed")


def freshness_policy_alert(
    asset_key: AssetKey,
    evaluation: LatenessEvaluation,
    *,
    evaluated_at: float,
    episode: str,
    asset_team: str | None,
    env: AlertEnvironment,
) -> DagsterAlert:
    """One evaluation of an asset's ``FreshnessPolicy``; ``episode`` names the lateness episode
    (the last materialization it is measured from), so a recovery shares its late alerts' key."""
    asset = asset_key.to_user_string()
    state = evaluation.state.value
    title = (
        f"{asset} is late by {_minutes(evaluation.lateness_seconds)}"
        if state == "FAIL"
        else f"{asset} is fresh"
    )
    if state == "WARN":
        title = f"{asset} is close to its freshness deadline"
    return DagsterAlert(
        kind="freshness",
        severity=_FRESHNESS_SEVERITY[state],
        title=_truncate(f"{title} (FreshnessPolicy)", MAX_TITLE),
        occurred_at=iso(evaluated_at),
        team=_team(env, {}, asset_team),
        details=_truncate(evaluation.explanation, MAX_DETAILS),
        dedup_key=f"freshness:{asset}:policy:{episode}",
        links=env.asset_links(asset_key),
        deployment=env.deployment,
        location=env.location,
        asset_key=asset,
        lateness_seconds=evaluation.lateness_seconds,
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"
