"""Who may do what in one synthesized environment: roles with their identity policies, resource policies by ARN.

``Authorizer(world).check(principal, request)`` evaluates like IAM (``iam.evaluate``) with every policy that
CloudFormation would attach: inline role policies, ``AWS::IAM::Policy``/``ManagedPolicy`` attached to the role, AWS
managed policies (their documents below), and the topic, queue, bucket, key, secret, log and Lambda resource policies
of the target. ``assume(service, role)`` checks a trust policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

from .iam import Decision, Policy, Principal, as_list, evaluate
from .requests import AuthzRequest
from .world import TemplateWorld

#: Documents of the AWS managed policies the platform may attach; any other is an error, not a silent pass.
AWS_MANAGED_POLICIES: dict[str, dict] = {
    # CDK's own custom-resource providers (default security group restriction, bucket auto-delete) use it.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    },
}


@dataclass(frozen=True)
class Role:
    logical_id: str
    stack: str
    name: str
    arn: str
    trust: Mapping
    policies: tuple[Policy, ...]

    @property
    def principal(self) -> Principal:
        return Principal(arn=self.arn)


class Authorizer:
    def __init__(self, world: TemplateWorld) -> None:
        self.world = world

    # -- roles --------------------------------------------------------------------------------------------------
    @cached_property
    def roles(self) -> dict[str, Role]:
        """By role ARN."""
        attached: dict[tuple[str, str], list[Policy]] = {}
        world = self.world
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for resource in world.resources(kind):
                props = world.props(resource)
                for role_name in as_list(props.get("Roles")):
                    attached.setdefault((resource.stack, role_name), []).append(
                        Policy(f"{resource.stack}/{resource.logical_id}", "identity", props["PolicyDocument"])
                    )
        roles = {}
        for resource in world.resources("AWS::IAM::Role"):
            props = world.props(resource)
            name = world.ref(resource)
            policies = [
                Policy(f"{resource.stack}/{resource.logical_id}/{p['PolicyName']}", "identity", p["PolicyDocument"])
                for p in props.get("Policies", [])
            ]
            for managed in props.get("ManagedPolicyArns", []):
                if managed not in AWS_MANAGED_POLICIES:
                    raise AssertionError(f"{resource.logical_id}: managed policy {managed} has no known document")
                policies.append(Policy(managed, "identity", AWS_MANAGED_POLICIES[managed]))
            # AWS::IAM::Policy names roles by Ref (the role name); roles in other stacks are referenced by name too.
            for (_stack, role_name), extra in attached.items():
                if role_name == name:
                    policies.extend(extra)
            arn = world.arn(resource)
            roles[arn] = Role(resource.logical_id, resource.stack, name, arn, props["AssumeRolePolicyDocument"], tuple(policies))
        return roles

    def role(self, logical_prefix: str, stack: str | None = None) -> Role:
        """The one role whose logical id starts with ``logical_prefix`` (in ``stack``)."""
        found = [
            role for role in self.roles.values()
            if role.logical_id.startswith(logical_prefix) and (stack is None or role.stack == stack)
        ]
        if len(found) != 1:
            raise LookupError(f"{len(found)} roles match {logical_prefix!r}: {[r.logical_id for r in found]}")
        return found[0]

    def role_by_arn(self, arn: str) -> Role:
        return self.roles[arn]

    # -- resource policies --------------------------------------------------------------------------------------
    @cached_property
    def resource_policies(self) -> dict[str, list[Policy]]:
        world = self.world
        out: dict[str, list[Policy]] = {}

        def add(arn: str, policy: Policy) -> None:
            out.setdefault(arn, []).append(policy)

        for resource in world.resources("AWS::SNS::TopicPolicy"):
            props = world.props(resource)
            for topic in props["Topics"]:
                add(topic, Policy(f"{resource.stack}/{resource.logical_id}", "resource", props["PolicyDocument"]))
        for resource in world.resources("AWS::SQS::QueuePolicy"):
            props = world.props(resource)
            for url in props["Queues"]:
                add(queue_arn_from_url(url), Policy(f"{resource.stack}/{resource.logical_id}", "resource", props["PolicyDocument"]))
        for resource in world.resources("AWS::KMS::Key"):
            props = world.props(resource)
            add(world.arn(resource), Policy(f"{resource.stack}/{resource.logical_id}", "key", props["KeyPolicy"]))
        for resource in world.resources("AWS::SecretsManager::ResourcePolicy"):
            props = world.props(resource)
            add(props["SecretId"], Policy(f"{resource.stack}/{resource.logical_id}", "resource", props["ResourcePolicy"]))
        for resource in world.resources("AWS::Lambda::Permission"):
            props = world.props(resource)
            statement = {
                "Effect": "Allow",
                "Action": props["Action"],
                "Principal": {"Service": props["Principal"]} if props["Principal"].endswith(".amazonaws.com") else props["Principal"],
                "Resource": props["FunctionName"],
            }
            conditions = {}
            if props.get("SourceArn"):
                conditions.setdefault("ArnLike", {})["aws:SourceArn"] = props["SourceArn"]
            if props.get("SourceAccount"):
                conditions.setdefault("StringEquals", {})["aws:SourceAccount"] = props["SourceAccount"]
            if props.get("FunctionUrlAuthType"):
                conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = props["FunctionUrlAuthType"]
            if conditions:
                statement["Condition"] = conditions
            add(props["FunctionName"], Policy(f"{resource.stack}/{resource.logical_id}", "resource", {"Statement": [statement]}))
        return out

    @cached_property
    def _bucket_policies(self) -> dict[str, Policy]:
        """By bucket name: a bucket policy applies to the bucket and every object in it."""
        world = self.world
        return {
            world.props(r)["Bucket"]: Policy(f"{r.stack}/{r.logical_id}", "resource", world.props(r)["PolicyDocument"])
            for r in world.resources("AWS::S3::BucketPolicy")
        }

    @cached_property
    def _logs_policies(self) -> list[Policy]:
        """CloudWatch Logs resource policies are account-wide: each applies to every log group it names."""
        return [
            Policy(f"{r.stack}/{r.logical_id}", "resource", _json(self.world.props(r)["PolicyDocument"]))
            for r in self.world.resources("AWS::Logs::ResourcePolicy")
        ]

    def policies_on(self, resource_arn: str) -> list[Policy]:
        policies = list(self.resource_policies.get(resource_arn, ()))
        if resource_arn.startswith("arn:aws:s3:::"):
            bucket = resource_arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            if bucket in self._bucket_policies:
                policies.append(self._bucket_policies[bucket])
        if resource_arn.startswith("arn:aws:logs:"):
            policies.extend(self._logs_policies)
        if resource_arn.startswith("arn:aws:lambda:"):
            function = resource_arn.split(":")[6]
            policies.extend(self.resource_policies.get(function, ()))
        return policies

    # -- decisions ----------------------------------------------------------------------------------------------
    def check(self, principal: Role | Principal, request: AuthzRequest) -> Decision:
        if isinstance(principal, Role):
            identity, who = list(principal.policies), principal.principal
        else:
            identity, who = [], principal
        return evaluate(
            request,
            who,
            identity=identity,
            resource_policies={resource: self.policies_on(resource) for resource in request.resources},
            account=self.world.account,
        )

    def assume(self, service: str, role: Role, context: Mapping[str, str] | None = None) -> Decision:
        """May ``service`` assume ``role`` (its trust policy), with the request context the service sends?"""
        request = AuthzRequest("sts:AssumeRole", (role.arn,), dict(context or {}), f"{service} assumes {role.name}")
        return evaluate(
            request,
            Principal(service=service),
            identity=[],
            resource_policies={role.arn: [Policy(f"{role.logical_id}/trust", "trust", role.trust)]},
            account=self.world.account,
        )


def queue_arn_from_url(url: str) -> str:
    # https://sqs.<region>.amazonaws.com/<account>/<name>
    host, account, name = url.removeprefix("https://").split("/")
    region = host.split(".")[1]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value
