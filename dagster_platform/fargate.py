"""The AWS Fargate task-size matrix: which memory values each CPU value allows.

One source of truth, used by the CDK constructs (agent, code locations), the job-tag
helpers, the policy checker and the review report. Values follow the ECS developer guide,
"Task CPU and memory" (Linux platform version 1.4.0).
"""

from __future__ import annotations

GIB = 1024


def _steps(low_gib: int, high_gib: int, step_gib: int) -> tuple[int, ...]:
    return tuple(m * GIB for m in range(low_gib, high_gib + 1, step_gib))


#: cpu units -> allowed memory in MiB.
FARGATE_TASK_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1, 4, 1),
    1024: _steps(2, 8, 1),
    2048: _steps(4, 16, 1),
    4096: _steps(8, 30, 1),
    8192: _steps(16, 60, 4),
    16384: _steps(32, 120, 8),
}

#: Fargate ephemeral storage bounds in GiB (platform version 1.4.0 or later); a task that sets
#: none gets the default.
EPHEMERAL_STORAGE_GIB = (21, 200)
DEFAULT_EPHEMERAL_STORAGE_GIB = 20


class InvalidTaskSize(ValueError):
    """A cpu/memory pair (or ephemeral storage size) that Fargate does not offer."""


def allowed_cpu() -> tuple[int, ...]:
    return tuple(FARGATE_TASK_SIZES)


def allowed_memory(cpu: int) -> tuple[int, ...]:
    return FARGATE_TASK_SIZES.get(cpu, ())


def describe_allowed_memory(cpu: int) -> str:
    return ", ".join(str(m) for m in allowed_memory(cpu))


def check_task_size(cpu: int, memory: int) -> None:
    """Raise :class:`InvalidTaskSize` with a message a person can act on."""
    if cpu not in FARGATE_TASK_SIZES:
        raise InvalidTaskSize(
            f"cpu {cpu} is not a Fargate cpu value; allowed: "
            f"{', '.join(str(c) for c in FARGATE_TASK_SIZES)}"
        )
    if memory not in FARGATE_TASK_SIZES[cpu]:
        raise InvalidTaskSize(
            f"memory {memory} MiB is not offered by Fargate with cpu {cpu}; "
            f"memory allowed for cpu {cpu} (MiB): {describe_allowed_memory(cpu)}"
        )


def check_ephemeral_storage(gib: int) -> None:
    low, high = EPHEMERAL_STORAGE_GIB
    if not low <= gib <= high:
        raise InvalidTaskSize(
            f"ephemeral storage {gib} GiB is outside Fargate's range {low}-{high} GiB"
        )


def is_valid_task_size(cpu: int, memory: int) -> bool:
    return memory in FARGATE_TASK_SIZES.get(cpu, ())
