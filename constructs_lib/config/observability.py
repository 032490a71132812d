"""Compute-log storage, log forwarding, alert routing and health alarm settings."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from dagster_platform.policy import DEFAULT_JOB_FAILURE_ALERTS, JOB_FAILURE_ALERT_PATHS

from .aws_models import member_limits, shape_limits
from .errors import ABSENT, FieldProblem, raise_problems
from .filter_pattern import FilterPatternError, check_filter_pattern
from .types import Email, Name, RetentionDays, SecretName, StrictModel, int_between, matching


def _https_url(value: str) -> str:
    limit = shape_limits("firehose", "HttpEndpointUrl")["max"]
    if not re.fullmatch(r"https://[^\s/]+[^\s]*", value):
        raise ValueError("must be an https:// URL")
    if len(value) > limit:
        raise ValueError(f"a Firehose endpoint URL may have at most {limit} characters, this has {len(value)}")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
HostedZoneId = matching(r"Z[A-Z0-9]{1,31}", "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
DomainName = matching(r"([a-z0-9-]+\.)+[a-z]{2,}", "a domain name such as example.com")


class ComputeLogSettings(StrictModel):
    """S3 bucket for stdout/stderr of runs (Dagster's S3ComputeLogManager)."""

    encryption: Literal["kms", "s3_managed"] = "kms"
    expiration_days: int_between(1, 3650) = 30
    versioned: bool = False
    noncurrent_version_expiration_days: int_between(1, 365) = 7
    prefix: str = Field(default="compute-logs", pattern=r"^[a-z0-9][a-z0-9/_-]{0,100}[a-z0-9]$")
    show_url_only: bool = False
    upload_interval_seconds: int_between(5, 3600) | None = 30
    access_logging: bool = True


def _firehose_bounds(shape: str, member: str) -> tuple[int, int]:
    """A Firehose buffering bound from its API model (each destination has its own shape)."""
    limits = member_limits("firehose", shape, member)
    return limits["min"], limits["max"]


class Buffering(StrictModel):
    """Firehose buffering toward S3 (``BufferingHints``): flushes at whichever comes first."""

    interval_seconds: int_between(*_firehose_bounds("BufferingHints", "IntervalInSeconds")) = 300
    size_mib: int_between(*_firehose_bounds("BufferingHints", "SizeInMBs")) = 5


class HttpEndpointBuffering(StrictModel):
    """Firehose buffering toward an HTTP endpoint (``HttpEndpointBufferingHints``: smaller bounds)."""

    interval_seconds: int_between(*_firehose_bounds("HttpEndpointBufferingHints", "IntervalInSeconds")) = 60
    size_mib: int_between(*_firehose_bounds("HttpEndpointBufferingHints", "SizeInMBs")) = 1


class ArchiveDestination(StrictModel):
    """Forwarded logs archived in S3, gzip-compressed, under date-partitioned prefixes."""

    expiration_days: int_between(1, 3650) = 400
    buffering: Buffering = Buffering()


class HttpEndpointDestination(StrictModel):
    """Any Firehose HTTP endpoint (Datadog, New Relic, Splunk, ...); API key from Secrets Manager."""

    name: Name
    url: HttpsUrl
    api_key_secret: SecretName
    buffering: HttpEndpointBuffering = HttpEndpointBuffering()
    retry_seconds: int_between(*_firehose_bounds("HttpEndpointRetryOptions", "DurationInSeconds")) = 300


def _valid_filter_pattern(value: str) -> str:
    try:
        check_filter_pattern(value)
    except FilterPatternError as error:
        raise ValueError(f"not a CloudWatch Logs filter pattern: {error}") from None
    return value


class LogGroupForwarding(StrictModel):
    enabled: bool = True
    #: CloudWatch Logs filter pattern (checked with the documented syntax); empty forwards everything.
    filter_pattern: Annotated[str, AfterValidator(_valid_filter_pattern)] = ""


class LogForwardingSettings(StrictModel):
    archive: ArchiveDestination | None = ArchiveDestination()
    http_endpoint: HttpEndpointDestination | None = None
    agent: LogGroupForwarding = LogGroupForwarding()
    #: Code servers and runs share one group: Dagster's ECS launcher takes a single ``log_group``.
    workloads: LogGroupForwarding = LogGroupForwarding()

    @model_validator(mode="after")
    def _has_destination(self) -> LogForwardingSettings:
        if self.archive is None and self.http_endpoint is None:
            raise_problems([FieldProblem("archive", None, "log forwarding needs a destination: archive, http_endpoint or both")])
        return self


class LoggingSettings(StrictModel):
    """The workload log group of code servers and runs (streams ``server_*`` and ``dagsterrun_*``;
    the agent's own retention is under ``agent``), its encryption and forwarding."""

    workload_retention_days: RetentionDays = 30
    kms: bool = False
    #: Expected log volume per month; the review report's cost estimate is based on it.
    estimated_gib_per_month: float = Field(default=10.0, ge=0, le=100000)
    forwarding: LogForwardingSettings | None = None


class TeamRoute(StrictModel):
    """Where one team's alerts go. Webhook URLs live in Secrets Manager, named here."""

    email: tuple[Email, ...] = ()
    slack_webhook_secret: SecretName | None = None
    teams_webhook_secret: SecretName | None = None
    sla_lateness_minutes: int_between(1, 1440) = 5

    @model_validator(mode="after")
    def _has_destination(self) -> TeamRoute:
        if not (self.email or self.slack_webhook_secret or self.teams_webhook_secret):
            raise_problems([FieldProblem(
                "", ABSENT, "a team needs at least one destination: email, slack_webhook_secret or teams_webhook_secret"
            )])
        return self


class EmailIdentity(StrictModel):
    """SES identity the relay sends from: a whole domain (Easy DKIM) or one address."""

    domain: DomainName | None = None
    hosted_zone_id: HostedZoneId | None = None
    address: Email | None = None
    sender: Email

    @model_validator(mode="after")
    def _one_identity(self) -> EmailIdentity:
        problems = []
        if bool(self.domain) == bool(self.address):
            problems.append(FieldProblem("", ABSENT, "give exactly one of domain (with optional hosted_zone_id) or address"))
        if self.hosted_zone_id and not self.domain:
            problems.append(FieldProblem("hosted_zone_id", self.hosted_zone_id, "applies only to a domain identity"))
        if self.domain and not self.sender.endswith("@" + self.domain):
            problems.append(FieldProblem("sender", self.sender, f"must be an address of the domain {self.domain}"))
        if self.address and self.sender != self.address:
            problems.append(FieldProblem("sender", self.sender, f"with an address identity, sender must be that address ({self.address})"))
        raise_problems(problems)
        return self


class DagsterCloudAlertPolicies(StrictModel):
    """Dagster+ native alert policies rendered for ``dagster-cloud deployment alert-policies sync``."""

    agent_unavailable: bool = True
    code_location_error: bool = True
    run_failure_by_team: bool = True


class AlertingSettings(StrictModel):
    default_team: Name
    teams: dict[Name, TeamRoute]
    email: EmailIdentity | None = None
    dedup_window_seconds: int_between(0, 86400) = 900
    max_receive_count: int_between(1, 50) = 5
    ecs_task_alerts: bool = True
    webhook: bool = False
    dagster_cloud_policies: DagsterCloudAlertPolicies = DagsterCloudAlertPolicies()
    #: Who alerts a team when its job fails: ``relay`` (the code locations' run-failure sensor,
    #: once per failure after the last retry, routed like every other platform alert) or
    #: ``dagster_plus`` (Dagster+ JOB_FAILURE policies per team; the sensor then stays silent).
    job_failure_alerts: Literal[JOB_FAILURE_ALERT_PATHS] = DEFAULT_JOB_FAILURE_ALERTS  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _routes_are_complete(self) -> AlertingSettings:
        problems = []
        if self.default_team not in self.teams:
            problems.append(FieldProblem(
                "default_team", self.default_team, f"not a team in alerting.teams ({', '.join(sorted(self.teams))})"
            ))
        emails = [name for name, route in self.teams.items() if route.email]
        if emails and self.email is None:
            problems.append(FieldProblem(
                "email", ABSENT, f"required: teams {', '.join(emails)} receive email, so the SES identity must be set"
            ))
        if self.job_failure_alerts == "dagster_plus":
            # Dagster+ policies rendered here email each team: nobody may be left without job-failure alerts
            if not self.dagster_cloud_policies.run_failure_by_team:
                problems.append(FieldProblem(
                    "job_failure_alerts", self.job_failure_alerts,
                    "'dagster_plus' needs dagster_cloud_policies.run_failure_by_team: true "
                    "(else no one is alerted of job failures); or choose 'relay'",
                ))
            silent = sorted(name for name, route in self.teams.items() if not route.email)
            if silent:
                problems.append(FieldProblem(
                    "job_failure_alerts", self.job_failure_alerts,
                    f"'dagster_plus' emails each team, but teams {', '.join(silent)} have no email; "
                    "give them email or choose 'relay' (Slack and Teams webhooks)",
                ))
        raise_problems(problems)
        return self


class HealthSettings(StrictModel):
    """Thresholds of the platform health alarms; each alarm notifies the platform team."""

    agent_missing_minutes: int_between(1, 60) = 5
    agent_stopped_tasks_per_hour: int_between(1, 100) = 3
    agent_cpu_percent: int_between(10, 100) = 85
    agent_memory_percent: int_between(10, 100) = 85
    relay_errors: int_between(1, 1000) = 1
    dlq_messages: int_between(1, 1000) = 1
    ses_bounce_rate_percent: float = Field(default=5.0, gt=0, le=100)
    ses_complaint_rate_percent: float = Field(default=0.1, gt=0, le=100)
