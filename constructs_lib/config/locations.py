"""Code locations, per-environment run limits, and Dagster+ deployment settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from dagster_platform import limits

from .errors import FieldProblem, raise_problems
from .reserved_env import reserved_env_var_problem
from .secret_refs import SecretReference, check_secret_reference, parse_secret_reference
from .task_size import TaskSize
from .types import Name, StrictModel, TagKey, int_between, matching


def _not_reserved(name: str) -> str:
    problem = reserved_env_var_problem(name)
    if problem:
        raise ValueError(problem)
    return name


EnvVarName = Annotated[
    matching(r"[A-Z_][A-Z0-9_]{0,127}", "an environment variable name (A-Z, 0-9, _)"), AfterValidator(_not_reserved)
]
#: ``name``, ``name:json_key``, or a complete secret ARN with optional ``:json_key`` (see secret_refs.py).
SecretSpec = Annotated[str, AfterValidator(check_secret_reference)]
PythonName = matching(r"[A-Za-z_][A-Za-z0-9_.]{0,200}", "a Python module or package name")


class RunTaskSize(TaskSize):
    ephemeral_storage_gib: int_between(21, 200) | None = None


class CodeSource(StrictModel):
    """Where Dagster loads the location's definitions from (``code_source`` in dagster_cloud.yaml)."""

    package_name: PythonName | None = None
    module_name: PythonName | None = None
    python_file: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_./-]+\.py$")

    @model_validator(mode="after")
    def _exactly_one(self) -> CodeSource:
        given = [name for name in ("package_name", "module_name", "python_file") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of package_name, module_name, python_file")
        return self


class CodeLocationSettings(StrictModel):
    """One Dagster code location: its image repository, identity, defaults for servers and runs."""

    code_source: CodeSource
    alert_team: Name
    server: TaskSize = TaskSize(cpu=256, memory=1024)
    run: RunTaskSize = RunTaskSize(cpu=512, memory=2048)
    agent_queue: Name | None = None
    immutable_tags: bool = True
    keep_images: int_between(1, 1000) = 30
    env_vars: dict[EnvVarName, str] = Field(default_factory=dict)
    #: Environment variable name -> secret: ``name``, ``name:json_key``, or a complete secret ARN
    #: (``arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf``) with optional ``:json_key``.
    secrets: dict[EnvVarName, SecretSpec] = Field(default_factory=dict)
    #: Secrets tagged ``<key>=<environment>`` with any of these keys are mounted into this location's tasks (the
    #: execution role reads a secret only with key and value; dagster-aws finds them by key alone).
    secrets_tags: tuple[TagKey, ...] = ()

    @model_validator(mode="after")
    def _env_and_secrets_distinct(self) -> CodeLocationSettings:
        raise_problems([
            FieldProblem(f"secrets.{name}", self.secrets[name], "is also set in env_vars; a variable comes from one or the other")
            for name in sorted(set(self.env_vars) & set(self.secrets))
        ])
        return self

    @property
    def secret_references(self) -> dict[str, SecretReference]:
        """Each secret parsed: ``name``, ``arn`` (None for the name forms) and ``json_key``."""
        return {env: parse_secret_reference(spec) for env, spec in self.secrets.items()}


class PriorityRange(StrictModel):
    min: int_between(*limits.PRIORITY_RANGE) = -10
    max: int_between(*limits.PRIORITY_RANGE) = 10

    @model_validator(mode="after")
    def _ordered(self) -> PriorityRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class RunLimits(StrictModel):
    """Caps that code-location defaults and job tags must respect in this environment."""

    max_cpu: Literal[256, 512, 1024, 2048, 4096, 8192, 16384] = 4096
    max_memory_mib: int_between(512, 122880) = 16384
    max_ephemeral_storage_gib: int_between(21, 200) = 100
    max_run_retries: int_between(0, limits.RUN_RETRIES_MAX) = 3
    max_op_retries: int_between(0, limits.OP_RETRIES_MAX) = 5
    priority: PriorityRange = PriorityRange()
    required_tags: tuple[str, ...] = (limits.TAG_ALERT_TEAM,)


class RunRetries(StrictModel):
    max_retries: int_between(0, limits.RUN_RETRIES_MAX) = 0
    retry_on_asset_or_op_failure: bool = True


class TagConcurrencyLimit(StrictModel):
    key: str = Field(min_length=1, max_length=256)
    value: str | None = None
    limit: int_between(0, 10000)


def _unique_limits(values: tuple[TagConcurrencyLimit, ...]) -> tuple[TagConcurrencyLimit, ...]:
    seen = set()
    for item in values:
        if (item.key, item.value) in seen:
            raise ValueError(f"tag concurrency limit for key '{item.key}' value {item.value!r} is listed twice")
        seen.add((item.key, item.value))
    return values


class RunConcurrency(StrictModel):
    max_concurrent_runs: int_between(-1, 10000) = 25
    tag_concurrency_limits: Annotated[tuple[TagConcurrencyLimit, ...], AfterValidator(_unique_limits)] = ()


class PoolSettings(StrictModel):
    default_limit: int_between(1, 10000) | None = None


class ConcurrencySettings(StrictModel):
    runs: RunConcurrency = RunConcurrency()
    pools: PoolSettings = PoolSettings()


class RunMonitoring(StrictModel):
    start_timeout_seconds: int_between(60, 86400) = 1200
    cancel_timeout_seconds: int_between(60, 86400) = 1200
    max_runtime_seconds: int_between(0, 7 * 86400) = 0


class DeploymentSettings(StrictModel):
    """Dagster+ deployment settings: the global defaults jobs inherit unless a tag overrides them."""

    run_retries: RunRetries = RunRetries()
    concurrency: ConcurrencySettings = ConcurrencySettings()
    run_monitoring: RunMonitoring = RunMonitoring()

