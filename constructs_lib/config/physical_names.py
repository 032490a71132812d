"""The physical names the platform builds from an environment's name, and the longest
environment name that fits every one of them.

Each name template is defined here once (``stacks/names.py`` formats them); each limit is read
from the API model or resource schema that holds it, or, where AWS publishes it only in prose,
written once with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .aws_models import cfn_property, longest_region_name, shape_limits

ACCOUNT_ID_LENGTH = 12
#: Longest location name (``Name`` in types.py); ECR repository names include it.
LOCATION_NAME_MAX = 40
#: SQS: "A queue name can have up to 80 characters" (SQS Developer Guide, quotas; in no API model).
SQS_QUEUE_NAME_MAX = 80
#: ECS: "Up to 255 letters ... numbers, underscores, and hyphens are allowed" (CreateCluster).
ECS_CLUSTER_NAME_MAX = 255
#: DNS: one label of a domain name has at most 63 octets (RFC 1035); the namespace's first label.
DNS_LABEL_MAX = 63

COMPUTE_LOG_BUCKET = "dagster-{env}-compute-logs-{account}-{region}"
ALERT_QUEUE = "dagster-platform-{env}-alerts"
ALERT_KEY_ALIAS = "alias/dagster-platform/{env}/alerts"
COMPUTE_LOG_KEY_ALIAS = "alias/dagster-platform/{env}/compute-logs"
CLUSTER = "dagster-platform-{env}"
AGENT_LOG_GROUP = "/dagster-platform/{env}/agent"
WORKLOAD_LOG_GROUP = "/dagster-platform/{env}/workloads"
AGENT_TOKEN_SECRET = "dagster/{env}/agent-token"
SUBSCRIPTION_FILTER = "dagster-{env}-{key}-forwarding"
NAMESPACE_LABEL = "dagster-{env}"
NAMESPACE = NAMESPACE_LABEL + ".local"
REPOSITORY = "dagster/{env}/{location}"


@dataclass(frozen=True)
class NameRule:
    what: str
    template: str
    limit: Callable[[], int]
    source: str


NAME_RULES: tuple[NameRule, ...] = (
    NameRule("compute-log bucket", COMPUTE_LOG_BUCKET, lambda: cfn_property("AWS::S3::Bucket", "BucketName")["maxLength"],
             "S3 bucket names"),
    NameRule("alert queue", ALERT_QUEUE, lambda: SQS_QUEUE_NAME_MAX, "SQS queue names"),
    NameRule("alert key alias", ALERT_KEY_ALIAS, lambda: shape_limits("kms", "AliasNameType")["max"], "KMS alias names"),
    NameRule("compute-log key alias", COMPUTE_LOG_KEY_ALIAS, lambda: shape_limits("kms", "AliasNameType")["max"],
             "KMS alias names"),
    NameRule("ECS cluster", CLUSTER, lambda: ECS_CLUSTER_NAME_MAX, "ECS cluster names"),
    NameRule("agent log group", AGENT_LOG_GROUP, lambda: shape_limits("logs", "LogGroupName")["max"], "log group names"),
    NameRule("workload log group", WORKLOAD_LOG_GROUP, lambda: shape_limits("logs", "LogGroupName")["max"],
             "log group names"),
    NameRule("agent token secret", AGENT_TOKEN_SECRET, lambda: shape_limits("secretsmanager", "NameType")["max"],
             "secret names"),
    NameRule("subscription filter", SUBSCRIPTION_FILTER.replace("{key}", "workloads"),
             lambda: shape_limits("logs", "FilterName")["max"], "subscription filter names"),
    NameRule("Cloud Map namespace", NAMESPACE_LABEL, lambda: DNS_LABEL_MAX, "a DNS label"),
    NameRule("ECR repository", REPOSITORY, lambda: shape_limits("ecr", "RepositoryName")["max"], "ECR repository names"),
)


def _fixed_length(template: str) -> int:
    """Characters of the template besides the environment name, at their longest (the stacks of
    an environment may be deployed to any region, so the longest region name counts)."""
    sample = template.format(
        env="",
        account="0" * ACCOUNT_ID_LENGTH,
        region="r" * longest_region_name(),
        location="l" * LOCATION_NAME_MAX,
    )
    return len(sample)


def environment_name_limit_for(template: str) -> int:
    """The longest environment name that fits one of the templates above, in every region."""
    [rule] = [rule for rule in NAME_RULES if rule.template == template]
    return rule.limit() - _fixed_length(rule.template)


def environment_name_limit() -> tuple[int, NameRule]:
    """The longest environment name every physical name fits, and the rule that binds."""
    bounds = [(rule.limit() - _fixed_length(rule.template), rule) for rule in NAME_RULES]
    return min(bounds, key=lambda item: item[0])


def environment_name_problem(name: str) -> str | None:
    limit, rule = environment_name_limit()
    if len(name) <= limit:
        return None
    shown = rule.template.replace("{env}", "<env>").replace("{account}", "<account>").replace("{region}", "<region>")
    return (
        f"too long ({len(name)} characters): at most {limit}, because the {rule.what} name {shown} may have "
        f"{rule.limit()} characters ({rule.source}) and region names have up to {longest_region_name()}"
    )
