"""Settings of the platform's shared infrastructure: Dagster+ identity, network, cluster, agent.

These frozen models are both the environment-file schema and the props of the constructs in
``constructs_lib``: a CDK app that does not use environment files builds them in Python.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .errors import ABSENT as ABSENT_VALUE, FieldProblem, raise_problems
from .subnet_plan import CidrProblem, parse_vpc_cidr, plan_subnets
from .task_size import TaskSize
from .types import (
    Cidr,
    DeploymentName,
    ImageVersion,
    Name,
    Organization,
    RetentionDays,
    SecretArn,
    SecretName,
    StrictModel,
    SubnetId,
    TagKey,
    VpcId,
    int_between,
    matching,
    non_empty,
    unique,
)


class AgentQueues(StrictModel):
    include_default_queue: bool = True
    additional_queues: Annotated[tuple[Name, ...], AfterValidator(unique("queue"))] = ()


#: Dagster+ control planes besides the default (US) one, by the subdomain their URLs carry
#: (``https://<organization>.eu.dagster.cloud``). Dagster+ documents no other region.
DAGSTER_PLUS_REGIONS = {"eu": "EU (https://<organization>.eu.dagster.cloud)"}


def _dagster_plus_region(value: str) -> str:
    if value not in DAGSTER_PLUS_REGIONS:
        raise ValueError(
            "is not a Dagster+ region; omit region for the default (US) control plane, or use: "
            + ", ".join(f"{key} ({where})" for key, where in DAGSTER_PLUS_REGIONS.items())
        )
    return value


class DagsterCloudSettings(StrictModel):
    """Which Dagster+ organization and deployments the agent serves."""

    organization: Organization
    #: Dagster+ control-plane region when not the default (for example ``eu``).
    region: Annotated[str, AfterValidator(_dagster_plus_region)] | None = None
    deployments: Annotated[
        tuple[DeploymentName, ...], AfterValidator(non_empty("deployment")), AfterValidator(unique("deployment"))
    ]
    branch_deployments: bool = False
    agent_label: str | None = Field(default=None, max_length=100)
    isolated_agents: bool = False
    agent_queues: AgentQueues = AgentQueues()

    @property
    def agent_api_url(self) -> str:
        """The agent API of this organization (dagster-cloud derives the same from a token)."""
        region = f".{self.region}" if self.region else ""
        return f"https://{self.organization}.agent{region}.dagster.cloud"

    @property
    def ui_url(self) -> str:
        region = f".{self.region}" if self.region else ""
        return f"https://{self.organization}{region}.dagster.cloud"


class NetworkSettings(StrictModel):
    """A new VPC (public subnets only, or private subnets behind NAT) or an existing one."""

    mode: Literal["public", "private", "existing"]
    cidr: Cidr = "10.40.0.0/16"
    max_azs: int_between(2, 3) = 2
    nat_gateways: int_between(1, 3) = 1
    flow_logs_retention_days: RetentionDays = 30
    vpc_id: VpcId | None = None
    subnet_ids: Annotated[tuple[SubnetId, ...], AfterValidator(unique("subnet"))] = ()
    assign_public_ip: bool | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> NetworkSettings:
        problems: list[FieldProblem] = []
        if self.mode == "existing":
            if self.vpc_id is None:
                problems.append(FieldProblem("vpc_id", ABSENT_VALUE, "mode 'existing' needs vpc_id"))
            if not self.subnet_ids:
                problems.append(FieldProblem("subnet_ids", list(self.subnet_ids), "mode 'existing' needs at least one subnet id"))
            if self.assign_public_ip is None:
                problems.append(FieldProblem(
                    "assign_public_ip", ABSENT_VALUE, "mode 'existing' needs assign_public_ip (true for public subnets without NAT)"
                ))
        else:
            for name in ("vpc_id", "subnet_ids", "assign_public_ip"):
                value = getattr(self, name)
                if value not in (None, ()):
                    problems.append(FieldProblem(
                        name, list(value) if isinstance(value, tuple) else value,
                        f"applies only to mode 'existing', not '{self.mode}'",
                    ))
            try:
                plan_subnets(parse_vpc_cidr(self.cidr).prefixlen, self.max_azs, self.mode)
            except CidrProblem as error:
                problems.append(FieldProblem("cidr", self.cidr, f"{error} (mode '{self.mode}', max_azs {self.max_azs})"))
        if self.mode == "private" and self.nat_gateways > self.max_azs:
            problems.append(FieldProblem("nat_gateways", self.nat_gateways, f"cannot exceed max_azs ({self.max_azs})"))
        raise_problems(problems)
        return self

    @property
    def tasks_get_public_ip(self) -> bool:
        if self.mode == "existing":
            return bool(self.assign_public_ip)
        return self.mode == "public"


class ClusterSettings(StrictModel):
    """A new Fargate cluster with Container Insights, or an existing cluster by name."""

    existing_cluster_name: matching(
        r"[A-Za-z0-9_-]{1,255}", "an ECS cluster name (1-255 letters, digits, '-', '_')"
    ) | None = None
    container_insights: bool = True


class TokenSecretSettings(StrictModel):
    """Where the agent token lives. Omit both to have the storage stack create an empty secret."""

    existing_secret_arn: SecretArn | None = None
    existing_secret_name: SecretName | None = None
    #: The key of the token in a JSON secret (ECS reads ``<arn>:<json_field>::``).
    json_field: matching(r"[^:\s]{1,256}", "a JSON key without ':' or spaces") | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TokenSecretSettings:
        if self.existing_secret_arn and self.existing_secret_name:
            raise_problems([FieldProblem(
                "existing_secret_name", self.existing_secret_name, "give existing_secret_arn or existing_secret_name, not both"
            )])
        return self

    @property
    def creates_secret(self) -> bool:
        return not (self.existing_secret_arn or self.existing_secret_name)


class PythonLogsSettings(StrictModel):
    """The instance's ``python_logs`` block: level, loggers Dagster captures, handlers."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    managed_loggers: tuple[str, ...] = ()
    dagster_handler_config: dict | None = None


class ServerTtlSettings(StrictModel):
    """How long idle code servers live (Dagster+ ``server_ttl``)."""

    full_deployments_enabled: bool = False
    full_deployments_ttl_seconds: int_between(300, 7 * 86400) = 86400
    branch_deployments_ttl_seconds: int_between(300, 7 * 86400) = 86400
    max_servers: int_between(1, 200) = 25


class AgentSettings(TaskSize):
    """The Dagster+ ECS agent service: image, size, replicas, deployment mode, logging."""

    cpu: int = 256
    memory: int = 512
    #: Image repository without tag (the tag is ``version``), e.g. a mirror in your ECR.
    image: matching(
        r"[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)*",
        "an image repository without a tag, such as dagster/dagster-cloud-agent or <registry>/<repo>",
    ) = "dagster/dagster-cloud-agent"
    version: ImageVersion
    replicas: int_between(1, 5) = 1
    zero_downtime_deploys: bool = False
    log_retention_days: RetentionDays = 30
    code_server_metrics: bool = True
    agent_metrics: bool = True
    enable_ecs_exec: bool = False
    #: Tag key marking the secrets the agent may describe and code locations may read.
    secrets_tag: TagKey = "dagster"
    server_process_startup_timeout_seconds: int_between(60, 3600) = 300
    python_logs: PythonLogsSettings = PythonLogsSettings()
    server_ttl: ServerTtlSettings = ServerTtlSettings()
    token_secret: TokenSecretSettings = TokenSecretSettings()

    @property
    def image_uri(self) -> str:
        return f"{self.image}:{self.version}"
