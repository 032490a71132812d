"""Every IAM role of an environment: who may assume it and what each statement allows.

Policies reach a role three ways in a template: inline (``Policies`` of the role), an
``AWS::IAM::Policy`` or ``AWS::IAM::ManagedPolicy`` whose ``Roles`` names the role (by Ref, an
import of another stack's export, or a literal role name), and ``ManagedPolicyArns`` of the role
pointing at a managed policy of the same templates. AWS managed policies are listed by ARN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Environment, Resource, Stack, as_list, flatten, iter_statements

POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


@dataclass(frozen=True)
class Statement:
    source: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: str
    sid: str | None = None
    negated_actions: bool = False
    negated_resources: bool = False

    @property
    def any_resource(self) -> bool:
        """An Allow whose Resource is exactly ``*`` (alone or as one entry of the list)."""
        return self.effect == "Allow" and not self.negated_resources and "*" in self.resources

    def describe(self) -> str:
        """One line, stable across synths, used to compare statements between versions."""
        actions = ("NOT " if self.negated_actions else "") + ", ".join(self.actions)
        resources = ("NOT " if self.negated_resources else "") + ", ".join(self.resources)
        text = f"{self.effect} {actions} on {resources}"
        return f"{text} when {self.conditions}" if self.conditions else text


@dataclass
class Role:
    resource: Resource
    trust: list[str]
    managed_policy_arns: list[str] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.resource.key

    @property
    def description(self) -> str | None:
        value = self.resource.props.get("Description")
        return flatten(value) if value is not None else None


def summarize_conditions(condition: Any) -> str:
    """``{"StringEquals": {"aws:SourceAccount": "1"}}`` -> ``aws:SourceAccount StringEquals 1``."""
    if not isinstance(condition, dict):
        return flatten(condition) if condition else ""
    parts = []
    for operator, tests in condition.items():
        if isinstance(tests, dict):
            for key, values in tests.items():
                parts.append(f"{key} {operator} {' or '.join(flatten(v) for v in as_list(values))}")
        else:
            parts.append(f"{operator} {flatten(tests)}")
    return "; ".join(parts)


def principals(statement: dict) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*" or principal is None:
        return ["anyone (*)"] if principal == "*" else []
    if isinstance(principal, dict):
        return [f"{kind}: {flatten(value)}" for kind, values in principal.items() for value in as_list(values)]
    return [flatten(principal)]


def statements_of(document: Any, source: str) -> list[Statement]:
    result = []
    for raw in iter_statements(document):
        actions = raw.get("Action") if "Action" in raw else raw.get("NotAction")
        resources = raw.get("Resource") if "Resource" in raw else raw.get("NotResource")
        result.append(
            Statement(
                source=source,
                effect=str(raw.get("Effect", "Allow")),
                actions=tuple(flatten(a) for a in as_list(actions)),
                resources=tuple(flatten(r) for r in as_list(resources)),
                conditions=summarize_conditions(raw.get("Condition")),
                sid=raw.get("Sid"),
                negated_actions="NotAction" in raw,
                negated_resources="NotResource" in raw,
            )
        )
    return result


def role_policies(env: Environment) -> dict[Resource, list[tuple[str, Stack, Any]]]:
    """Role -> [(source label, stack of the document, policy document)] for every policy it gets.

    Roles named by an attached policy but not defined in these templates are keyed by a
    placeholder resource of type ``external role``.
    """
    roles = env.resources("AWS::IAM::Role")
    result: dict[Resource, list[tuple[str, Stack, Any]]] = {role: [] for role in roles}
    attached: dict[Resource, set[Resource]] = {role: set() for role in roles}
    externals: dict[str, Resource] = {}
    for role in roles:
        for inline in as_list(role.props.get("Policies")):
            if isinstance(inline, dict):
                result[role].append((f"inline {flatten(inline.get('PolicyName'))}", role.stack, inline.get("PolicyDocument")))
    for policy in env.resources(*POLICY_TYPES):
        kind = "policy" if policy.type == "AWS::IAM::Policy" else "managed policy"
        for value in as_list(policy.props.get("Roles")):
            role = env.resolve(value, policy.stack, "AWS::IAM::Role")
            if role is None:
                name = flatten(value)
                role = externals.setdefault(
                    name, _external_role(policy.stack, name)
                )
                result.setdefault(role, [])
                attached.setdefault(role, set())
            if policy not in attached[role]:
                attached[role].add(policy)
                result[role].append((f"{kind} {policy.logical_id}", policy.stack, policy.props.get("PolicyDocument")))
    for role in roles:
        for arn in as_list(role.props.get("ManagedPolicyArns")):
            policy = env.resolve(arn, role.stack, "AWS::IAM::ManagedPolicy")
            if policy is not None and policy not in attached[role]:
                attached[role].add(policy)
                result[role].append((f"managed policy {policy.logical_id}", policy.stack, policy.props.get("PolicyDocument")))
    return result


def _external_role(stack: Stack, name: str) -> Resource:
    return Resource(stack, name, {"Type": "external role", "Properties": {"RoleName": name}})


def collect_roles(env: Environment) -> list[Role]:
    """Roles of the templates (in template order), then roles outside them that policies attach to."""
    roles = []
    for resource, documents in role_policies(env).items():
        trust_doc = resource.props.get("AssumeRolePolicyDocument")
        trust = []
        for raw in iter_statements(trust_doc):
            who = ", ".join(principals(raw)) or "(no principal)"
            actions = ", ".join(flatten(a) for a in as_list(raw.get("Action")))
            condition = summarize_conditions(raw.get("Condition"))
            effect = "" if raw.get("Effect", "Allow") == "Allow" else f"{raw.get('Effect')} "
            trust.append(f"{effect}{who} ({actions})" + (f" when {condition}" if condition else ""))
        managed = [
            flatten(arn) for arn in as_list(resource.props.get("ManagedPolicyArns"))
            if env.resolve(arn, resource.stack, "AWS::IAM::ManagedPolicy") is None
        ]
        statements = [s for source, _stack, document in documents for s in statements_of(document, source)]
        roles.append(Role(resource, trust or ["(defined outside these templates)"], managed, statements))
    return roles


def wildcard_statement_count(roles: list[Role]) -> int:
    return sum(1 for role in roles for statement in role.statements if statement.any_resource)


def proven_calls_of(logical_id: str) -> list[list[str]] | None:
    """``[action, resource, when]`` rows the authorization tests prove the role needs, from ``proven_calls.json``
    (kept current by tests/authz/test_proven_calls.py), keyed by the role's logical id without CDK's hash."""
    import json
    import re
    from importlib import resources

    proven = json.loads(resources.files(__package__).joinpath("proven_calls.json").read_text())
    return proven.get(re.sub(r"[0-9A-F]{8}$", "", logical_id))
