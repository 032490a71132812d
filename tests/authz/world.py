"""The synthesized templates of one environment as AWS would hold them: concrete names and ARNs.

CloudFormation resolves ``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub`` and pseudo parameters when it deploys.
:class:`TemplateWorld` does the same, for one account and region, so that policies can be evaluated against the ARNs
the platform's code and AWS services will actually use. Names CloudFormation would generate become
``<stack>-<logical id>``; ``bindings`` override a resource's physical values with those of a live (moto) resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]


@dataclass
class TemplateWorld:
    """``templates``: stack short name -> template. ``bindings``: logical id -> attribute -> value (``Ref``, ``Arn``...)."""

    templates: Mapping[str, dict]
    account: str = ACCOUNT
    region: str = REGION
    bindings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_id: dict[tuple[str, str], Resource] = {}
        for stack, template in self.templates.items():
            for logical_id, body in template.get("Resources", {}).items():
                self._by_id[(stack, logical_id)] = Resource(stack, logical_id, body["Type"], body.get("Properties", {}))
        self._parameters = {
            (stack, name): spec.get("Default", f"{stack}-{name}")
            for stack, template in self.templates.items()
            for name, spec in template.get("Parameters", {}).items()
        }

    # -- lookup -------------------------------------------------------------------------------------------------
    def resources(self, resource_type: str | None = None) -> Iterator[Resource]:
        for resource in self._by_id.values():
            if resource_type is None or resource.type == resource_type:
                yield resource

    def resource(self, stack: str, logical_id: str) -> Resource:
        return self._by_id[(stack, logical_id)]

    def props(self, resource: Resource) -> Any:
        """The resource's properties with every intrinsic resolved."""
        return self.resolve(resource.stack, resource.properties)

    def ref(self, resource: Resource) -> str:
        return self.attribute(resource, "Ref")

    def arn(self, resource: Resource) -> str:
        return self.attribute(resource, "Arn")

    # -- resolution ---------------------------------------------------------------------------------------------
    def resolve(self, stack: str, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(stack, item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self._ref(stack, value)
            if key == "Fn::GetAtt":
                logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.attribute(self.resource(stack, logical_id), attribute)
            if key == "Fn::Join":
                delimiter, items = value
                return delimiter.join(str(self.resolve(stack, item)) for item in self.resolve(stack, items))
            if key == "Fn::Sub":
                template, variables = (value, {}) if isinstance(value, str) else value
                variables = {name: self.resolve(stack, v) for name, v in variables.items()}
                return re.sub(
                    r"\$\{([^}]+)\}",
                    lambda m: str(variables[m.group(1)]) if m.group(1) in variables else str(self._sub_name(stack, m.group(1))),
                    template,
                )
            if key == "Fn::Select":
                index, items = value
                return self.resolve(stack, items)[int(self.resolve(stack, index))]
            if key == "Fn::Split":
                delimiter, text = value
                return str(self.resolve(stack, text)).split(delimiter)
            if key == "Fn::GetAZs":
                return [f"{self.region}a", f"{self.region}b", f"{self.region}c"]
            if key == "Fn::If":
                raise NotImplementedError("conditions are not used by the platform's templates")
        return {key: self.resolve(stack, value) for key, value in node.items()}

    def _sub_name(self, stack: str, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.attribute(self.resource(stack, logical_id), attribute)
        return self._ref(stack, name)

    def _ref(self, stack: str, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if (stack, name) in self._parameters:
            return self._parameters[(stack, name)]
        return self.attribute(self.resource(stack, name), "Ref")

    def attribute(self, resource: Resource, attribute: str) -> str:
        bound = self.bindings.get(resource.logical_id, {})
        if attribute in bound:
            return bound[attribute]
        return _physical(self, resource, attribute)

    def physical_name(self, resource: Resource, name_property: str | None) -> str:
        if name_property and name_property in resource.properties:
            return str(self.resolve(resource.stack, resource.properties[name_property]))
        return f"{resource.stack}-{resource.logical_id}"

    def partition_arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"


def _physical(world: TemplateWorld, resource: Resource, attribute: str) -> str:
    """What CloudFormation returns for ``Ref``/``GetAtt`` of each resource type the platform uses."""
    kind = resource.type
    arn = world.partition_arn
    name = lambda prop=None: world.physical_name(resource, prop)  # noqa: E731
    table: dict[str, dict[str, Any]] = {
        "AWS::IAM::Role": {
            "Ref": lambda: name("RoleName"),
            "Arn": lambda: arn("iam", f"role/{name('RoleName')}", region=False),
            "RoleId": lambda: f"AROA{resource.logical_id.upper()[:16]}",
        },
        "AWS::SNS::Topic": {"Ref": lambda: arn("sns", name("TopicName")), "TopicName": lambda: name("TopicName")},
        "AWS::SQS::Queue": {
            "Ref": lambda: f"https://sqs.{world.region}.amazonaws.com/{world.account}/{name('QueueName')}",
            "Arn": lambda: arn("sqs", name("QueueName")),
            "QueueName": lambda: name("QueueName"),
            "QueueUrl": lambda: f"https://sqs.{world.region}.amazonaws.com/{world.account}/{name('QueueName')}",
        },
        "AWS::S3::Bucket": {
            "Ref": lambda: name("BucketName").lower(),
            "Arn": lambda: f"arn:{PARTITION}:s3:::{name('BucketName').lower()}",
            "RegionalDomainName": lambda: f"{name('BucketName').lower()}.s3.{world.region}.amazonaws.com",
            "DomainName": lambda: f"{name('BucketName').lower()}.s3.amazonaws.com",
        },
        "AWS::KMS::Key": {
            "Ref": lambda: _fake_uuid(resource.logical_id),
            "Arn": lambda: arn("kms", f"key/{_fake_uuid(resource.logical_id)}"),
            "KeyId": lambda: _fake_uuid(resource.logical_id),
        },
        "AWS::KMS::Alias": {"Ref": lambda: name("AliasName")},
        "AWS::Logs::LogGroup": {
            "Ref": lambda: name("LogGroupName"),
            "Arn": lambda: arn("logs", f"log-group:{name('LogGroupName')}:*"),
        },
        "AWS::Logs::LogStream": {"Ref": lambda: name("LogStreamName")},
        "AWS::Lambda::Function": {
            "Ref": lambda: name("FunctionName"),
            "Arn": lambda: arn("lambda", f"function:{name('FunctionName')}"),
        },
        "AWS::Lambda::Url": {"FunctionUrl": lambda: f"https://{resource.logical_id.lower()}.lambda-url.{world.region}.on.aws/"},
        "AWS::Events::Rule": {
            "Ref": lambda: name("Name"),
            "Arn": lambda: arn("events", f"rule/{name('Name')}"),
        },
        "AWS::DynamoDB::Table": {
            "Ref": lambda: name("TableName"),
            "Arn": lambda: arn("dynamodb", f"table/{name('TableName')}"),
            "StreamArn": lambda: arn("dynamodb", f"table/{name('TableName')}/stream/2026-01-01T00:00:00.000"),
        },
        "AWS::SecretsManager::Secret": {
            "Ref": lambda: arn("secretsmanager", f"secret:{name('Name')}-AbCdEf"),
            "Id": lambda: arn("secretsmanager", f"secret:{name('Name')}-AbCdEf"),
        },
        "AWS::ECS::Cluster": {"Ref": lambda: name("ClusterName"), "Arn": lambda: arn("ecs", f"cluster/{name('ClusterName')}")},
        "AWS::ECS::TaskDefinition": {"Ref": lambda: arn("ecs", f"task-definition/{name('Family')}:1")},
        "AWS::ECS::Service": {
            "Ref": lambda: arn("ecs", f"service/{world.resolve(resource.stack, resource.properties.get('Cluster'))}/{name('ServiceName')}"),
            "Name": lambda: name("ServiceName"),
        },
        "AWS::ServiceDiscovery::PrivateDnsNamespace": {
            "Ref": lambda: f"ns-{resource.logical_id.lower()[:16]}",
            "Id": lambda: f"ns-{resource.logical_id.lower()[:16]}",
            "Arn": lambda: arn("servicediscovery", f"namespace/ns-{resource.logical_id.lower()[:16]}"),
            "HostedZoneId": lambda: f"Z{resource.logical_id.upper()[:20]}",
        },
        "AWS::KinesisFirehose::DeliveryStream": {
            "Ref": lambda: name("DeliveryStreamName"),
            "Arn": lambda: arn("firehose", f"deliverystream/{name('DeliveryStreamName')}"),
        },
        "AWS::SES::ConfigurationSet": {"Ref": lambda: name("Name")},
        "AWS::SES::EmailIdentity": {"Ref": lambda: name("EmailIdentity")},
        "AWS::ECR::Repository": {
            "Ref": lambda: name("RepositoryName"),
            "Arn": lambda: arn("ecr", f"repository/{name('RepositoryName')}"),
            "RepositoryUri": lambda: f"{world.account}.dkr.ecr.{world.region}.amazonaws.com/{name('RepositoryName')}",
        },
        "AWS::CloudWatch::Alarm": {
            "Ref": lambda: name("AlarmName"),
            "Arn": lambda: arn("cloudwatch", f"alarm:{name('AlarmName')}"),
        },
        "AWS::IAM::Policy": {"Ref": lambda: name("PolicyName")},
        "AWS::IAM::ManagedPolicy": {"Ref": lambda: arn("iam", f"policy/{name('ManagedPolicyName')}", region=False)},
    }
    getter = table.get(kind, {}).get(attribute)
    if getter is not None:
        return getter()
    if attribute == "Ref":
        return f"{resource.logical_id.lower()}-id"
    return f"{resource.logical_id}.{attribute}"


def _fake_uuid(seed: str) -> str:
    digits = "".join(f"{ord(c):02x}" for c in seed)[:32].ljust(32, "0")
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"
