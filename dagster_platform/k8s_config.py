"""The ``dagster-k8s/config`` run tag: Kubernetes resource requests and limits, checked.

The guide's Kubernetes resource tag reaches a run only through dagster-k8s's launcher or executor.
This platform launches runs with the ECS run launcher, which ignores the tag, so a location that
sets it gets a warning (its runs get the ``ecs/*`` sizes instead). The values are still checked,
because the same code may be deployed on Kubernetes: requests at most limits, quantities in
Kubernetes syntax, and sizes within the environment's caps (CPU cap = ``limits.max_cpu`` / 1024
cores, memory cap = ``limits.max_memory_mib`` MiB).

Standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from dagster_platform.policy import RunPolicy

TAG_K8S_CONFIG = "dagster-k8s/config"

#: Keys dagster-k8s reads from the tag (``dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY`` family).
K8S_CONFIG_KEYS = (
    "container_config",
    "pod_template_spec_metadata",
    "pod_spec_config",
    "job_config",
    "job_metadata",
    "job_spec_config",
    "merge_behavior",
)

#: Kubernetes quantity suffixes (k8s.io/apimachinery resource.Quantity): binary and decimal SI.
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exponent>[eE][+-]?\d+)|(?P<decimal>[numkMGTPE]?))$"
)
_MIB = Decimal(2**20)

#: (severity, field path, value, reason)
K8sProblem = tuple[str, str, str, str]


class QuantityError(ValueError):
    pass


def parse_quantity(text: object) -> Decimal:
    """A Kubernetes quantity as a number of base units (cores, bytes): ``250m`` -> 0.25,
    ``1Gi`` -> 1073741824, ``1e3`` -> 1000. Integers are accepted as Kubernetes accepts them."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise QuantityError(f"{text!r} is not a Kubernetes quantity")
    raw = str(text).strip()
    match = _QUANTITY.match(raw)
    if not match:
        raise QuantityError(
            f"{raw!r} is not a Kubernetes quantity (a number with an optional suffix: m, k, M, G, T, Ki, Mi, Gi, Ti...)"
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise QuantityError(f"{raw!r} is not a Kubernetes quantity") from None
    if number < 0:
        raise QuantityError(f"{raw!r} is negative")
    if match["binary"]:
        return number * _BINARY[match["binary"]]
    if match["exponent"]:
        return number * (Decimal(10) ** int(match["exponent"][1:]))
    return number * _DECIMAL[match["decimal"] or ""]


def _format(value: Decimal) -> str:
    return format(value.normalize(), "f")


def check_k8s_config(value: str, policy: RunPolicy) -> list[K8sProblem]:
    """Problems in a ``dagster-k8s/config`` tag value, plus the warning that ECS ignores it."""
    problems: list[K8sProblem] = [
        (
            "warning",
            "",
            "",
            "ignored by this platform's ECS run launcher: runs get ecs/cpu and ecs/memory "
            "(or the location's run size), not these Kubernetes resources",
        )
    ]
    try:
        config = json.loads(value)
    except json.JSONDecodeError as exc:
        return [("error", "", value, f"not valid JSON ({exc.msg} at column {exc.colno})")]
    if not isinstance(config, Mapping):
        return [("error", "", value, "must be a JSON object")]
    unknown = sorted(set(config) - set(K8S_CONFIG_KEYS))
    for key in unknown:
        problems.append(("error", key, "", f"not a key dagster-k8s reads; allowed: {', '.join(K8S_CONFIG_KEYS)}"))
    container = config.get("container_config") or {}
    if not isinstance(container, Mapping):
        problems.append(("error", "container_config", repr(container), "must be an object"))
        return problems
    resources = container.get("resources") or {}
    if not isinstance(resources, Mapping):
        problems.append(("error", "container_config.resources", repr(resources), "must be an object"))
        return problems
    parsed: dict[str, dict[str, Decimal]] = {}
    for section in ("requests", "limits"):
        body = resources.get(section) or {}
        if not isinstance(body, Mapping):
            problems.append(("error", f"container_config.resources.{section}", repr(body), "must be an object"))
            continue
        parsed[section] = {}
        for name, raw in body.items():
            path = f"container_config.resources.{section}.{name}"
            try:
                parsed[section][name] = parse_quantity(raw)
            except QuantityError as exc:
                problems.append(("error", path, str(raw), str(exc)))
                continue
            problems.extend(_cap_problems(path, str(raw), name, parsed[section][name], policy))
    requests, limits_ = parsed.get("requests", {}), parsed.get("limits", {})
    for name in sorted(set(requests) & set(limits_)):
        if requests[name] > limits_[name]:
            problems.append(
                (
                    "error",
                    f"container_config.resources.requests.{name}",
                    str(resources["requests"][name]),
                    f"above its limit {resources['limits'][name]!s}; Kubernetes rejects a request above the limit",
                )
            )
    return problems


def _cap_problems(path: str, raw: str, name: str, quantity: Decimal, policy: RunPolicy) -> list[K8sProblem]:
    caps = {
        "cpu": (Decimal(policy.limits.max_cpu) / 1024, f"limits.max_cpu={policy.limits.max_cpu}", "cores"),
        "memory": (
            Decimal(policy.limits.max_memory_mib) * _MIB,
            f"limits.max_memory_mib={policy.limits.max_memory_mib}",
            f"{policy.limits.max_memory_mib}Mi",
        ),
        "ephemeral-storage": (
            Decimal(policy.limits.max_ephemeral_storage_gib) * _MIB * 1024,
            f"limits.max_ephemeral_storage_gib={policy.limits.max_ephemeral_storage_gib}",
            f"{policy.limits.max_ephemeral_storage_gib}Gi",
        ),
    }
    if name not in caps:
        return []
    cap, cap_field, shown = caps[name]
    if quantity <= cap:
        return []
    if name == "cpu":
        shown = f"{_format(cap)} cores"
    return [("error", path, raw, f"above the {policy.label} cap {cap_field} ({shown})")]
