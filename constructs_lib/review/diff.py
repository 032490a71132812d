"""Changes of an environment against a baseline ``cdk.out``: resources, likely replacements, IAM.

Resources are compared by stack display name and logical id, ignoring ``Metadata`` (cdk-nag
acknowledgments and CDK paths change nothing in AWS). A changed property in
:data:`REPLACEMENT_PROPERTIES` (or a changed type) means CloudFormation will most likely create a
new resource and delete the old one: new names, new data stores, possibly lost data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .iam import collect_roles
from .model import Environment, Resource

#: Properties whose change replaces the resource, for the types this platform uses. ``*``: any
#: property except Tags (task definitions are immutable; a change registers a new revision).
REPLACEMENT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::DynamoDB::Table": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::SQS::Queue": ("QueueName", "FifoQueue"),
    "AWS::SNS::Topic": ("TopicName", "FifoTopic"),
    "AWS::ECS::Cluster": ("ClusterName",),
    "AWS::ECS::Service": ("ServiceName", "Cluster", "LaunchType", "Role", "SchedulingStrategy"),
    "AWS::ECS::TaskDefinition": ("*",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Logs::SubscriptionFilter": ("FilterName", "LogGroupName"),
    "AWS::IAM::Role": ("RoleName", "Path"),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "Path"),
    "AWS::EC2::VPC": ("CidrBlock",),
    "AWS::EC2::Subnet": ("CidrBlock", "AvailabilityZone", "VpcId"),
    "AWS::EC2::SecurityGroup": ("GroupName", "GroupDescription", "VpcId"),
    "AWS::EC2::NatGateway": ("SubnetId", "AllocationId", "ConnectivityType"),
    "AWS::EC2::VPCEndpoint": ("ServiceName", "VpcId", "VpcEndpointType"),
    "AWS::ServiceDiscovery::PrivateDnsNamespace": ("Name", "Vpc"),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName", "DeliveryStreamType"),
    "AWS::Lambda::Function": ("FunctionName", "PackageType"),
    "AWS::Lambda::Url": ("TargetFunctionArn", "Qualifier"),
    "AWS::Lambda::EventSourceMapping": ("EventSourceArn", "StartingPosition"),
    "AWS::SNS::Subscription": ("Protocol", "Endpoint", "TopicArn"),
    "AWS::Events::Rule": ("Name", "EventBusName"),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::SES::EmailIdentity": ("EmailIdentity",),
    "AWS::ECR::Repository": ("RepositoryName",),
}
ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy", "DependsOn", "Condition", "UpdatePolicy", "CreationPolicy")


@dataclass
class ResourceChange:
    stack: str
    logical_id: str
    type: str
    change: str  # added | removed | modified
    properties: list[str] = field(default_factory=list)
    replacement: list[str] = field(default_factory=list)


@dataclass
class StackDiff:
    name: str
    status: str  # added | removed | changed | unchanged
    changes: list[ResourceChange] = field(default_factory=list)

    def of(self, change: str) -> list[ResourceChange]:
        return [c for c in self.changes if c.change == change]


@dataclass
class RoleDiff:
    key: str
    status: str  # added | removed | changed
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    trust_before: list[str] | None = None
    trust_after: list[str] | None = None


@dataclass
class EnvironmentDiff:
    name: str
    is_new: bool = False
    stacks: list[StackDiff] = field(default_factory=list)
    roles: list[RoleDiff] = field(default_factory=list)

    @property
    def changes(self) -> list[ResourceChange]:
        return [c for s in self.stacks for c in s.changes]

    @property
    def replacements(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.replacement]


def _comparable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "Metadata"}


def _changed_keys(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def compare_resources(stack: str, old: Resource, new: Resource) -> ResourceChange | None:
    if _comparable(old.body) == _comparable(new.body):
        return None
    properties = _changed_keys(old.props, new.props)
    attributes = [f"({name})" for name in ATTRIBUTES if old.body.get(name) != new.body.get(name)]
    replacement: list[str] = []
    if old.type != new.type:
        replacement = [f"Type {old.type} -> {new.type}"]
    else:
        forcing = REPLACEMENT_PROPERTIES.get(new.type, ())
        if "*" in forcing:
            replacement = [p for p in properties if p != "Tags"]
        else:
            replacement = [p for p in properties if p in forcing]
    return ResourceChange(stack, new.logical_id, new.type, "modified", properties + attributes, replacement)


def diff_environments(new: Environment, old: Environment | None) -> EnvironmentDiff:
    result = EnvironmentDiff(new.name)
    if old is None:
        result.is_new = True
        return result
    old_stacks = {s.name: s for s in old.stacks}
    new_stacks = {s.name: s for s in new.stacks}
    for name in list(new_stacks) + [n for n in old_stacks if n not in new_stacks]:
        before, after = old_stacks.get(name), new_stacks.get(name)
        status = "added" if before is None else "removed" if after is None else "changed"
        diff = StackDiff(name, status)
        before_resources = before.resources if before else {}
        after_resources = after.resources if after else {}
        for logical_id, resource in after_resources.items():
            if logical_id not in before_resources:
                diff.changes.append(ResourceChange(name, logical_id, resource.type, "added"))
        for logical_id, resource in before_resources.items():
            if logical_id not in after_resources:
                diff.changes.append(ResourceChange(name, logical_id, resource.type, "removed"))
        for logical_id, resource in after_resources.items():
            if logical_id in before_resources:
                change = compare_resources(name, before_resources[logical_id], resource)
                if change:
                    diff.changes.append(change)
        if status == "changed" and not diff.changes:
            diff.status = "unchanged"
        result.stacks.append(diff)
    result.roles = diff_roles(new, old)
    return result


def diff_roles(new: Environment, old: Environment) -> list[RoleDiff]:
    before = {role.key: role for role in collect_roles(old)}
    after = {role.key: role for role in collect_roles(new)}
    diffs = []
    for key in list(after) + [k for k in before if k not in after]:
        old_role, new_role = before.get(key), after.get(key)
        old_statements = Counter(s.describe() for s in old_role.statements) if old_role else Counter()
        new_statements = Counter(s.describe() for s in new_role.statements) if new_role else Counter()
        added = sorted((new_statements - old_statements).elements())
        removed = sorted((old_statements - new_statements).elements())
        trust_changed = old_role and new_role and old_role.trust != new_role.trust
        if old_role and new_role and not added and not removed and not trust_changed:
            continue
        status = "added" if old_role is None else "removed" if new_role is None else "changed"
        diffs.append(RoleDiff(
            key, status, added, removed,
            trust_before=old_role.trust if trust_changed else None,
            trust_after=new_role.trust if trust_changed else None,
        ))
    return diffs


def summary_counts(diff: EnvironmentDiff) -> dict[str, Any]:
    changes = diff.changes
    return {
        "added": sum(1 for c in changes if c.change == "added"),
        "removed": sum(1 for c in changes if c.change == "removed"),
        "modified": sum(1 for c in changes if c.change == "modified"),
        "replacements": len(diff.replacements),
        "roles": len(diff.roles),
    }
