"""The calls AWS services make on the platform's behalf, derived from how the templates wire resources together.

Each wire in a template (an alarm action, a subscription, a rule target, a dead-letter queue, an SES event
destination, a log subscription, a Firehose destination, a task definition's image, logs and secrets, an encrypted log
group, a flow log, an access-log bucket, an event source mapping) becomes the authorizations AWS performs when it
uses that wire, with the request context the service sends (``aws:SourceArn``, ``aws:SourceAccount``, encryption
context). Nothing is listed by hand: a new wire in a template is a new request here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from .iam import Principal, as_list
from .platform import Authorizer, Role
from .requests import AuthzRequest
from .world import Resource, TemplateWorld


@dataclass(frozen=True)
class Call:
    """One authorization: who asks (a role or a service), for what, and — for services — which role they assume."""

    principal: Role | Principal
    request: AuthzRequest

    @property
    def who(self) -> str:
        return self.principal.name if isinstance(self.principal, Role) else str(self.principal)


@dataclass(frozen=True)
class Assumption:
    service: str
    role: Role
    context: Mapping[str, str]
    origin: str


def _key_of(world: TemplateWorld, resource: Resource, prop: str) -> str | None:
    value = world.props(resource).get(prop)
    if not value or not str(value).startswith("arn:"):
        return None if not value else f"alias-or-id:{value}"
    return value


def _kms(principal, key: str | None, actions: tuple[str, ...], context: dict, origin: str) -> Iterator[Call]:
    if key is None:
        return
    for action in actions:
        yield Call(principal, AuthzRequest(action, (key,), context, origin))


class Wiring:
    def __init__(self, authorizer: Authorizer) -> None:
        self.auth = authorizer
        self.world = authorizer.world
        w = self.world
        self.topic_keys = {w.ref(r): _key_of(w, r, "KmsMasterKeyId") for r in w.resources("AWS::SNS::Topic")}
        self.queue_keys = {w.arn(r): _key_of(w, r, "KmsMasterKeyId") for r in w.resources("AWS::SQS::Queue")}
        self.queue_redrive = {
            w.arn(r): w.props(r).get("RedrivePolicy", {}).get("deadLetterTargetArn") for r in w.resources("AWS::SQS::Queue")
        }

    def source(self, service: str) -> Principal:
        return Principal(service=service, account=self.world.account)

    def ctx(self, source_arn: str | None = None, **extra: str) -> dict:
        context = {"aws:SourceAccount": self.world.account, **extra}
        if source_arn:
            context["aws:SourceArn"] = source_arn
        return context

    # -- the wires ----------------------------------------------------------------------------------------------
    def publish_to_topic(self, service: str, topic: str, source_arn: str, origin: str) -> Iterator[Call]:
        who = self.source(service)
        context = self.ctx(source_arn)
        yield Call(who, AuthzRequest("sns:Publish", (topic,), context, origin))
        yield from _kms(who, self.topic_keys.get(topic), ("kms:GenerateDataKey", "kms:Decrypt"), context, origin)

    def send_to_queue(self, service: str, queue: str, source_arn: str, origin: str) -> Iterator[Call]:
        who = self.source(service)
        context = self.ctx(source_arn)
        yield Call(who, AuthzRequest("sqs:SendMessage", (queue,), context, origin))
        yield from _kms(who, self.queue_keys.get(queue), ("kms:GenerateDataKey", "kms:Decrypt"), context, origin)

    def alarms(self) -> Iterator[Call]:
        w = self.world
        for alarm in w.resources("AWS::CloudWatch::Alarm"):
            props = w.props(alarm)
            for action in {*props.get("AlarmActions", []), *props.get("OKActions", []), *props.get("InsufficientDataActions", [])}:
                if action.startswith("arn:aws:sns:"):
                    yield from self.publish_to_topic(
                        "cloudwatch.amazonaws.com", action, w.arn(alarm), f"alarm {alarm.logical_id} -> {action.split(':')[-1]}"
                    )

    def subscriptions(self) -> Iterator[Call]:
        w = self.world
        for sub in w.resources("AWS::SNS::Subscription"):
            props = w.props(sub)
            topic = props["TopicArn"]
            if props["Protocol"] == "sqs":
                yield from self.send_to_queue("sns.amazonaws.com", props["Endpoint"], topic, f"{sub.logical_id}: topic -> queue")
            redrive = props.get("RedrivePolicy", {}).get("deadLetterTargetArn")
            if redrive:
                yield from self.send_to_queue("sns.amazonaws.com", redrive, topic, f"{sub.logical_id}: undeliverable -> DLQ")

    def rules(self) -> Iterator[Call]:
        w = self.world
        for rule in w.resources("AWS::Events::Rule"):
            rule_arn = w.arn(rule)
            for target in w.props(rule).get("Targets", []):
                arn = target["Arn"]
                origin = f"rule {rule.logical_id} -> {arn.split(':')[2]}"
                if arn.startswith("arn:aws:sqs:"):
                    yield from self.send_to_queue("events.amazonaws.com", arn, rule_arn, origin)
                elif arn.startswith("arn:aws:logs:"):
                    group = arn.split(":log-group:", 1)[1].removesuffix(":*")
                    stream = f"{self.world.partition_arn('logs', f'log-group:{group}')}:log-stream:rule-stream"
                    who = self.source("events.amazonaws.com")
                    context = self.ctx(rule_arn)
                    yield Call(who, AuthzRequest("logs:CreateLogStream", (f"{self.world.partition_arn('logs', f'log-group:{group}')}:*",), context, origin))
                    yield Call(who, AuthzRequest("logs:PutLogEvents", (stream,), context, origin))
                else:
                    raise AssertionError(f"{rule.logical_id}: no wiring known for target {arn}")
                dlq = target.get("DeadLetterConfig", {}).get("Arn")
                if dlq:
                    yield from self.send_to_queue("events.amazonaws.com", dlq, rule_arn, f"rule {rule.logical_id}: failed -> DLQ")

    def ses_events(self) -> Iterator[Call]:
        w = self.world
        for dest in w.resources("AWS::SES::ConfigurationSetEventDestination"):
            props = w.props(dest)
            topic = props["EventDestination"].get("SnsDestination", {}).get("TopicARN")
            if topic:
                config_set = w.partition_arn("ses", f"configuration-set/{props['ConfigurationSetName']}")
                yield from self.publish_to_topic("ses.amazonaws.com", topic, config_set, f"SES events of {props['ConfigurationSetName']}")

    def encrypted_log_groups(self) -> Iterator[Call]:
        w = self.world
        logs_service = f"logs.{w.region}.amazonaws.com"
        for group in w.resources("AWS::Logs::LogGroup"):
            key = w.props(group).get("KmsKeyId")
            if key:
                name = w.ref(group)
                context = {"kms:EncryptionContext:aws:logs:arn": w.partition_arn("logs", f"log-group:{name}")}
                for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:DescribeKey"):
                    yield Call(self.source(logs_service), AuthzRequest(action, (key,), context, f"log group {name} on its key"))

    def unencrypted_log_groups(self) -> list[str]:
        return [self.world.ref(g) for g in self.world.resources("AWS::Logs::LogGroup") if not self.world.props(g).get("KmsKeyId")]

    def log_subscriptions(self) -> Iterator[Call | Assumption]:
        w = self.world
        for sub in w.resources("AWS::Logs::SubscriptionFilter"):
            props = w.props(sub)
            role = self.auth.role_by_arn(props["RoleArn"])
            group_arn = w.partition_arn("logs", f"log-group:{props['LogGroupName']}:*")
            yield Assumption(f"logs.{w.region}.amazonaws.com", role, self.ctx(group_arn), f"subscription {props['FilterName']}")
            for action in ("firehose:PutRecord", "firehose:PutRecordBatch"):
                yield Call(role, AuthzRequest(action, (props["DestinationArn"],), {}, f"subscription {props['FilterName']}"))

    def firehose(self) -> Iterator[Call | Assumption]:
        w = self.world
        for stream in w.resources("AWS::KinesisFirehose::DeliveryStream"):
            props = w.props(stream)
            origin = f"firehose {stream.logical_id}"
            destinations = []
            if "HttpEndpointDestinationConfiguration" in props:
                http = props["HttpEndpointDestinationConfiguration"]
                destinations.append(http["S3Configuration"])
                role = self.auth.role_by_arn(http["RoleARN"])
                yield Assumption("firehose.amazonaws.com", role, {"sts:ExternalId": w.account}, origin)
                secret = http.get("SecretsManagerConfiguration", {})
                if secret.get("Enabled"):
                    arn = secret["SecretARN"]
                    if not _has_suffix(arn):
                        arn = f"{arn}-AbCdEf"
                    yield Call(self.auth.role_by_arn(secret["RoleARN"]), AuthzRequest("secretsmanager:GetSecretValue", (arn,), {}, f"{origin}: API key"))
                yield from self._log_writes(role, http.get("CloudWatchLoggingOptions"), origin)
            if "ExtendedS3DestinationConfiguration" in props:
                destinations.append(props["ExtendedS3DestinationConfiguration"])
            for s3 in destinations:
                role = self.auth.role_by_arn(s3["RoleARN"])
                yield Assumption("firehose.amazonaws.com", role, {"sts:ExternalId": w.account}, origin)
                bucket = s3["BucketARN"]
                for action in ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"):
                    yield Call(role, AuthzRequest(action, (bucket,), {}, f"{origin} -> S3"))
                for action in ("s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"):
                    yield Call(role, AuthzRequest(action, (f"{bucket}/logs/object.gz",), {}, f"{origin} -> S3"))
                yield from self._log_writes(role, s3.get("CloudWatchLoggingOptions"), origin)

    def _log_writes(self, role: Role, options: Mapping | None, origin: str) -> Iterator[Call]:
        if not options or not options.get("Enabled"):
            return
        group = self.world.partition_arn("logs", f"log-group:{options['LogGroupName']}")
        yield Call(role, AuthzRequest("logs:PutLogEvents", (f"{group}:log-stream:{options['LogStreamName']}",), {}, f"{origin}: error log"))

    def flow_logs(self) -> Iterator[Call | Assumption]:
        w = self.world
        for flow in w.resources("AWS::EC2::FlowLog"):
            props = w.props(flow)
            role = self.auth.role_by_arn(props["DeliverLogsPermissionArn"])
            flow_arn = w.partition_arn("ec2", "vpc-flow-log/fl-0123456789abcdef0")
            yield Assumption("vpc-flow-logs.amazonaws.com", role, self.ctx(flow_arn), f"flow log {flow.logical_id}")
            group = w.partition_arn("logs", f"log-group:{props['LogGroupName']}")
            for action in ("logs:CreateLogStream", "logs:DescribeLogStreams"):
                yield Call(role, AuthzRequest(action, (f"{group}:*",), {}, "flow log delivery"))
            yield Call(role, AuthzRequest("logs:PutLogEvents", (f"{group}:log-stream:eni-0abc-all",), {}, "flow log delivery"))

    def access_logs(self) -> Iterator[Call]:
        w = self.world
        for bucket in w.resources("AWS::S3::Bucket"):
            props = w.props(bucket)
            logging = props.get("LoggingConfiguration")
            if logging and logging.get("DestinationBucketName"):
                target = f"arn:aws:s3:::{logging['DestinationBucketName']}/{logging.get('LogFilePrefix', '')}2026-12-02-00-00-00-ABCDEF"
                yield Call(
                    self.source("logging.s3.amazonaws.com"),
                    AuthzRequest("s3:PutObject", (target,), self.ctx(w.arn(bucket)), f"access logs of {w.ref(bucket)}"),
                )

    def lambdas(self) -> Iterator[Call | Assumption]:
        w = self.world
        functions = {w.ref(f): f for f in w.resources("AWS::Lambda::Function")}
        for name, function in functions.items():
            props = w.props(function)
            role = self.auth.role_by_arn(props["Role"])
            yield Assumption("lambda.amazonaws.com", role, {}, f"function {function.logical_id}")
            group = props.get("LoggingConfig", {}).get("LogGroup")
            if group:
                group_arn = w.partition_arn("logs", f"log-group:{group}")
                yield Call(role, AuthzRequest("logs:CreateLogStream", (f"{group_arn}:*",), {}, f"{function.logical_id} logs"))
                yield Call(role, AuthzRequest("logs:PutLogEvents", (f"{group_arn}:log-stream:2026/12/02/[$LATEST]abc",), {}, f"{function.logical_id} logs"))
            if props.get("TracingConfig", {}).get("Mode") == "Active":
                for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
                    yield Call(role, AuthzRequest(action, ("*",), {}, f"{function.logical_id} tracing"))
        for mapping in w.resources("AWS::Lambda::EventSourceMapping"):
            props = w.props(mapping)
            function = functions[props["FunctionName"]]
            role = self.auth.role_by_arn(w.props(function)["Role"])
            queue = props["EventSourceArn"]
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
                yield Call(role, AuthzRequest(action, (queue,), {}, f"{mapping.logical_id}: poll"))
            yield from _kms(role, self.queue_keys.get(queue), ("kms:Decrypt",), {}, f"{mapping.logical_id}: poll")

    def task_definitions(self) -> Iterator[Call | Assumption]:
        w = self.world
        for task in w.resources("AWS::ECS::TaskDefinition"):
            props = w.props(task)
            origin = f"task definition {props.get('Family', task.logical_id)}"
            yield from self.ecs_task(
                origin,
                task_role=props.get("TaskRoleArn"),
                execution_role=props.get("ExecutionRoleArn"),
                images=[c["Image"] for c in props["ContainerDefinitions"]],
                secrets=[s["ValueFrom"] for c in props["ContainerDefinitions"] for s in c.get("Secrets", [])],
                log_groups=[
                    c["LogConfiguration"]["Options"]["awslogs-group"]
                    for c in props["ContainerDefinitions"]
                    if c.get("LogConfiguration", {}).get("LogDriver") == "awslogs"
                ],
            )

    def ecs_task(self, origin, *, task_role, execution_role, images, secrets, log_groups) -> Iterator[Call | Assumption]:
        """What ECS does to start a task: assume its roles, pull images, write logs, fetch each secret."""
        w = self.world
        task_context = self.ctx(w.partition_arn("ecs", "task/cluster/0123456789abcdef"))
        if task_role:
            yield Assumption("ecs-tasks.amazonaws.com", self.auth.role_by_arn(task_role), task_context, origin)
        if not execution_role:
            return
        role = self.auth.role_by_arn(execution_role)
        yield Assumption("ecs-tasks.amazonaws.com", role, task_context, origin)
        for image in images:
            if ".dkr.ecr." in image:
                repository = image.split("/", 1)[1].split(":")[0].split("@")[0]
                repo_arn = w.partition_arn("ecr", f"repository/{repository}")
                yield Call(role, AuthzRequest("ecr:GetAuthorizationToken", ("*",), {}, f"{origin}: pull {repository}"))
                for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
                    yield Call(role, AuthzRequest(action, (repo_arn,), {}, f"{origin}: pull {repository}"))
        for group in log_groups:
            group_arn = w.partition_arn("logs", f"log-group:{group}")
            yield Call(role, AuthzRequest("logs:CreateLogStream", (f"{group_arn}:*",), {}, f"{origin}: awslogs"))
            yield Call(role, AuthzRequest("logs:PutLogEvents", (f"{group_arn}:log-stream:prefix/container/0123",), {}, f"{origin}: awslogs"))
        for value_from in secrets:
            yield Call(role, secret_fetch(value_from, w, origin))

    def agent_environment(self) -> dict[str, str]:
        """The agent container's environment: the values its ``{env: NAME}`` references resolve to."""
        w = self.world
        for task in w.resources("AWS::ECS::TaskDefinition"):
            for container in w.props(task)["ContainerDefinitions"]:
                env = {item["Name"]: item["Value"] for item in container.get("Environment", [])}
                if "DAGSTER_PLATFORM_AGENT_CONFIG" in env:
                    return env
        raise AssertionError("no agent task definition")

    def code_locations(self, dagster_cloud_yaml: str, secret_tags: Mapping[str, str] | None = None) -> Iterator[Call | Assumption]:
        """What ECS does for each code location's servers and runs, from its rendered ``container_context.ecs``:
        assume its roles, pull its image from its repository, write to the workload log group, fetch each secret
        (named ones by ``valueFrom``; tagged ones as the agent finds them, carrying ``secret_tags``)."""
        import yaml

        w = self.world
        env = self.agent_environment()
        document = yaml.safe_load(dagster_cloud_yaml)
        for location in document["locations"]:
            ecs = location["container_context"]["ecs"]
            origin = f"code location {location['location_name']}"
            resolve = lambda value: env[value["env"]] if isinstance(value, dict) else value  # noqa: E731
            repository = f"dagster/{self.environment}/{location['location_name']}"
            image = f"{w.account}.dkr.ecr.{w.region}.amazonaws.com/{repository}:v1"
            yield from self.ecs_task(
                origin,
                task_role=resolve(ecs["task_role_arn"]),
                execution_role=resolve(ecs["execution_role_arn"]),
                images=[image],
                secrets=[item["valueFrom"] for item in ecs.get("secrets", [])],
                log_groups=[env["DAGSTER_PLATFORM_WORKLOAD_LOG_GROUP"]],
            )
            role = self.auth.role_by_arn(resolve(ecs["execution_role_arn"]))
            for tag in ecs.get("secrets_tags", []):
                arn = w.partition_arn("secretsmanager", f"secret:tagged/{tag}-AbCdEf")
                context = {f"aws:ResourceTag/{tag}": self.environment, **(secret_tags or {})}
                yield Call(role, AuthzRequest("secretsmanager:GetSecretValue", (arn,), context, f"{origin}: secret tagged {tag}"))

    @property
    def environment(self) -> str:
        return self.agent_environment()["DAGSTER_PLATFORM_ENVIRONMENT"]

    def all(self, dagster_cloud_yaml: str | None = None) -> tuple[list[Call], list[Assumption]]:
        calls, assumptions = [], []
        sources = [
            self.alarms, self.subscriptions, self.rules, self.ses_events, self.encrypted_log_groups, self.log_subscriptions,
            self.firehose, self.flow_logs, self.access_logs, self.lambdas, self.task_definitions,
        ]
        if dagster_cloud_yaml is not None:
            sources.append(lambda: self.code_locations(dagster_cloud_yaml))
        for source in sources:
            for item in source():
                (assumptions if isinstance(item, Assumption) else calls).append(item)
        return calls, assumptions


def _has_suffix(secret_arn: str) -> bool:
    name = secret_arn.split(":secret:", 1)[1].split(":", 1)[0]
    return len(name) > 7 and name[-7] == "-" and name[-6:].isalnum()


def secret_fetch(value_from: str, world: TemplateWorld, origin: str) -> AuthzRequest:
    """How ECS resolves a ``valueFrom``: a Secrets Manager ARN (full or partial, optionally ``:json-key:stage:version``)
    is read with GetSecretValue on the secret's full ARN; anything else is an SSM parameter (name or ARN)."""
    if value_from.startswith("arn:") and ":secretsmanager:" in value_from:
        head, name_and_rest = value_from.split(":secret:", 1)
        name = name_and_rest.split(":", 1)[0]
        full = f"{head}:secret:{name}" if _has_suffix(f"x:secret:{name}") else f"{head}:secret:{name}-AbCdEf"
        return AuthzRequest("secretsmanager:GetSecretValue", (full,), {}, f"{origin}: secret {value_from}")
    parameter = value_from if value_from.startswith("arn:") else world.partition_arn("ssm", f"parameter/{value_from.lstrip('/')}")
    return AuthzRequest("ssm:GetParameters", (parameter,), {}, f"{origin}: {value_from} read as an SSM parameter")


def as_calls(items) -> list[Call]:
    return [item for item in items if isinstance(item, Call)]


__all__ = ["Assumption", "Call", "Wiring", "secret_fetch", "as_list"]
