"""The tag helpers: valid dicts, one-line violations, random bad values, import-time failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_platform import fargate, limits, rules
from dagster_platform.policy import RunPolicy, load_policy, using_policy
from dagster_platform.tags import RunPolicyViolation, alert_route, ecs_resources, priority, retries, run_tags

SAMPLE_LOCATION = Path(__file__).resolve().parent / "sample_location"


@pytest.fixture(scope="module")
def prod(policy_path: Path) -> RunPolicy:
    return load_policy(policy_path)


def test_helpers_return_the_tags_dagster_reads(prod: RunPolicy) -> None:
    tags = run_tags(
        ecs_resources(cpu=1024, memory=4096, ephemeral_storage_gib=50, policy=prod),
        retries(3, strategy="ALL_STEPS", policy=prod),
        priority(-2, policy=prod),
        alert_route("data-eng", policy=prod),
    )

    assert tags == {
        "ecs/cpu": "1024",
        "ecs/memory": "4096",
        "ecs/ephemeral_storage": "50",
        "dagster/max_retries": "3",
        "dagster/retry_strategy": "ALL_STEPS",
        "dagster/priority": "-2",
        "alert_team": "data-eng",
    }


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda p: ecs_resources(cpu=256, memory=4096, policy=p),
            "ecs_resources: ecs/memory=4096 is not offered by Fargate with ecs/cpu=256; allowed: 512, 1024, 2048",
        ),
        (
            lambda p: ecs_resources(cpu=8192, memory=16384, policy=p),
            "ecs_resources: ecs/cpu=8192 is above the prod policy cap limits.max_cpu=4096; allowed: 256, 512, 1024, 2048, 4096",
        ),
        (
            lambda p: ecs_resources(cpu=4096, memory=20480, policy=p),
            "ecs_resources: ecs/memory=20480 is above the prod policy cap limits.max_memory_mib=16384; "
            "allowed with ecs/cpu=4096: 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384",
        ),
        (
            lambda p: ecs_resources(cpu=300, memory=1024, policy=p),
            "ecs_resources: ecs/cpu=300 is not a Fargate CPU value; allowed: 256, 512, 1024, 2048, 4096",
        ),
        (
            lambda p: ecs_resources(cpu="1 vCPU", memory=2048, policy=p),
            "ecs_resources: ecs/cpu='1 vCPU' is not an integer number of CPU units; allowed: 256, 512, 1024, 2048, 4096",
        ),
        (
            lambda p: ecs_resources(cpu=512, memory=1024, ephemeral_storage_gib=150, policy=p),
            "ecs_resources: ecs/ephemeral_storage=150 is above the prod policy cap "
            "limits.max_ephemeral_storage_gib=100; allowed: 21..100",
        ),
        (
            lambda p: ecs_resources(cpu=512, memory=1024, ephemeral_storage_gib=20, policy=p),
            "ecs_resources: ecs/ephemeral_storage=20 is below Fargate's minimum of 21 GiB; allowed: 21..100",
        ),
        (
            lambda p: retries(6, policy=p),
            "retries: dagster/max_retries=6 is above the prod policy cap retries.max_run_retries=5; allowed: 0..5",
        ),
        (lambda p: retries(-1, policy=p), "retries: dagster/max_retries=-1 is negative; allowed: 0..5"),
        (
            lambda p: retries(2.5, policy=p),
            "retries: dagster/max_retries=2.5 is not an integer; allowed: 0..5",
        ),
        (
            lambda p: retries(1, strategy="from_failure", policy=p),
            "retries: dagster/retry_strategy=from_failure is not a retry strategy the prod policy allows; "
            "allowed: FROM_FAILURE, ALL_STEPS, FROM_ASSET_FAILURE",
        ),
        (
            lambda p: priority(11, policy=p),
            "priority: dagster/priority=11 is outside the prod policy range; allowed: -10..10",
        ),
        (
            lambda p: priority(True, policy=p),
            "priority: dagster/priority=True is not an integer; allowed: -10..10",
        ),
        (
            lambda p: alert_route("marketing", policy=p),
            "alert_route: alert_team=marketing is not a team in the prod policy; allowed: data-eng, ml, platform",
        ),
        (
            lambda p: alert_route("data eng\n", policy=p),
            "alert_route: alert_team='data eng\\n' is not a team in the prod policy; allowed: data-eng, ml, platform",
        ),
        (
            lambda p: run_tags(priority(1, policy=p), priority(2, policy=p)),
            "run_tags: dagster/priority is set twice, to '1' and '2'",
        ),
        (lambda p: run_tags({"team": 3}), "run_tags: tag 'team'=3 must be a string key and string value"),
    ],
)
def test_violations_are_one_line_and_say_what_is_allowed(prod: RunPolicy, call, message: str) -> None:
    with pytest.raises(RunPolicyViolation) as raised:
        call(prod)
    where, _, text = str(raised.value).partition(": ")
    assert text == message
    assert where.startswith(f"{__file__}:")  # the caller's file and line


def test_helpers_use_the_active_policy(prod: RunPolicy) -> None:
    assert alert_route("anyone") == {"alert_team": "anyone"}  # default policy: no team list
    with using_policy(prod), pytest.raises(RunPolicyViolation, match="not a team in the prod policy"):
        alert_route("anyone")


def test_run_tags_accepts_repeated_equal_values() -> None:
    assert run_tags({"a": "1"}, {"a": "1", "b": "2"}) == {"a": "1", "b": "2"}


# --- random bad values ------------------------------------------------------------------------------

anything = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.text(max_size=12),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


def _valid_pair(cpu: object, memory: object, policy: RunPolicy) -> bool:
    return (
        type(cpu) is int
        and type(memory) is int
        and fargate.is_valid_task_size(cpu, memory)
        and cpu <= policy.limits.max_cpu
        and memory <= policy.limits.max_memory_mib
    )


@settings(max_examples=200, deadline=None)
@given(cpu=anything, memory=anything)
def test_ecs_resources_accepts_valid_pairs_and_refuses_the_rest(
    policy_path: Path, cpu: object, memory: object
) -> None:
    policy = load_policy(policy_path)
    if _valid_pair(cpu, memory, policy):
        assert ecs_resources(cpu=cpu, memory=memory, policy=policy) == {
            "ecs/cpu": str(cpu),
            "ecs/memory": str(memory),
        }
        return
    try:
        tags = ecs_resources(cpu=cpu, memory=memory, policy=policy)
    except RunPolicyViolation as violation:
        assert str(violation).partition(": ")[2].startswith("ecs_resources: ecs/")
        assert "\n" not in str(violation)
    else:  # integer strings are accepted in canonical form
        assert fargate.is_valid_task_size(int(tags["ecs/cpu"]), int(tags["ecs/memory"]))


@settings(max_examples=200, deadline=None)
@given(
    cpu=st.sampled_from(sorted(fargate.FARGATE_TASK_SIZES)),
    memory=st.integers(min_value=-(2**40), max_value=2**40),
)
def test_ecs_resources_refuses_every_memory_fargate_does_not_offer(
    policy_path: Path, cpu: int, memory: int
) -> None:
    policy = load_policy(policy_path)
    if _valid_pair(cpu, memory, policy):
        return
    with pytest.raises(RunPolicyViolation):
        ecs_resources(cpu=cpu, memory=memory, policy=policy)


@settings(max_examples=200, deadline=None)
@given(count=anything, strategy=st.one_of(st.text(max_size=20), st.none(), st.integers()))
def test_retries_refuses_bad_counts_and_strategies(
    policy_path: Path, count: object, strategy: object
) -> None:
    policy = load_policy(policy_path)
    parsed = count if type(count) is int else rules.parse_int(count) if isinstance(count, str) else None
    count_ok = parsed is not None and 0 <= parsed <= 5
    strategy_ok = strategy in limits.RETRY_STRATEGIES
    if count_ok and strategy_ok:
        assert retries(count, strategy=strategy, policy=policy)[limits.TAG_RETRY_STRATEGY] == strategy  # type: ignore[arg-type]
        return
    with pytest.raises(RunPolicyViolation, match=r"^[^ ]+:\d+: retries: dagster/(max_retries|retry_strategy)="):
        retries(count, strategy=strategy, policy=policy)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(
        st.integers().filter(lambda n: not -10 <= n <= 10),
        st.text().filter(lambda t: not t.strip().lstrip("+-").isdigit()),
        st.floats(),
        st.none(),
    )
)
def test_priority_refuses_values_outside_the_range(policy_path: Path, value: object) -> None:
    with pytest.raises(
        RunPolicyViolation, match=r"^[^ ]+:\d+: priority: dagster/priority=.* is (outside|not an integer)"
    ):
        priority(value, policy=load_policy(policy_path))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    team=st.one_of(
        st.text().filter(lambda t: t not in ("data-eng", "ml", "platform")), st.integers(), st.none()
    )
)
def test_alert_route_refuses_unknown_teams(policy_path: Path, team: object) -> None:
    with pytest.raises(
        RunPolicyViolation, match=r"^[^ ]+:\d+: alert_route: alert_team=.* is not a team in the prod policy"
    ):
        alert_route(team, policy=load_policy(policy_path))  # type: ignore[arg-type]


# --- import time ------------------------------------------------------------------------------------


def test_a_bad_helper_value_fails_the_import_of_the_code_location(policy_path: Path, subprocess_env) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import helper_violation_definitions"],
        cwd=SAMPLE_LOCATION,
        env=subprocess_env(DAGSTER_PLATFORM_RUN_POLICY=str(policy_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines()[-1] == (
        "dagster_platform.tags.RunPolicyViolation: "
        f"{SAMPLE_LOCATION / 'helper_violation_definitions.py'}:14: job 'oversized': "
        "ecs_resources: ecs/memory=4096 is not offered by Fargate with ecs/cpu=256; allowed: 512, 1024, 2048; "
        "retries: dagster/max_retries=9 is above the prod policy cap retries.max_run_retries=5; allowed: 0..5; "
        "alert_route: alert_team=marketing is not a team in the prod policy; allowed: data-eng, ml, platform"
    )
