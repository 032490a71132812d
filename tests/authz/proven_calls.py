"""The calls each role is proven to need, for the review report: every request the authz tests evaluate as allowed,
per role, with account, region and environment generalized. ``constructs_lib/review/proven_calls.json`` holds the
result; ``test_proven_calls.py`` fails when it is stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .platform import Authorizer, Role
from .requests import AuthzRequest
from .world import ACCOUNT, REGION

PROVEN_CALLS_FILE = Path(__file__).resolve().parents[2] / "constructs_lib" / "review" / "proven_calls.json"


def role_key(logical_id: str) -> str:
    """A role's logical id without CDK's hash suffix: the same construct in every environment."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def generalize(text: str, environment: str) -> str:
    """Names generated at run time become ``*``; account, region and environment become placeholders."""
    text = re.sub(r"(:task/[^/\s]+/)[^\s,)]+", r"\1*", text)
    text = re.sub(r"(:ecs:[^:]+:[^:]+:service/[^/\s]+/)[^\s,)]+", r"\1*", text)
    text = re.sub(r"(:servicediscovery:[^:]+:[^:]+:service/)[^\s,)]+", r"\1*", text)
    text = re.sub(r"(:servicediscovery:[^:]+:[^:]+:namespace/)[^\s,)]+", r"\1<namespace>", text)
    text = re.sub(r"(task-definition/[a-z]+_[A-Za-z0-9-]+_)[^\s,)]+", r"\1*", text)
    text = re.sub(r"(:log-stream:)[^\s,)]+", r"\1*", text)
    text = re.sub(r"(:key/)[0-9a-f-]{36}", r"\1<key>", text)
    text = re.sub(r"(:s3:::[^/\s]+/[^/\s]+/)[^\s,)]+", r"\1*", text)
    if ":secret:" in text:
        text = re.sub(r"-[A-Za-z0-9]{6}(?=$|[\s,):])", "-??????", text)
    text = text.replace(ACCOUNT, "<account>").replace(REGION, "<region>")
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(environment)}(?![A-Za-z0-9])", "<env>", text)


def _why(origin: str, environment: str) -> str:
    """The situation, not the call: ``create code servers`` of ``create code servers: ecs.CreateService``."""
    return generalize(origin.split(": ")[0], environment)


def entries(requests_by_role: list[tuple[Role, list[AuthzRequest]]], environment: str) -> dict[str, list[list[str]]]:
    out: dict[str, dict[tuple[str, str], set[str]]] = {}
    for role, requests in requests_by_role:
        rows = out.setdefault(role_key(role.logical_id), {})
        for request in requests:
            for resource in request.resources:
                rows.setdefault((request.action, generalize(resource, environment)), set()).add(_why(request.origin, environment))
    return {
        key: [[action, resource, "; ".join(sorted(whys))] for (action, resource), whys in sorted(rows.items())]
        for key, rows in sorted(out.items())
    }


def merge(*parts: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    merged: dict[str, dict[tuple[str, str], set[str]]] = {}
    for part in parts:
        for key, rows in part.items():
            for action, resource, whys in rows:
                merged.setdefault(key, {}).setdefault((action, resource), set()).update(whys.split("; "))
    return {
        key: [[action, resource, "; ".join(sorted(whys))] for (action, resource), whys in sorted(rows.items())]
        for key, rows in sorted(merged.items())
    }


def render(proven: dict[str, list[list[str]]]) -> str:
    return json.dumps(
        {"_about": "Calls each role is proven to need (tests/authz, evaluated as IAM does); role -> [action, resource, why]",
         **proven},
        indent=1,
        sort_keys=False,
    ) + "\n"


def allowed_only(authorizer: Authorizer, requests_by_role: list[tuple[Role, list[AuthzRequest]]]) -> list[tuple[Role, list[AuthzRequest]]]:
    return [(role, [r for r in requests if authorizer.check(role, r)]) for role, requests in requests_by_role]
