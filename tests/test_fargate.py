"""The shared Fargate matrix, checked exhaustively against the AWS table written independently."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from constructs_lib.config import TaskSize
from dagster_platform.fargate import FARGATE_TASK_SIZES, InvalidTaskSize, allowed_memory, check_task_size
from dagster_platform.tags import RunPolicyViolation, ecs_resources

# The "Task CPU and memory" table of the ECS developer guide, as it reads there.
AWS_TABLE = """
256   | 512 MiB, 1 GB, 2 GB
512   | 1 GB - 4 GB in 1 GB increments
1024  | 2 GB - 8 GB in 1 GB increments
2048  | 4 GB - 16 GB in 1 GB increments
4096  | 8 GB - 30 GB in 1 GB increments
8192  | 16 GB - 60 GB in 4 GB increments
16384 | 32 GB - 120 GB in 8 GB increments
"""


def parse_table(text: str) -> dict[int, set[int]]:
    table = {}
    for line in filter(None, map(str.strip, text.splitlines())):
        cpu, memory = (part.strip() for part in line.split("|"))
        if "increments" in memory:
            low, rest = memory.split(" GB - ")
            high, step = rest.split(" GB in ")
            values = range(int(low) * 1024, int(high) * 1024 + 1, int(step.split(" ")[0]) * 1024)
        else:
            values = [int(v.split()[0]) * (1 if "MiB" in v else 1024) for v in memory.split(",")]
        table[int(cpu)] = set(values)
    return table


TABLE = parse_table(AWS_TABLE)
CPU_CANDIDATES = sorted({128, 300, 768, 1536, 3072, 32768, *TABLE})
MEMORY_GRID = range(256, 128 * 1024 + 1, 256)


def test_matrix_equals_the_aws_table():
    assert {cpu: set(memories) for cpu, memories in FARGATE_TASK_SIZES.items()} == TABLE


def test_every_pair_on_a_256_mib_grid_is_accepted_exactly_when_the_table_offers_it():
    checked = 0
    for cpu in CPU_CANDIDATES:
        for memory in MEMORY_GRID:
            offered = memory in TABLE.get(cpu, set())
            try:
                check_task_size(cpu, memory)
                accepted = True
            except InvalidTaskSize:
                accepted = False
            assert accepted == offered, (cpu, memory)
            checked += 1
    assert checked == len(CPU_CANDIDATES) * len(MEMORY_GRID)


@pytest.mark.parametrize("cpu", sorted(TABLE))
def test_a_bad_pair_names_every_memory_value_allowed_for_that_cpu(cpu):
    bad = max(TABLE[cpu]) + 1024
    with pytest.raises(InvalidTaskSize) as caught:
        check_task_size(cpu, bad)
    listed = caught.value.args[0].rsplit(": ", 1)[1]
    assert [int(value) for value in listed.split(", ")] == sorted(TABLE[cpu]) == list(allowed_memory(cpu))


@pytest.mark.parametrize(("cpu", "memory"), [(256, 4096), (512, 512), (4096, 31744), (8192, 18432), (16384, 126976)])
def test_config_models_and_job_tag_helpers_reject_the_same_pairs(cpu, memory):
    with pytest.raises(ValidationError):
        TaskSize(cpu=cpu, memory=memory)
    with pytest.raises(RunPolicyViolation):
        ecs_resources(cpu=cpu, memory=memory)
