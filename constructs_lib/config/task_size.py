"""A validated Fargate task size (cpu units and memory MiB), checked against the shared matrix."""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator

from dagster_platform.fargate import InvalidTaskSize, allowed_cpu, check_task_size

from .types import StrictModel


class TaskSize(StrictModel):
    cpu: int
    memory: int

    @field_validator("cpu")
    @classmethod
    def _cpu_is_fargate(cls, value: int) -> int:
        if isinstance(value, bool) or value not in allowed_cpu():
            raise ValueError(f"is not a Fargate cpu value; allowed: {', '.join(map(str, allowed_cpu()))}")
        return value

    @field_validator("memory")
    @classmethod
    def _memory_fits_cpu(cls, value: int, info: ValidationInfo) -> int:
        cpu = info.data.get("cpu")
        if cpu is None:  # cpu already failed; its own error says why
            return value
        try:
            check_task_size(cpu, value)
        except InvalidTaskSize as error:
            raise ValueError(str(error).replace(f"memory {value} MiB is not", "not")) from None
        return value
