"""The review report lists, per role, the calls the authz tests prove it needs; this keeps that list current.

After a deliberate change: ``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/authz/test_proven_calls.py``."""

from __future__ import annotations

import os

from tests.authz import launcher_calls
from tests.authz.platform import Authorizer, Role
from tests.authz.proven_calls import PROVEN_CALLS_FILE, allowed_only, entries, generalize, merge, render, role_key
from tests.authz.wiring import Wiring
from tests.authz.world import TemplateWorld


def _wiring_part(synthesized, environment: str) -> dict:
    authorizer = Authorizer(TemplateWorld(synthesized.templates[environment]))
    calls, _ = Wiring(authorizer).all(synthesized.stages[environment].artifacts["dagster_cloud.yaml"])
    by_role: dict[str, tuple[Role, list]] = {}
    for call in calls:
        if isinstance(call.principal, Role):
            by_role.setdefault(call.principal.arn, (call.principal, []))[1].append(call.request)
    return entries(allowed_only(authorizer, list(by_role.values())), environment)


def _launcher_part(synthesized) -> dict:
    templates = synthesized.templates["prod"]
    authorizer = Authorizer(TemplateWorld(templates, bindings=launcher_calls.template_bindings(templates["platform"])))
    by_role = [
        (authorizer.role("AgentTaskRole"), launcher_calls.agent_authz_requests()),
        (authorizer.role(f"Location{launcher_calls.RUN_WORKER_LOCATION}TaskRole"),
         launcher_calls.authz_requests_by_principal()[launcher_calls.RUN_WORKER]),
    ]
    proven = entries(allowed_only(authorizer, by_role), "prod")
    # Roles appear under their construct's name, not the recording's physical names.
    names = {generalize(arn, "prod"): f"role {role_key(role.logical_id)}" for arn, role in authorizer.roles.items()}
    return {key: [[action, names.get(resource, resource), why] for action, resource, why in rows] for key, rows in proven.items()}


def test_the_review_lists_what_each_role_is_proven_to_need(synthesized):
    proven = merge(_wiring_part(synthesized, "dev"), _wiring_part(synthesized, "prod"), _launcher_part(synthesized))
    assert "AgentTaskRole" in proven and "AlertsRelayRole" in proven and "LocationanalyticsExecutionRole" in proven
    text = render(proven)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        PROVEN_CALLS_FILE.write_text(text)
    assert PROVEN_CALLS_FILE.exists() and PROVEN_CALLS_FILE.read_text() == text, (
        "constructs_lib/review/proven_calls.json is stale: UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/authz/test_proven_calls.py"
    )
