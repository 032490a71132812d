"""The calls dagster-cloud's and dagster-aws's real launchers make (recorded against moto by launcher_calls.py),
evaluated against the prod templates' policies as IAM does: every one allowed, for the principal that makes it."""

from __future__ import annotations

import pytest

from tests.authz import launcher_calls
from tests.authz.platform import Authorizer
from tests.authz.world import TemplateWorld


@pytest.fixture(scope="module")
def authorizer(synthesized) -> Authorizer:
    templates = synthesized.templates["prod"]
    bindings = launcher_calls.template_bindings(templates["platform"])
    # The compute-log key lives in the storage stack; the recording's moto world created its own.
    [key_id] = [i for i, r in templates["storage"]["Resources"].items() if r["Type"] == "AWS::KMS::Key" and i.startswith("ComputeLogsKey")]
    bindings[key_id] = {"Arn": launcher_calls.bindings()["compute_log_key_arn"]}
    return Authorizer(TemplateWorld(templates, bindings=bindings))


def _principal(authorizer: Authorizer, principal: str):
    if principal == launcher_calls.AGENT:
        return authorizer.role("AgentTaskRole")
    assert principal == launcher_calls.RUN_WORKER, principal
    # The run worker runs as its code location's task role.
    return authorizer.role(f"Location{launcher_calls.RUN_WORKER_LOCATION}TaskRole")


def test_every_call_the_real_launchers_make_is_allowed(authorizer):
    by_principal = launcher_calls.authz_requests_by_principal()
    assert launcher_calls.AGENT in by_principal and len(by_principal) >= 2, by_principal.keys()
    denied = []
    for principal, requests in by_principal.items():
        role = _principal(authorizer, principal)
        for request in requests:
            decision = authorizer.check(role, request)
            if not decision:
                denied.append(f"{role.logical_id}: {request.action} ({request.origin}): {decision.reason}")
    assert not denied, "\n".join(sorted(set(denied)))


#: Granted, though no recorded call needs it, and why.
NOT_RECORDED = {
    # Cloud Map changes the namespace's DNS records on the caller's behalf when it deregisters an instance
    # (Cloud Map's API permissions reference); moto does not model that second authorization.
    "route53:ChangeResourceRecordSets",
    # Compute logs: the agent serves the Dagster+ UI's log views from the bucket (presigned URLs are signed with the
    # agent's credentials, which is not an API call the recorder can see).
    "s3:GetObject", "s3:ListBucket", "s3:PutObject", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
}


def test_the_agent_is_granted_nothing_the_launchers_never_call(authorizer):
    """Each action in the agent's task role is used by a recorded call, or is one of the few listed above."""
    used = {request.action for request in launcher_calls.agent_authz_requests()}
    granted = {
        action
        for policy in authorizer.role("AgentTaskRole").policies
        for statement in policy.statements()
        if statement["Effect"] == "Allow"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert granted - used - NOT_RECORDED == set(), f"granted but never called: {sorted(granted - used - NOT_RECORDED)}"
    assert NOT_RECORDED <= granted, "an exception above is no longer granted: remove it from the list"
