"""What the templates of one environment deploy, found by resource types and references.

Nothing here knows today's logical ids: the agent service is the ECS service whose container runs
the configured agent image, the workload log group and compute-log bucket are the ones the
agent's ``dagster.yaml`` points at (directly or through the agent container's environment), a
dead-letter queue is the target of another queue's redrive policy, and so on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml

from .iam import role_policies
from .model import Environment, Resource, as_list, flatten, iter_statements

FARGATE_DEFAULT_EPHEMERAL_GIB = 20


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


@dataclass
class Service:
    """An ECS service and its task definition, read from the template."""

    resource: Resource
    task_definition: Resource | None
    containers: list[dict]
    cluster: Resource | None

    @property
    def desired_count(self) -> int | None:
        value = self.resource.props.get("DesiredCount")
        return 1 if value is None else to_int(value)

    @property
    def cpu(self) -> int | None:
        return to_int((self.task_definition.props if self.task_definition else {}).get("Cpu"))

    @property
    def memory(self) -> int | None:
        return to_int((self.task_definition.props if self.task_definition else {}).get("Memory"))

    @property
    def ephemeral_gib(self) -> int:
        storage = (self.task_definition.props if self.task_definition else {}).get("EphemeralStorage") or {}
        return to_int(storage.get("SizeInGiB")) or FARGATE_DEFAULT_EPHEMERAL_GIB

    @property
    def architecture(self) -> str:
        platform = (self.task_definition.props if self.task_definition else {}).get("RuntimePlatform") or {}
        return str(platform.get("CpuArchitecture") or "X86_64")

    @property
    def is_fargate(self) -> bool:
        if self.resource.props.get("LaunchType") == "FARGATE":
            return True
        strategy = as_list(self.resource.props.get("CapacityProviderStrategy"))
        if any(str(item.get("CapacityProvider", "")).startswith("FARGATE") for item in strategy if isinstance(item, dict)):
            return True
        compat = as_list((self.task_definition.props if self.task_definition else {}).get("RequiresCompatibilities"))
        return "FARGATE" in compat and not self.resource.props.get("LaunchType")

    @property
    def deployment(self) -> tuple[int | None, int | None]:
        """(maximum percent, minimum healthy percent), CloudFormation's defaults when unset."""
        config = self.resource.props.get("DeploymentConfiguration") or {}
        return to_int(config.get("MaximumPercent", 200)), to_int(config.get("MinimumHealthyPercent", 100))

    @property
    def circuit_breaker(self) -> str:
        breaker = (self.resource.props.get("DeploymentConfiguration") or {}).get("DeploymentCircuitBreaker") or {}
        if not breaker.get("Enable"):
            return "off"
        return "on, with rollback" if breaker.get("Rollback") else "on, no rollback"

    @property
    def assign_public_ip(self) -> bool:
        network = (self.resource.props.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
        return network.get("AssignPublicIp") == "ENABLED"

    @property
    def image(self) -> str | None:
        images = [flatten(c.get("Image")) for c in self.containers if c.get("Essential", True)]
        return images[0] if images else None


@dataclass
class Firehose:
    resource: Resource
    archive_bucket: Resource | None = None
    archive_prefix: str | None = None
    http_endpoint: dict | None = None
    backup_bucket: Resource | None = None
    buffering: str | None = None
    sources: list[tuple[Resource | None, str, str]] = field(default_factory=list)  # (log group, label, filter)


@dataclass
class Queue:
    resource: Resource
    dead_letter: Resource | None = None
    max_receive_count: int | None = None
    consumers: list[Resource] = field(default_factory=list)  # Lambda functions


class Inventory:
    """The environment's parts the report talks about, resolved once."""

    def __init__(self, env: Environment, config: Any) -> None:
        self.env = env
        self.config = config

    # ----------------------------------------------------------------- ECS

    @cached_property
    def services(self) -> list[Service]:
        services = []
        for resource in self.env.resources("AWS::ECS::Service"):
            task = self.env.resolve(resource.props.get("TaskDefinition"), resource.stack, "AWS::ECS::TaskDefinition")
            containers = [c for c in as_list((task.props if task else {}).get("ContainerDefinitions")) if isinstance(c, dict)]
            cluster = self.env.resolve(resource.props.get("Cluster"), resource.stack, "AWS::ECS::Cluster")
            services.append(Service(resource, task, containers, cluster))
        return services

    @cached_property
    def agent(self) -> Service | None:
        """The service running the configured agent image; the only service when there is one."""
        wanted = getattr(getattr(self.config, "agent", None), "image", None) or "dagster-cloud-agent"
        for service in self.services:
            if any(image_repository(flatten(c.get("Image"))).endswith(wanted) for c in service.containers):
                return service
        return self.services[0] if len(self.services) == 1 else None

    @cached_property
    def agent_environment(self) -> dict[str, Any]:
        return self.env.container_environment(self.agent.task_definition) if self.agent and self.agent.task_definition else {}

    @cached_property
    def instance(self) -> dict:
        """The agent's ``dagster.yaml``: the written artifact, else a YAML document in the agent's environment."""
        text = self.env.artifacts.get("dagster.yaml")
        candidates = [text] if text else []
        candidates += [v for v in self.agent_environment.values() if isinstance(v, str) and "instance_class" in v]
        for candidate in candidates:
            try:
                document = yaml.safe_load(candidate)
            except yaml.YAMLError:
                continue
            if isinstance(document, dict):
                return document
        return {}

    def instance_value(self, *path: str) -> Any:
        """A value of ``dagster.yaml`` as the template sets it: ``{env: NAME}`` is looked up in the
        agent container's environment."""
        node: Any = self.instance
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and set(node) == {"env"}:
            return self.agent_environment.get(node["env"])
        return node

    def _resolve_from_agent(self, value: Any, *types: str) -> Resource | None:
        if value is None or self.agent is None:
            return None
        return self.env.resolve(value, self.agent.resource.stack, *types)

    # ----------------------------------------------------------------- logs

    @cached_property
    def log_groups(self) -> list[Resource]:
        return self.env.resources("AWS::Logs::LogGroup")

    @cached_property
    def agent_log_group(self) -> Resource | None:
        for container in self.agent.containers if self.agent else []:
            options = (container.get("LogConfiguration") or {}).get("Options") or {}
            group = self._resolve_from_agent(options.get("awslogs-group"), "AWS::Logs::LogGroup")
            if group:
                return group
        return None

    @cached_property
    def workload_log_group(self) -> Resource | None:
        value = self.instance_value("user_code_launcher", "config", "log_group")
        return self._resolve_from_agent(value, "AWS::Logs::LogGroup")

    @staticmethod
    def retention(log_group: Resource | None) -> int | None:
        return to_int(log_group.props.get("RetentionInDays")) if log_group else None

    # ----------------------------------------------------------------- network

    @cached_property
    def vpcs(self) -> list[Resource]:
        return self.env.resources("AWS::EC2::VPC")

    @cached_property
    def nat_gateways(self) -> list[Resource]:
        return self.env.resources("AWS::EC2::NatGateway")

    @cached_property
    def interface_endpoints(self) -> list[Resource]:
        return [r for r in self.env.resources("AWS::EC2::VPCEndpoint") if r.props.get("VpcEndpointType") == "Interface"]

    @cached_property
    def gateway_endpoints(self) -> list[Resource]:
        return [r for r in self.env.resources("AWS::EC2::VPCEndpoint") if r.props.get("VpcEndpointType", "Gateway") == "Gateway"]

    # ----------------------------------------------------------------- storage

    @cached_property
    def buckets(self) -> list[Resource]:
        return self.env.resources("AWS::S3::Bucket")

    @cached_property
    def compute_log_bucket(self) -> Resource | None:
        bucket = self._resolve_from_agent(self.instance_value("compute_logs", "config", "bucket"), "AWS::S3::Bucket")
        if bucket:
            return bucket
        named = [b for b in self.buckets if "computelog" in re.sub(r"[^a-z]", "", (b.logical_id + b.display_name).lower())]
        return named[0] if len(named) == 1 else None

    @cached_property
    def bucket_roles(self) -> dict[Resource, str]:
        roles: dict[Resource, list[str]] = {}

        def add(bucket: Resource | None, role: str) -> None:
            if bucket is not None and role not in roles.setdefault(bucket, []):
                roles[bucket].append(role)

        add(self.compute_log_bucket, "compute logs")
        for firehose in self.firehoses:
            add(firehose.archive_bucket, f"log archive ({firehose.resource.display_name})")
            add(firehose.backup_bucket, f"failed deliveries ({firehose.resource.display_name})")
        for bucket in self.buckets:
            target = (bucket.props.get("LoggingConfiguration") or {}).get("DestinationBucketName")
            add(self.env.resolve(target, bucket.stack, "AWS::S3::Bucket") if target else None, "access logs")
        return {bucket: ", ".join(names) for bucket, names in roles.items()}

    # ----------------------------------------------------------------- forwarding

    @cached_property
    def firehoses(self) -> list[Firehose]:
        found = []
        for resource in self.env.resources("AWS::KinesisFirehose::DeliveryStream"):
            props = resource.props
            item = Firehose(resource)
            s3 = props.get("ExtendedS3DestinationConfiguration") or props.get("S3DestinationConfiguration")
            if s3:
                item.archive_bucket = self.env.resolve(s3.get("BucketARN"), resource.stack, "AWS::S3::Bucket")
                item.archive_prefix = flatten(s3.get("Prefix")) if s3.get("Prefix") else None
                item.buffering = _buffering(s3.get("BufferingHints"))
            http = props.get("HttpEndpointDestinationConfiguration")
            if http:
                endpoint = http.get("EndpointConfiguration") or {}
                item.http_endpoint = {"name": flatten(endpoint.get("Name")) or "HTTP endpoint", "url": flatten(endpoint.get("Url"))}
                backup = http.get("S3Configuration") or {}
                bucket = self.env.resolve(backup.get("BucketARN"), resource.stack, "AWS::S3::Bucket")
                if http.get("S3BackupMode") == "AllData" and item.archive_bucket is None:
                    # Every record is also written to the bucket: it is the archive, not only a fallback.
                    item.archive_bucket = bucket
                    item.archive_prefix = flatten(backup.get("Prefix")) if backup.get("Prefix") else None
                else:
                    item.backup_bucket = bucket
                item.buffering = _buffering(http.get("BufferingHints"))
            found.append(item)
        by_resource = {item.resource: item for item in found}
        for subscription in self.env.resources("AWS::Logs::SubscriptionFilter"):
            target = self.env.resolve(subscription.props.get("DestinationArn"), subscription.stack, "AWS::KinesisFirehose::DeliveryStream")
            if target in by_resource:
                group_value = subscription.props.get("LogGroupName")
                group = self.env.resolve(group_value, subscription.stack, "AWS::Logs::LogGroup")
                label = group.display_name if group else flatten(group_value)
                by_resource[target].sources.append((group, label, flatten(subscription.props.get("FilterPattern", ""))))
        return found

    # ----------------------------------------------------------------- alerting

    @cached_property
    def queues(self) -> list[Queue]:
        items = {resource: Queue(resource) for resource in self.env.resources("AWS::SQS::Queue")}
        for queue in items.values():
            redrive = queue.resource.props.get("RedrivePolicy") or {}
            if isinstance(redrive, dict) and redrive.get("deadLetterTargetArn") is not None:
                queue.dead_letter = self.env.resolve(redrive["deadLetterTargetArn"], queue.resource.stack, "AWS::SQS::Queue")
                queue.max_receive_count = to_int(redrive.get("maxReceiveCount"))
        for mapping in self.env.resources("AWS::Lambda::EventSourceMapping"):
            source = self.env.resolve(mapping.props.get("EventSourceArn"), mapping.stack, "AWS::SQS::Queue")
            function = self.env.resolve(mapping.props.get("FunctionName"), mapping.stack, "AWS::Lambda::Function")
            if source in items and function and function not in items[source].consumers:
                items[source].consumers.append(function)
        return list(items.values())

    @cached_property
    def dead_letter_queues(self) -> set[Resource]:
        return {queue.dead_letter for queue in self.queues if queue.dead_letter is not None}

    @cached_property
    def function_urls(self) -> dict[Resource, Resource]:
        """Lambda function -> its Function URL resource."""
        found = {}
        for url in self.env.resources("AWS::Lambda::Url"):
            function = self.env.resolve(url.props.get("TargetFunctionArn"), url.stack, "AWS::Lambda::Function")
            if function:
                found[function] = url
        return found

    def role_users(self, role: Resource) -> list[Resource]:
        """Lambda functions and ECS task definitions that run with ``role``."""
        users = []
        for function in self.env.resources("AWS::Lambda::Function"):
            if self.env.resolve(function.props.get("Role"), function.stack, "AWS::IAM::Role") is role:
                users.append(function)
        for task in self.env.resources("AWS::ECS::TaskDefinition"):
            if self.env.resolve(task.props.get("TaskRoleArn"), task.stack, "AWS::IAM::Role") is role:
                users.append(task)
        return users

    def principals_allowed(self, action_prefixes: tuple[str, ...], target: Resource) -> list[Resource]:
        """Roles with an Allow statement for any of the actions on ``target`` (by reference or name)."""
        allowed = []
        for role, documents in role_policies(self.env).items():
            for _source, stack, document in documents:
                for statement in iter_statements(document):
                    if statement.get("Effect") != "Allow":
                        continue
                    actions = [str(a).lower() for a in as_list(statement.get("Action"))]
                    if not any(_action_matches(a, p) for a in actions for p in action_prefixes):
                        continue
                    for value in as_list(statement.get("Resource")):
                        if target in self.env.resolve_all(value, stack) and role not in allowed:
                            allowed.append(role)
        return allowed

    @cached_property
    def alarms(self) -> list[Resource]:
        return self.env.resources("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")

    def alarm_targets(self) -> dict[Resource, list[Resource]]:
        """SNS topic -> alarms that notify it."""
        found: dict[Resource, list[Resource]] = {}
        for alarm in self.alarms:
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in as_list(alarm.props.get(key)):
                    topic = self.env.resolve(action, alarm.stack, "AWS::SNS::Topic")
                    if topic and alarm not in found.setdefault(topic, []):
                        found[topic].append(alarm)
        return found

    def topic_subscriptions(self) -> list[tuple[Resource, str, Resource | None, str]]:
        """(topic, protocol, target resource or None, endpoint text)."""
        found = []
        for sub in self.env.resources("AWS::SNS::Subscription"):
            topic = self.env.resolve(sub.props.get("TopicArn"), sub.stack, "AWS::SNS::Topic")
            if topic:
                endpoint = sub.props.get("Endpoint")
                found.append((topic, str(sub.props.get("Protocol", "")), self.env.resolve(endpoint, sub.stack), flatten(endpoint)))
        for topic in self.env.resources("AWS::SNS::Topic"):
            for sub in as_list(topic.props.get("Subscription")):
                endpoint = sub.get("Endpoint")
                found.append((topic, str(sub.get("Protocol", "")), self.env.resolve(endpoint, topic.stack), flatten(endpoint)))
        return found

    def event_rules(self) -> list[tuple[Resource, str, list[Resource]]]:
        """(rule, readable event pattern, target resources)."""
        found = []
        for rule in self.env.resources("AWS::Events::Rule"):
            targets = []
            for target in as_list(rule.props.get("Targets")):
                resolved = self.env.resolve(target.get("Arn"), rule.stack) if isinstance(target, dict) else None
                if resolved:
                    targets.append(resolved)
            found.append((rule, event_pattern_summary(rule.props), targets))
        return found

    def function_tables(self, function: Resource) -> list[Resource]:
        variables = ((function.props.get("Environment") or {}).get("Variables")) or {}
        tables = []
        for value in variables.values():
            table = self.env.resolve(value, function.stack, "AWS::DynamoDB::Table")
            if table and table not in tables:
                tables.append(table)
        return tables

    def repositories_for(self, location: str) -> list[Resource]:
        return [r for r in self.env.resources("AWS::ECR::Repository") if location in r.display_name.split("/")[-1]]


def image_repository(image: str) -> str:
    """``registry:5000/team/agent:1.2.3`` -> ``registry:5000/team/agent`` (a digest is cut too)."""
    image = image.split("@", 1)[0]
    head, _, tail = image.rpartition("/")
    return f"{head}/{tail.split(':', 1)[0]}" if head else tail.split(":", 1)[0]


def _action_matches(action: str, wanted: str) -> bool:
    if action == "*" or action == wanted:
        return True
    if action.endswith("*"):
        return wanted.startswith(action[:-1])
    return False


def _buffering(hints: Any) -> str | None:
    if not isinstance(hints, dict):
        return None
    parts = []
    if hints.get("IntervalInSeconds") is not None:
        parts.append(f"{hints['IntervalInSeconds']} s")
    if hints.get("SizeInMBs") is not None:
        parts.append(f"{hints['SizeInMBs']} MiB")
    return " / ".join(parts) or None


def event_pattern_summary(props: dict) -> str:
    if props.get("ScheduleExpression"):
        return f"schedule {flatten(props['ScheduleExpression'])}"
    pattern = props.get("EventPattern") or {}
    if not isinstance(pattern, dict):
        return flatten(pattern)
    parts = []
    for key in ("source", "detail-type"):
        values = as_list(pattern.get(key))
        if values:
            parts.append(" or ".join(flatten(v) for v in values))
    return ": ".join(parts) or "custom pattern"
