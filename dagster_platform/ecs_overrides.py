"""The ECS override tags that dagster-aws's run launcher (and ECS executor) apply to a run's task.

``EcsRunLauncher.launch_run`` (dagster-aws 0.29) builds ``RunTask``'s arguments in this order:

1. ``overrides.cpu`` / ``overrides.memory`` from ``ecs/cpu`` / ``ecs/memory``, else the
   location's ``run_resources``;
2. ``overrides.update(json(ecs/task_overrides))``: the tag's ``cpu``, ``memory``, roles and even
   ``containerOverrides`` replace what step 1 set;
3. ``overrides.ephemeralStorage`` from ``ecs/ephemeral_storage`` or the location (replacing the
   tag's own ``ephemeralStorage``);
4. the run container's override is updated with ``json(ecs/container_overrides)`` (its ``cpu``,
   ``memory``, ``command``...);
5. ``run_task_kwargs.update(json(ecs/run_task_kwargs))``: any ``RunTask`` argument, including a
   whole new ``overrides``, ``taskDefinition``, ``cluster`` or ``networkConfiguration``.

So these tags size the task as surely as ``ecs/cpu``. This module computes the task size they
produce and checks it against the Fargate matrix and the policy caps, and refuses roles, subnets
and security groups the platform did not create (``RunPolicy.ecs_overrides``). Field names are
checked against botocore's ECS service model when botocore is installed.

Standard library only (botocore is imported lazily).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster_platform import fargate, limits
from dagster_platform.policy import LocationDefaults, RunPolicy

TAG_TASK_OVERRIDES = "ecs/task_overrides"
TAG_CONTAINER_OVERRIDES = "ecs/container_overrides"
TAG_RUN_TASK_KWARGS = "ecs/run_task_kwargs"
OVERRIDE_TAGS = (TAG_TASK_OVERRIDES, TAG_CONTAINER_OVERRIDES, TAG_RUN_TASK_KWARGS)

#: RunTask arguments a tag must not set: they replace what the platform decides for every run.
_REFUSED_RUN_TASK_KWARGS = {
    "taskDefinition": "replaces the location's task definition (its image, roles and logging)",
    "cluster": "moves the run off the platform's cluster",
    "overrides": "replaces the launcher's overrides, including the run's command; use ecs/task_overrides",
    "count": "starts several copies of the run",
}
_FARGATE_CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


@dataclass(frozen=True)
class OverrideProblem:
    tag: str
    field: str
    value: str
    reason: str
    severity: str = "error"


@dataclass(frozen=True)
class SizedValue:
    """A task size component and where it came from (``tag`` None: the location's default)."""

    value: int | None
    tag: str | None
    field: str = ""

    @property
    def source(self) -> str:
        if self.tag is None:
            return "location default" if self.value is not None else "task definition"
        return f"{self.tag}: {self.field}" if self.field else self.tag


@dataclass(frozen=True)
class EffectiveTaskSize:
    cpu: SizedValue
    memory: SizedValue
    ephemeral_storage_gib: SizedValue


@functools.lru_cache(maxsize=None)
def botocore_members(shape: str) -> tuple[str, ...] | None:
    """Member names of an ECS API shape from botocore's service model, or None without botocore."""
    try:
        import botocore.session
    except ImportError:  # pragma: no cover - dagster-aws always brings botocore
        return None
    model = botocore.session.get_session().get_service_model("ecs")
    if shape == "RunTaskRequest":
        return tuple(model.operation_model("RunTask").input_shape.members)
    return tuple(model.shape_for(shape).members)


def _load(tags: Mapping[str, str], tag: str, problems: list[OverrideProblem]) -> dict[str, Any] | None:
    raw = tags.get(tag)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems.append(
            OverrideProblem(tag, "", raw, f"not valid JSON ({exc.msg} at column {exc.colno}); the run launcher would fail")
        )
        return None
    if not isinstance(value, dict):
        problems.append(OverrideProblem(tag, "", raw, "must be a JSON object"))
        return None
    return value


def _unknown_fields(tag: str, body: Mapping[str, Any], shape: str, problems: list[OverrideProblem]) -> None:
    members = botocore_members(shape)
    if members is None:
        return
    for key in sorted(set(body) - set(members)):
        problems.append(
            OverrideProblem(tag, key, _text(body[key]), f"not a field of ECS {shape}; allowed: {', '.join(members)}")
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _parse_size(value: Any, scaled_unit: str) -> int | None:
    """A whole number (``"1024"``, ``1024``) or ``"<number> <scaled_unit>"`` (x 1024); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        number, _, unit = text.partition(" ")
        if unit.strip().lower() == scaled_unit.lower():
            try:
                return int(float(number) * 1024)
            except ValueError:
                return None
    return None


def parse_cpu_units(value: Any) -> int | None:
    """ECS accepts CPU units (``"1024"``) or vCPU (``"1 vCPU"``)."""
    return _parse_size(value, "vCPU")


def parse_memory_mib(value: Any) -> int | None:
    """ECS accepts MiB (``"4096"``) or GB (``"4 GB"``, meaning GiB)."""
    return _parse_size(value, "GB")


def _int_tag(tags: Mapping[str, str], tag: str) -> int | None:
    raw = tags.get(tag)
    if raw is None:
        return None
    text = raw.strip()
    return int(text) if text.lstrip("+-").isdigit() else None


def effective_task_size(tags: Mapping[str, str], location: LocationDefaults | None) -> EffectiveTaskSize:
    """The task size ECS gets for a run with these tags, in the launcher's order (see module doc)."""
    problems: list[OverrideProblem] = []
    task_overrides = _load(tags, TAG_TASK_OVERRIDES, problems) or {}

    def base(tag: str, default: int | None) -> SizedValue:
        value = _int_tag(tags, tag)
        return SizedValue(value, tag) if value is not None else SizedValue(default, None)

    cpu = base(limits.TAG_ECS_CPU, location.run.cpu if location else None)
    memory = base(limits.TAG_ECS_MEMORY, location.run.memory if location else None)
    if "cpu" in task_overrides:
        cpu = SizedValue(parse_cpu_units(task_overrides["cpu"]), TAG_TASK_OVERRIDES, "cpu")
    if "memory" in task_overrides:
        memory = SizedValue(parse_memory_mib(task_overrides["memory"]), TAG_TASK_OVERRIDES, "memory")
    storage = base(
        limits.TAG_ECS_EPHEMERAL_STORAGE, location.run.ephemeral_storage_gib if location else None
    )
    if storage.value is None and isinstance(task_overrides.get("ephemeralStorage"), Mapping):
        size = task_overrides["ephemeralStorage"].get("sizeInGiB")
        if isinstance(size, int) and not isinstance(size, bool):
            storage = SizedValue(size, TAG_TASK_OVERRIDES, "ephemeralStorage.sizeInGiB")
    return EffectiveTaskSize(cpu=cpu, memory=memory, ephemeral_storage_gib=storage)


def check_override_tags(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None = None
) -> list[OverrideProblem]:
    """Every problem in ``ecs/task_overrides``, ``ecs/container_overrides``, ``ecs/run_task_kwargs``."""
    problems: list[OverrideProblem] = []
    task = _load(tags, TAG_TASK_OVERRIDES, problems)
    container = _load(tags, TAG_CONTAINER_OVERRIDES, problems)
    run_task = _load(tags, TAG_RUN_TASK_KWARGS, problems)
    size = effective_task_size(tags, location)
    if task is not None:
        problems.extend(_task_override_problems(task, tags, size, policy))
    if container is not None:
        problems.extend(_container_override_problems(container, size, policy))
    if run_task is not None:
        problems.extend(_run_task_kwargs_problems(run_task, policy))
    return problems


def _task_override_problems(
    task: Mapping[str, Any], tags: Mapping[str, str], size: EffectiveTaskSize, policy: RunPolicy
) -> list[OverrideProblem]:
    tag = TAG_TASK_OVERRIDES
    problems: list[OverrideProblem] = []
    _unknown_fields(tag, task, "TaskOverride", problems)
    if "containerOverrides" in task:
        problems.append(
            OverrideProblem(
                tag,
                "containerOverrides",
                _text(task["containerOverrides"]),
                "replaces the launcher's container override, including the run's command; use ecs/container_overrides",
            )
        )
    for key in ("taskRoleArn", "executionRoleArn"):
        if key in task and task[key] not in policy.ecs_overrides.role_arns:
            allowed = ", ".join(policy.ecs_overrides.role_arns) or "none (the location's own roles apply)"
            problems.append(
                OverrideProblem(
                    tag, key, _text(task[key]), f"not a role this platform created for runs; allowed: {allowed}"
                )
            )
    if "cpu" in task and size.cpu.value is None:
        problems.append(OverrideProblem(tag, "cpu", _text(task["cpu"]), "not a number of CPU units or 'N vCPU'"))
    if "memory" in task and size.memory.value is None:
        problems.append(OverrideProblem(tag, "memory", _text(task["memory"]), "not a number of MiB or 'N GB'"))
    if ("cpu" in task or "memory" in task) and size.cpu.value is not None and size.memory.value is not None:
        problems.extend(_pair_problems(size, policy, tag))
    elif ("cpu" in task) != ("memory" in task) and (size.cpu.value is None or size.memory.value is None):
        missing = "memory" if "cpu" in task else "cpu"
        problems.append(
            OverrideProblem(
                tag,
                "cpu" if "cpu" in task else "memory",
                _text(task.get("cpu", task.get("memory"))),
                f"set without {missing}; set both, or check with --location to combine it with the location's run default",
            )
        )
    if "ephemeralStorage" in task:
        problems.extend(_storage_problems(task["ephemeralStorage"], tags, size, policy))
    return problems


def _pair_problems(size: EffectiveTaskSize, policy: RunPolicy, tag: str) -> list[OverrideProblem]:
    cpu, memory = size.cpu, size.memory
    assert cpu.value is not None and memory.value is not None
    # blame the component the override tag set; if it set both, blame cpu for a bad cpu
    cpu_mine, memory_mine = cpu.tag == tag, memory.tag == tag
    problems: list[OverrideProblem] = []
    if cpu.value not in fargate.FARGATE_TASK_SIZES:
        if cpu_mine:
            allowed = ", ".join(str(c) for c in fargate.allowed_cpu() if c <= policy.limits.max_cpu)
            problems.append(OverrideProblem(tag, "cpu", str(cpu.value), f"not a Fargate CPU value; allowed: {allowed}"))
        return problems
    if cpu.value > policy.limits.max_cpu and cpu_mine:
        problems.append(
            OverrideProblem(
                tag,
                "cpu",
                str(cpu.value),
                f"above the {policy.label} cap limits.max_cpu={policy.limits.max_cpu}",
            )
        )
    if memory.value > policy.limits.max_memory_mib and memory_mine:
        problems.append(
            OverrideProblem(
                tag,
                "memory",
                str(memory.value),
                f"above the {policy.label} cap limits.max_memory_mib={policy.limits.max_memory_mib}",
            )
        )
    if memory.value not in fargate.allowed_memory(cpu.value):
        blamed, value = ("memory", memory.value) if memory_mine else ("cpu", cpu.value)
        other = f"cpu {cpu.value} ({cpu.source})" if blamed == "memory" else f"memory {memory.value} ({memory.source})"
        problems.append(
            OverrideProblem(
                tag,
                blamed,
                str(value),
                f"not offered by Fargate with {other}; memory allowed for cpu {cpu.value}: "
                f"{fargate.describe_allowed_memory(cpu.value)}",
            )
        )
    return problems


def _storage_problems(
    raw: Any, tags: Mapping[str, str], size: EffectiveTaskSize, policy: RunPolicy
) -> list[OverrideProblem]:
    tag = TAG_TASK_OVERRIDES
    if size.ephemeral_storage_gib.tag != tag:
        return [
            OverrideProblem(
                tag,
                "ephemeralStorage",
                _text(raw),
                f"ignored: the launcher replaces it with {size.ephemeral_storage_gib.value} GiB "
                f"({size.ephemeral_storage_gib.source}); set ecs/ephemeral_storage instead",
                severity="warning",
            )
        ]
    gib = size.ephemeral_storage_gib.value
    low, high = fargate.EPHEMERAL_STORAGE_GIB
    cap = min(high, policy.limits.max_ephemeral_storage_gib)
    if gib is None or not low <= gib <= cap:
        return [
            OverrideProblem(
                tag, "ephemeralStorage.sizeInGiB", _text(gib), f"outside {low}..{cap} GiB (Fargate and the {policy.label} cap)"
            )
        ]
    return []


def _container_override_problems(
    container: Mapping[str, Any], size: EffectiveTaskSize, policy: RunPolicy
) -> list[OverrideProblem]:
    tag = TAG_CONTAINER_OVERRIDES
    problems: list[OverrideProblem] = []
    _unknown_fields(tag, container, "ContainerOverride", problems)
    for key, reason in (
        ("command", "replaces the command that executes the run"),
        ("name", "the launcher names the run container itself; another name makes ECS reject the task"),
        ("resourceRequirements", "GPUs and inference accelerators are not available on Fargate"),
    ):
        if key in container:
            problems.append(OverrideProblem(tag, key, _text(container[key]), reason))
    for key, cap, task_value, unit in (
        ("cpu", policy.limits.max_cpu, size.cpu, "CPU units"),
        ("memory", policy.limits.max_memory_mib, size.memory, "MiB"),
        ("memoryReservation", policy.limits.max_memory_mib, size.memory, "MiB"),
    ):
        if key not in container:
            continue
        value = container[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(OverrideProblem(tag, key, _text(value), f"must be a whole number of {unit}"))
            continue
        cap_name = "limits.max_cpu" if key == "cpu" else "limits.max_memory_mib"
        if value > cap:
            problems.append(OverrideProblem(tag, key, str(value), f"above the {policy.label} cap {cap_name}={cap}"))
        elif task_value.value is not None and value > task_value.value:
            problems.append(
                OverrideProblem(
                    tag,
                    key,
                    str(value),
                    f"above the task's {'cpu' if key == 'cpu' else 'memory'} {task_value.value} "
                    f"({task_value.source}); ECS rejects a container larger than its task",
                )
            )
    reservation, memory = container.get("memoryReservation"), container.get("memory")
    if isinstance(reservation, int) and isinstance(memory, int) and reservation > memory:
        problems.append(
            OverrideProblem(tag, "memoryReservation", str(reservation), f"above the container's memory {memory}")
        )
    return problems


def _run_task_kwargs_problems(kwargs: Mapping[str, Any], policy: RunPolicy) -> list[OverrideProblem]:
    tag = TAG_RUN_TASK_KWARGS
    problems: list[OverrideProblem] = []
    _unknown_fields(tag, kwargs, "RunTaskRequest", problems)
    for key, reason in _REFUSED_RUN_TASK_KWARGS.items():
        if key in kwargs and not (key == "count" and kwargs[key] == 1):
            problems.append(OverrideProblem(tag, key, _text(kwargs[key]), reason))
    launch_type = kwargs.get("launchType")
    if launch_type is not None and launch_type != "FARGATE":
        problems.append(
            OverrideProblem(tag, "launchType", _text(launch_type), "runs are Fargate tasks; allowed: FARGATE")
        )
    for index, item in enumerate(kwargs.get("capacityProviderStrategy") or ()):
        provider = item.get("capacityProvider") if isinstance(item, Mapping) else item
        if provider not in _FARGATE_CAPACITY_PROVIDERS:
            problems.append(
                OverrideProblem(
                    tag,
                    f"capacityProviderStrategy[{index}].capacityProvider",
                    _text(provider),
                    f"not a Fargate capacity provider; allowed: {', '.join(_FARGATE_CAPACITY_PROVIDERS)}",
                )
            )
    network = kwargs.get("networkConfiguration")
    if isinstance(network, Mapping):
        vpc = network.get("awsvpcConfiguration") or {}
        for key, allowed, noun in (
            ("subnets", policy.ecs_overrides.subnets, "subnet"),
            ("securityGroups", policy.ecs_overrides.security_groups, "security group"),
        ):
            for index, value in enumerate(vpc.get(key) or () if isinstance(vpc, Mapping) else ()):
                if value not in allowed:
                    problems.append(
                        OverrideProblem(
                            tag,
                            f"networkConfiguration.awsvpcConfiguration.{key}[{index}]",
                            _text(value),
                            f"not a {noun} this platform created or was given; allowed: "
                            f"{', '.join(allowed) or 'none (the location default applies)'}",
                        )
                    )
    return problems
