"""IAM policy evaluation, as AWS documents it, for requests within one account.

Implements the parts of the evaluation logic the platform relies on: explicit deny wins; otherwise a request is
allowed when an identity policy or a resource policy allows it (same account), except for KMS keys, where the key
policy must allow the principal itself or delegate to the account's IAM policies; ``Action``/``NotAction``,
``Resource``/``NotResource``, ``Principal``; the condition operators and their ``...IfExists``, ``ForAnyValue:`` and
``ForAllValues:`` forms; missing keys (false, except negated operators and ``Null``); case-insensitive key names.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .requests import AuthzRequest


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's ``*`` and ``?`` (no character classes)."""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    translated = fnmatch.translate(pattern.replace("[", "[[]"))  # IAM has no character classes
    return re.match(translated, value, flags=re.S) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (resource may contain colons)."""
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return wildcard_match(pattern, value)
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts))


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a role (``arn``) or an AWS service (``service``)."""

    arn: str = ""
    service: str = ""
    account: str = ""

    def __str__(self) -> str:
        return self.arn or self.service


@dataclass
class Decision:
    allowed: bool
    reason: str
    matched: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.allowed


# -- conditions -----------------------------------------------------------------------------------------------------


def _string_ops(op: str):
    base = {
        "StringEquals": lambda p, v: p == v,
        "StringNotEquals": lambda p, v: p == v,
        "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
        "StringNotEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
        "StringLike": lambda p, v: wildcard_match(p, v),
        "StringNotLike": lambda p, v: wildcard_match(p, v),
        "ArnEquals": lambda p, v: p == v,
        "ArnNotEquals": lambda p, v: p == v,
        "ArnLike": arn_like,
        "ArnNotLike": arn_like,
        "Bool": lambda p, v: str(p).lower() == str(v).lower(),
        "NumericEquals": lambda p, v: float(v) == float(p),
        "NumericNotEquals": lambda p, v: float(v) == float(p),
        "NumericLessThan": lambda p, v: float(v) < float(p),
        "NumericLessThanEquals": lambda p, v: float(v) <= float(p),
        "NumericGreaterThan": lambda p, v: float(v) > float(p),
        "NumericGreaterThanEquals": lambda p, v: float(v) >= float(p),
        "IpAddress": lambda p, v: ipaddress.ip_address(v) in ipaddress.ip_network(p, strict=False),
        "NotIpAddress": lambda p, v: ipaddress.ip_address(v) in ipaddress.ip_network(p, strict=False),
    }
    return base.get(op)


NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike", "NumericNotEquals", "NotIpAddress"}


class UnsupportedCondition(Exception):
    pass


def condition_holds(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    """All operators, all keys of each: AND; values of one key: OR (for negated operators: NOR)."""
    lowered = {key.lower(): value for key, value in context.items()}
    for raw_operator, keys in (conditions or {}).items():
        qualifier, _, operator = raw_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, policy_values in keys.items():
            present = key.lower() in lowered
            request_values = [str(v) for v in as_list(lowered.get(key.lower()))]
            policy_values = [str(v) for v in as_list(policy_values)]
            if operator == "Null":
                wants_absent = policy_values[0].lower() == "true"
                if wants_absent == present:
                    return False
                continue
            compare = _string_ops(operator)
            if compare is None:
                raise UnsupportedCondition(raw_operator)
            if not present:
                if if_exists or operator in NEGATED:
                    continue
                return False
            negated = operator in NEGATED

            def one(value: str) -> bool:
                hit = any(compare(pattern, value) for pattern in policy_values)
                return not hit if negated else hit

            if qualifier == "ForAllValues":
                ok = all(one(value) for value in request_values)
            elif qualifier == "ForAnyValue":
                ok = any(one(value) for value in request_values)
            else:
                if len(request_values) != 1:
                    # A single-valued operator on a multi-valued key is a policy mistake AWS evaluates oddly.
                    ok = any(one(value) for value in request_values)
                else:
                    ok = one(request_values[0])
            if not ok:
                return False
    return True


# -- statements -----------------------------------------------------------------------------------------------------


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(wildcard_match(p, action, case_sensitive=False) for p in as_list(statement["NotAction"]))
    return any(wildcard_match(p, action, case_sensitive=False) for p in as_list(statement.get("Action")))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(arn_like(p, resource) or p == "*" for p in as_list(statement["NotResource"]))
    if "Resource" not in statement:  # trust policies and some resource policies omit it
        return True
    return any(p == "*" or arn_like(p, resource) for p in as_list(statement["Resource"]))


def principal_matches(statement_principal: Any, principal: Principal, account: str) -> bool:
    """Does a resource-policy ``Principal`` name this principal itself? (An account root delegates, see below.)"""
    if statement_principal == "*":
        return True
    for kind, values in (statement_principal or {}).items():
        for value in as_list(values):
            if kind == "Service" and principal.service and value == principal.service:
                return True
            if kind == "AWS":
                if value == "*":
                    return True
                if principal.arn and value == principal.arn:
                    return True
    return False


def principal_delegates_to_account(statement_principal: Any, account: str) -> bool:
    if not isinstance(statement_principal, Mapping):
        return False
    return any(v in (account, f"arn:aws:iam::{account}:root") for v in as_list(statement_principal.get("AWS")))


@dataclass(frozen=True)
class Policy:
    """A named policy document: ``kind`` is identity, resource, trust or key."""

    name: str
    kind: str
    document: Mapping[str, Any]

    def statements(self) -> list[Mapping[str, Any]]:
        return as_list(self.document.get("Statement"))


def _applicable(
    policy: Policy, request: AuthzRequest, resource: str, principal: Principal, context: Mapping[str, Any], account: str
) -> Iterable[tuple[str, Mapping[str, Any], bool]]:
    """(effect, statement, names principal directly) for each statement that matches the request."""
    for index, statement in enumerate(policy.statements()):
        if not _action_matches(statement, request.action) or not _resource_matches(statement, resource):
            continue
        direct = True
        if policy.kind != "identity":
            if "Principal" in statement:
                direct = principal_matches(statement["Principal"], principal, account)
                delegated = principal_delegates_to_account(statement["Principal"], account) and bool(principal.arn)
                if not direct and not delegated:
                    continue
            elif "NotPrincipal" in statement:
                if principal_matches(statement["NotPrincipal"], principal, account):
                    continue
        if not condition_holds(statement.get("Condition", {}), context):
            continue
        label = f"{policy.name}#{statement.get('Sid', index)}"
        yield statement["Effect"], {**statement, "_label": label}, direct


def evaluate(
    request: AuthzRequest,
    principal: Principal,
    *,
    identity: Sequence[Policy],
    resource_policies: Mapping[str, Sequence[Policy]],
    account: str,
) -> Decision:
    """Decide every resource of ``request``; all must be allowed. ``resource_policies``: resource ARN -> policies
    (topic, queue, bucket, key, secret policies that apply to that ARN)."""
    context = {"aws:SourceAccount": account, "aws:SecureTransport": "true", **request.context}
    if principal.arn:
        context.setdefault("aws:PrincipalArn", principal.arn)
        context.setdefault("aws:PrincipalAccount", account)
    if principal.service:
        context.setdefault("aws:PrincipalServiceName", principal.service)
    reasons, matched = [], []
    for resource in request.resources:
        policies_on_resource = list(resource_policies.get(resource, ()))
        identity_allow = resource_allow = delegated_allow = False
        for policy in [*identity, *policies_on_resource]:
            if policy.kind == "identity" and not principal.arn:
                continue
            for effect, statement, direct in _applicable(policy, request, resource, principal, context, account):
                if effect == "Deny":
                    return Decision(False, f"{request.action} on {resource}: explicit deny in {statement['_label']}")
                matched.append(statement["_label"])
                if policy.kind == "identity":
                    identity_allow = True
                elif direct:
                    resource_allow = True
                else:
                    delegated_allow = True
        is_key = resource.split(":")[2:3] == ["kms"] and ":key/" in resource
        if is_key:
            # Key policies are the root of trust: IAM policies count only if the key policy delegates to the account.
            allowed = resource_allow or (delegated_allow and identity_allow)
            if not allowed and not any(p.kind == "key" for p in policies_on_resource):
                allowed = False
                reasons.append(f"{request.action} on {resource}: no key policy known for this key")
                continue
        elif principal.service:
            allowed = resource_allow
        else:
            allowed = identity_allow or resource_allow
        if not allowed:
            reasons.append(f"{request.action} on {resource}: no statement allows {principal}")
    if reasons:
        return Decision(False, "; ".join(reasons), matched)
    return Decision(True, "allowed", matched)
