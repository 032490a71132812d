"""What a principal asks AWS to authorize: one action, on the resources IAM checks it against, with context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class AuthzRequest:
    """One authorization AWS performs for one API call (a call may need several: CreateService needs the namespace
    and the new service, ecs:TagResource when it carries tags, iam:PassRole for each role it passes).

    ``resources``: the concrete ARNs IAM evaluates the action against (one request per resource is evaluated; all
    must be allowed), or ``("*",)`` for actions without resource-level support.
    ``context``: condition keys and values IAM knows for this request (``ecs:cluster``, ``iam:PassedToService``,
    ``aws:RequestTag/<k>``, ``aws:TagKeys``, ``aws:SourceArn``, ``aws:SourceAccount``, ``servicediscovery:NamespaceArn``
    ...); a value is a string or a tuple of strings (multi-valued keys).
    ``origin``: where the call came from, for people reading a failure (e.g.
    ``"EcsUserCodeLauncher create code server: servicediscovery.CreateService"``).
    """

    action: str
    resources: tuple[str, ...]
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    origin: str = ""

    def __post_init__(self) -> None:
        if ":" not in self.action or not self.resources:
            raise ValueError(f"malformed request {self!r}")
