"""The run policy: per-environment caps and defaults the CDK app renders for Dagster code.

The CDK app writes one file per environment at synth, ``cdk.out/dagster/<env>/run_policy.json``
(format: ``RUN_POLICY_JSON_SCHEMA`` below). This module loads and validates it; the tag helpers,
the checker, ``explain`` and the alert sensors read it. Standard library only: the CDK app
imports it to render the same structure it is validated against.

At runtime the active policy comes from, in order: an explicit ``policy=`` argument, a policy
installed with :func:`using_policy` (the checker does this while it imports user code), the JSON
file named by ``DAGSTER_PLATFORM_RUN_POLICY``, inline JSON in ``DAGSTER_PLATFORM_RUN_POLICY_JSON``,
else :func:`default_policy` (Fargate matrix and the hard bounds of ``limits``; no teams required).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_platform import fargate, limits

SCHEMA_VERSION = 1
ENV_POLICY_PATH = "DAGSTER_PLATFORM_RUN_POLICY"
ENV_POLICY_JSON = "DAGSTER_PLATFORM_RUN_POLICY_JSON"
DEFAULT_POLICY_SOURCE = "<built-in default policy>"
#: Who alerts a team when one of its jobs fails (``alerting.job_failure_alerts`` in the environment
#: file): the platform's relay (the ``platform_alerts_run_failure`` sensor) or Dagster+'s own
#: JOB_FAILURE alert policies. Exactly one path per event, so a team is never emailed twice.
JOB_FAILURE_ALERT_PATHS = ("relay", "dagster_plus")
DEFAULT_JOB_FAILURE_ALERTS = "relay"

_MAX_FARGATE_CPU = max(fargate.FARGATE_TASK_SIZES)
_MAX_FARGATE_MEMORY = max(max(sizes) for sizes in fargate.FARGATE_TASK_SIZES.values())
_MIN_FARGATE_MEMORY = min(min(sizes) for sizes in fargate.FARGATE_TASK_SIZES.values())


class PolicyError(ValueError):
    """The run policy file is missing or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class ResourceLimits:
    max_cpu: int
    max_memory_mib: int
    max_ephemeral_storage_gib: int


@dataclass(frozen=True)
class RetryLimits:
    max_run_retries: int
    max_op_retries: int
    strategies: tuple[str, ...]


@dataclass(frozen=True)
class PriorityRange:
    min: int
    max: int


@dataclass(frozen=True)
class TaskSize:
    cpu: int
    memory: int
    ephemeral_storage_gib: int | None = None


@dataclass(frozen=True)
class LocationDefaults:
    """A code location's sizes and alert team, as the platform deploys it."""

    name: str
    server: TaskSize
    run: TaskSize
    alert_team: str | None = None


@dataclass(frozen=True)
class DeploymentRunRetries:
    """Dagster+ deployment setting ``run_retries``: applies to every job without its own tag."""

    max_retries: int
    retry_on_asset_or_op_failure: bool = True


@dataclass(frozen=True)
class DeploymentSettings:
    run_retries: DeploymentRunRetries | None = None
    #: Other Dagster+ deployment settings, kept verbatim (the platform applies them; we only read).
    other: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EcsOverrideAllowances:
    """What ``ecs/task_overrides`` and ``ecs/run_task_kwargs`` tags may name: only roles, subnets
    and security groups this platform created or was given (empty: no such override is allowed,
    the launcher's defaults, which are the platform's own, apply)."""

    role_arns: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunPolicy:
    environment: str
    limits: ResourceLimits
    retries: RetryLimits
    priority: PriorityRange
    alert_teams: tuple[str, ...] = ()
    default_alert_team: str | None = None
    required_tags: tuple[str, ...] = ()
    deployment_settings: DeploymentSettings = field(default_factory=DeploymentSettings)
    locations: Mapping[str, LocationDefaults] = field(default_factory=dict)
    job_failure_alerts: str = DEFAULT_JOB_FAILURE_ALERTS
    ecs_overrides: EcsOverrideAllowances = field(default_factory=EcsOverrideAllowances)
    schema_version: int = SCHEMA_VERSION
    #: Where the policy came from (a path, or DEFAULT_POLICY_SOURCE); used in error messages.
    source: str = DEFAULT_POLICY_SOURCE

    @property
    def label(self) -> str:
        """How messages name this policy, e.g. ``prod policy``."""
        return f"{self.environment} policy"

    def location(self, name: str) -> LocationDefaults:
        try:
            return self.locations[name]
        except KeyError:
            known = ", ".join(sorted(self.locations)) or "none"
            raise PolicyError(
                f"{self.source}: unknown location {name!r}; the {self.label} defines: {known}"
            ) from None

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> RunPolicy:
        return _PolicyParser(source).parse(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form; ``RunPolicy.from_dict(p.to_dict())`` equals ``p`` (but for source)."""
        deployment: dict[str, Any] = dict(self.deployment_settings.other)
        if self.deployment_settings.run_retries is not None:
            deployment["run_retries"] = {
                "max_retries": self.deployment_settings.run_retries.max_retries,
                "retry_on_asset_or_op_failure": (
                    self.deployment_settings.run_retries.retry_on_asset_or_op_failure
                ),
            }
        return {
            "schema_version": self.schema_version,
            "environment": self.environment,
            "limits": {
                "max_cpu": self.limits.max_cpu,
                "max_memory_mib": self.limits.max_memory_mib,
                "max_ephemeral_storage_gib": self.limits.max_ephemeral_storage_gib,
            },
            "retries": {
                "max_run_retries": self.retries.max_run_retries,
                "max_op_retries": self.retries.max_op_retries,
                "strategies": list(self.retries.strategies),
            },
            "priority": {"min": self.priority.min, "max": self.priority.max},
            "alert_teams": list(self.alert_teams),
            "default_alert_team": self.default_alert_team,
            "required_tags": list(self.required_tags),
            "deployment_settings": deployment,
            "locations": {name: _location_to_dict(loc) for name, loc in self.locations.items()},
            "alerting": {"job_failure_alerts": self.job_failure_alerts},
            "ecs_overrides": {
                "role_arns": list(self.ecs_overrides.role_arns),
                "subnets": list(self.ecs_overrides.subnets),
                "security_groups": list(self.ecs_overrides.security_groups),
            },
        }

    # --- run concurrency, as the Dagster+ deployment settings define it ---------------------------

    @property
    def concurrency(self) -> Mapping[str, Any]:
        """``deployment_settings.concurrency`` (``runs`` and ``pools``), or empty."""
        value = self.deployment_settings.other.get("concurrency")
        return value if isinstance(value, Mapping) else {}

    @property
    def pool_default_limit(self) -> int | None:
        """``concurrency.pools.default_limit``: the limit every pool gets in this deployment."""
        pools = self.concurrency.get("pools")
        limit = pools.get("default_limit") if isinstance(pools, Mapping) else None
        return limit if isinstance(limit, int) and not isinstance(limit, bool) else None

    @property
    def tag_concurrency_limits(self) -> tuple[Mapping[str, Any], ...]:
        runs = self.concurrency.get("runs")
        limits_ = runs.get("tag_concurrency_limits") if isinstance(runs, Mapping) else None
        return tuple(item for item in limits_ or () if isinstance(item, Mapping))

    @property
    def max_concurrent_runs(self) -> int | None:
        runs = self.concurrency.get("runs")
        value = runs.get("max_concurrent_runs") if isinstance(runs, Mapping) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def _task_size_to_dict(size: TaskSize) -> dict[str, int]:
    body = {"cpu": size.cpu, "memory": size.memory}
    if size.ephemeral_storage_gib is not None:
        body["ephemeral_storage_gib"] = size.ephemeral_storage_gib
    return body


def _location_to_dict(location: LocationDefaults) -> dict[str, Any]:
    body: dict[str, Any] = {
        "server": _task_size_to_dict(location.server),
        "run": _task_size_to_dict(location.run),
    }
    if location.alert_team is not None:
        body["alert_team"] = location.alert_team
    return body


def default_policy() -> RunPolicy:
    """The policy when none is configured: Fargate's matrix and the hard bounds of ``limits``."""
    return RunPolicy(
        environment="default",
        limits=ResourceLimits(
            max_cpu=_MAX_FARGATE_CPU,
            max_memory_mib=_MAX_FARGATE_MEMORY,
            max_ephemeral_storage_gib=fargate.EPHEMERAL_STORAGE_GIB[1],
        ),
        retries=RetryLimits(
            max_run_retries=limits.RUN_RETRIES_MAX,
            max_op_retries=limits.OP_RETRIES_MAX,
            strategies=limits.RETRY_STRATEGIES,
        ),
        priority=PriorityRange(*limits.PRIORITY_RANGE),
    )


def load_policy(path: str | os.PathLike[str]) -> RunPolicy:
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{source}: run policy file not found") from None
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read run policy file: {exc.strerror}") from None
    return loads_policy(text, source=source)


def loads_policy(text: str, *, source: str) -> RunPolicy:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return RunPolicy.from_dict(data, source=source)


# --- the policy in effect at runtime ------------------------------------------------------------

_override: contextvars.ContextVar[RunPolicy | None] = contextvars.ContextVar(
    "dagster_platform_policy_override", default=None
)


@contextlib.contextmanager
def using_policy(policy: RunPolicy) -> Iterator[RunPolicy]:
    """Make ``policy`` the active policy inside the block (the checker wraps user imports)."""
    token = _override.set(policy)
    try:
        yield policy
    finally:
        _override.reset(token)


def active_policy(environ: Mapping[str, str] | None = None) -> RunPolicy:
    """The policy the helpers and sensors apply when not given one explicitly."""
    override = _override.get()
    if override is not None:
        return override
    env = os.environ if environ is None else environ
    path = env.get(ENV_POLICY_PATH, "").strip()
    inline = env.get(ENV_POLICY_JSON, "").strip()
    if path and inline:
        raise PolicyError(f"both {ENV_POLICY_PATH} and {ENV_POLICY_JSON} are set; set only one of them")
    if path:
        return _cached_policy_file(path, _mtime(path))
    if inline:
        return _cached_inline_policy(inline)
    return _DEFAULT_POLICY


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None  # load_policy reports the missing file with its name


@functools.lru_cache(maxsize=8)
def _cached_policy_file(path: str, _mtime: float | None) -> RunPolicy:
    return load_policy(path)


@functools.lru_cache(maxsize=8)
def _cached_inline_policy(text: str) -> RunPolicy:
    return loads_policy(text, source=f"${ENV_POLICY_JSON}")


_DEFAULT_POLICY = default_policy()


# --- parsing ------------------------------------------------------------------------------------

_TEAM_NAME = re.compile(limits.TEAM_NAME_PATTERN)
_TOP_LEVEL_KEYS = (
    "schema_version",
    "environment",
    "limits",
    "retries",
    "priority",
    "alert_teams",
    "default_alert_team",
    "required_tags",
    "deployment_settings",
    "locations",
    "alerting",
    "ecs_overrides",
)


class _PolicyParser:
    """Validates a decoded policy; every error names the file and the dotted field path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: field '{path}' {problem}")

    def parse(self, data: Any) -> RunPolicy:
        root = self.object(data, "", required=_TOP_LEVEL_KEYS[:5], optional=_TOP_LEVEL_KEYS[5:])
        version = self.integer(root, "schema_version", "schema_version")
        if version != SCHEMA_VERSION:
            raise self.fail(
                "schema_version", f"is {version}; this dagster_platform reads version {SCHEMA_VERSION}"
            )
        environment = self.string(root, "environment", "environment")
        resource_limits = self.limits(root["limits"])
        retries = self.retries(root["retries"])
        priority = self.priority(root["priority"])
        teams = self.string_list(root.get("alert_teams", []), "alert_teams")
        for index, team in enumerate(teams):
            if not _TEAM_NAME.match(team):
                raise self.fail(
                    f"alert_teams[{index}]",
                    f"is {team!r}; team names must match {limits.TEAM_NAME_PATTERN}",
                )
        default_team = root.get("default_alert_team")
        if default_team is not None:
            default_team = self.string(root, "default_alert_team", "default_alert_team")
            self.known_team(default_team, teams, "default_alert_team")
        required_tags = self.string_list(root.get("required_tags", []), "required_tags")
        deployment = self.deployment_settings(root.get("deployment_settings", {}), retries)
        locations_raw = self.object(root.get("locations", {}), "locations")
        locations = {
            name: self.location(name, raw, resource_limits, teams) for name, raw in locations_raw.items()
        }
        alerting = self.object(root.get("alerting", {}), "alerting", optional=("job_failure_alerts",))
        job_failure_alerts = alerting.get("job_failure_alerts", DEFAULT_JOB_FAILURE_ALERTS)
        if job_failure_alerts not in JOB_FAILURE_ALERT_PATHS:
            raise self.fail(
                "alerting.job_failure_alerts",
                f"is {json.dumps(job_failure_alerts)}; allowed: {', '.join(JOB_FAILURE_ALERT_PATHS)}",
            )
        ecs_overrides = self.ecs_overrides(root.get("ecs_overrides", {}))
        return RunPolicy(
            ecs_overrides=ecs_overrides,
            schema_version=version,
            environment=environment,
            limits=resource_limits,
            retries=retries,
            priority=priority,
            alert_teams=tuple(teams),
            default_alert_team=default_team,
            required_tags=tuple(required_tags),
            deployment_settings=deployment,
            locations=locations,
            job_failure_alerts=job_failure_alerts,
            source=self.source,
        )

    # sections

    def ecs_overrides(self, raw: Any) -> EcsOverrideAllowances:
        body = self.object(raw, "ecs_overrides", optional=("role_arns", "subnets", "security_groups"))
        return EcsOverrideAllowances(
            role_arns=tuple(self.string_list(body.get("role_arns", []), "ecs_overrides.role_arns")),
            subnets=tuple(self.string_list(body.get("subnets", []), "ecs_overrides.subnets")),
            security_groups=tuple(
                self.string_list(body.get("security_groups", []), "ecs_overrides.security_groups")
            ),
        )

    def limits(self, raw: Any) -> ResourceLimits:
        body = self.object(raw, "limits", required=("max_cpu", "max_memory_mib", "max_ephemeral_storage_gib"))
        low_storage, high_storage = fargate.EPHEMERAL_STORAGE_GIB
        return ResourceLimits(
            max_cpu=self.integer(
                body, "max_cpu", "limits.max_cpu", low=min(fargate.FARGATE_TASK_SIZES), high=_MAX_FARGATE_CPU
            ),
            max_memory_mib=self.integer(
                body,
                "max_memory_mib",
                "limits.max_memory_mib",
                low=_MIN_FARGATE_MEMORY,
                high=_MAX_FARGATE_MEMORY,
            ),
            max_ephemeral_storage_gib=self.integer(
                body,
                "max_ephemeral_storage_gib",
                "limits.max_ephemeral_storage_gib",
                low=low_storage,
                high=high_storage,
            ),
        )

    def retries(self, raw: Any) -> RetryLimits:
        body = self.object(raw, "retries", required=("max_run_retries", "max_op_retries", "strategies"))
        strategies = self.string_list(body["strategies"], "retries.strategies")
        if not strategies:
            raise self.fail("retries.strategies", "must name at least one strategy")
        for index, strategy in enumerate(strategies):
            if strategy not in limits.RETRY_STRATEGIES:
                raise self.fail(
                    f"retries.strategies[{index}]",
                    f"is {strategy!r}; allowed: {', '.join(limits.RETRY_STRATEGIES)}",
                )
        return RetryLimits(
            max_run_retries=self.integer(
                body, "max_run_retries", "retries.max_run_retries", low=0, high=limits.RUN_RETRIES_MAX
            ),
            max_op_retries=self.integer(
                body, "max_op_retries", "retries.max_op_retries", low=0, high=limits.OP_RETRIES_MAX
            ),
            strategies=tuple(strategies),
        )

    def priority(self, raw: Any) -> PriorityRange:
        body = self.object(raw, "priority", required=("min", "max"))
        low, high = limits.PRIORITY_RANGE
        minimum = self.integer(body, "min", "priority.min", low=low, high=high)
        maximum = self.integer(body, "max", "priority.max", low=low, high=high)
        if minimum > maximum:
            raise self.fail("priority", f"has min {minimum} above max {maximum}")
        return PriorityRange(min=minimum, max=maximum)

    def deployment_settings(self, raw: Any, retries: RetryLimits) -> DeploymentSettings:
        body = self.object(raw, "deployment_settings")
        other = {key: value for key, value in body.items() if key != "run_retries"}
        if "run_retries" not in body:
            return DeploymentSettings(other=other)
        path = "deployment_settings.run_retries"
        run_retries = self.object(
            body["run_retries"], path, required=("max_retries",), optional=("retry_on_asset_or_op_failure",)
        )
        max_retries = self.integer(
            run_retries, "max_retries", f"{path}.max_retries", low=0, high=retries.max_run_retries
        )
        on_failure = run_retries.get("retry_on_asset_or_op_failure", True)
        if not isinstance(on_failure, bool):
            raise self.fail(
                f"{path}.retry_on_asset_or_op_failure", f"must be true or false, got {on_failure!r}"
            )
        return DeploymentSettings(
            run_retries=DeploymentRunRetries(
                max_retries=max_retries, retry_on_asset_or_op_failure=on_failure
            ),
            other=other,
        )

    def location(
        self, name: str, raw: Any, resource_limits: ResourceLimits, teams: Sequence[str]
    ) -> LocationDefaults:
        path = f"locations.{name}"
        if not name.strip():
            raise self.fail(path, "has an empty location name")
        body = self.object(raw, path, required=("server", "run"), optional=("alert_team",))
        server = self.task_size(body["server"], f"{path}.server", resource_limits=None)
        run = self.task_size(body["run"], f"{path}.run", resource_limits=resource_limits)
        team = body.get("alert_team")
        if team is not None:
            team = self.string(body, "alert_team", f"{path}.alert_team")
            self.known_team(team, teams, f"{path}.alert_team")
        return LocationDefaults(name=name, server=server, run=run, alert_team=team)

    def task_size(self, raw: Any, path: str, *, resource_limits: ResourceLimits | None) -> TaskSize:
        body = self.object(raw, path, required=("cpu", "memory"), optional=("ephemeral_storage_gib",))
        cpu = self.integer(body, "cpu", f"{path}.cpu")
        memory = self.integer(body, "memory", f"{path}.memory")
        try:
            fargate.check_task_size(cpu, memory)
        except fargate.InvalidTaskSize as exc:
            raise self.fail(path, f"is not a Fargate task size: {exc}") from None
        storage = None
        if "ephemeral_storage_gib" in body:
            low, high = fargate.EPHEMERAL_STORAGE_GIB
            storage = self.integer(
                body, "ephemeral_storage_gib", f"{path}.ephemeral_storage_gib", low=low, high=high
            )
        if resource_limits is not None:
            caps = (
                ("cpu", cpu, resource_limits.max_cpu, "limits.max_cpu"),
                ("memory", memory, resource_limits.max_memory_mib, "limits.max_memory_mib"),
                (
                    "ephemeral_storage_gib",
                    storage,
                    resource_limits.max_ephemeral_storage_gib,
                    "limits.max_ephemeral_storage_gib",
                ),
            )
            for key, value, cap, cap_field in caps:
                if value is not None and value > cap:
                    raise self.fail(f"{path}.{key}", f"is {value}, above {cap_field}={cap}")
        return TaskSize(cpu=cpu, memory=memory, ephemeral_storage_gib=storage)

    # primitives

    def object(
        self,
        raw: Any,
        path: str,
        *,
        required: Sequence[str] = (),
        optional: Sequence[str] | None = None,
    ) -> Mapping[str, Any]:
        """A JSON object; with ``optional`` given, keys outside required+optional are errors."""
        where = path or "<top level>"
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{self.source}: field '{where}' must be an object, got {_json_type(raw)}")
        for key in required:
            if key not in raw:
                raise self.fail(_join(path, key), "is required")
        if optional is not None:
            unknown = sorted(set(raw) - set(required) - set(optional))
            if unknown:
                allowed = ", ".join([*required, *optional])
                raise self.fail(_join(path, unknown[0]), f"is not a known field; allowed: {allowed}")
        return raw

    def integer(
        self, body: Mapping[str, Any], key: str, path: str, *, low: int | None = None, high: int | None = None
    ) -> int:
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {_json_type(value)} {json.dumps(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(path, f"is {value}; allowed: {low}..{high}")
        return value

    def string(self, body: Mapping[str, Any], key: str, path: str) -> str:
        value = body[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be a non-empty string, got {json.dumps(value)}")
        return value

    def string_list(self, raw: Any, path: str) -> list[str]:
        if not isinstance(raw, list):
            raise self.fail(path, f"must be a list of strings, got {_json_type(raw)}")
        seen: set[str] = set()
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{path}[{index}]", f"must be a non-empty string, got {json.dumps(item)}")
            if item in seen:
                raise self.fail(f"{path}[{index}]", f"repeats {item!r}")
            seen.add(item)
        return list(raw)

    def known_team(self, team: str, teams: Sequence[str], path: str) -> None:
        if teams and team not in teams:
            raise self.fail(path, f"is {team!r}, not one of alert_teams: {', '.join(teams)}")
        if not _TEAM_NAME.match(team):
            raise self.fail(path, f"is {team!r}; team names must match {limits.TEAM_NAME_PATTERN}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


#: JSON Schema (draft 2020-12) of ``run_policy.json``, for editors and for the CDK app's own tests.
#: The parser above is the authority: it also checks cross-field rules (Fargate pairs, caps,
#: teams) that a schema cannot express.
RUN_POLICY_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://dagster-platform/run_policy.schema.json",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "environment", "limits", "retries", "priority"],
    "$defs": {
        "team": {"type": "string", "pattern": limits.TEAM_NAME_PATTERN},
        "task_size": {
            "type": "object",
            "additionalProperties": False,
            "required": ["cpu", "memory"],
            "properties": {
                "cpu": {"type": "integer", "enum": list(fargate.FARGATE_TASK_SIZES)},
                "memory": {"type": "integer", "minimum": _MIN_FARGATE_MEMORY, "maximum": _MAX_FARGATE_MEMORY},
                "ephemeral_storage_gib": {
                    "type": "integer",
                    "minimum": fargate.EPHEMERAL_STORAGE_GIB[0],
                    "maximum": fargate.EPHEMERAL_STORAGE_GIB[1],
                },
            },
        },
    },
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "environment": {"type": "string", "minLength": 1},
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "required": ["max_cpu", "max_memory_mib", "max_ephemeral_storage_gib"],
            "properties": {
                "max_cpu": {
                    "type": "integer",
                    "minimum": min(fargate.FARGATE_TASK_SIZES),
                    "maximum": _MAX_FARGATE_CPU,
                },
                "max_memory_mib": {
                    "type": "integer",
                    "minimum": _MIN_FARGATE_MEMORY,
                    "maximum": _MAX_FARGATE_MEMORY,
                },
                "max_ephemeral_storage_gib": {
                    "type": "integer",
                    "minimum": fargate.EPHEMERAL_STORAGE_GIB[0],
                    "maximum": fargate.EPHEMERAL_STORAGE_GIB[1],
                },
            },
        },
        "retries": {
            "type": "object",
            "additionalProperties": False,
            "required": ["max_run_retries", "max_op_retries", "strategies"],
            "properties": {
                "max_run_retries": {"type": "integer", "minimum": 0, "maximum": limits.RUN_RETRIES_MAX},
                "max_op_retries": {"type": "integer", "minimum": 0, "maximum": limits.OP_RETRIES_MAX},
                "strategies": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"enum": list(limits.RETRY_STRATEGIES)},
                },
            },
        },
        "priority": {
            "type": "object",
            "additionalProperties": False,
            "required": ["min", "max"],
            "properties": {
                "min": {
                    "type": "integer",
                    "minimum": limits.PRIORITY_RANGE[0],
                    "maximum": limits.PRIORITY_RANGE[1],
                },
                "max": {
                    "type": "integer",
                    "minimum": limits.PRIORITY_RANGE[0],
                    "maximum": limits.PRIORITY_RANGE[1],
                },
            },
        },
        "alert_teams": {"type": "array", "uniqueItems": True, "items": {"$ref": "#/$defs/team"}},
        "default_alert_team": {"anyOf": [{"$ref": "#/$defs/team"}, {"type": "null"}]},
        "required_tags": {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}},
        "deployment_settings": {
            "type": "object",
            "properties": {
                "run_retries": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["max_retries"],
                    "properties": {
                        "max_retries": {"type": "integer", "minimum": 0, "maximum": limits.RUN_RETRIES_MAX},
                        "retry_on_asset_or_op_failure": {"type": "boolean"},
                    },
                }
            },
        },
        "alerting": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"job_failure_alerts": {"enum": list(JOB_FAILURE_ALERT_PATHS)}},
        },
        "ecs_overrides": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                key: {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}}
                for key in ("role_arns", "subnets", "security_groups")
            },
        },
        "locations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["server", "run"],
                "properties": {
                    "server": {"$ref": "#/$defs/task_size"},
                    "run": {"$ref": "#/$defs/task_size"},
                    "alert_team": {"$ref": "#/$defs/team"},
                },
            },
        },
    },
}
