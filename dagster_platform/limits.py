"""Tag names and hard bounds of the platform's run policy.

Per-environment caps (for example "at most 3 run retries in dev") live in the environment
files and reach Dagster code through the rendered ``run_policy.json``; these are the outer
bounds no environment may exceed, and the names of the tags Dagster and Dagster+ read.
"""

from __future__ import annotations

TAG_ECS_CPU = "ecs/cpu"
TAG_ECS_MEMORY = "ecs/memory"
TAG_ECS_EPHEMERAL_STORAGE = "ecs/ephemeral_storage"
TAG_MAX_RETRIES = "dagster/max_retries"
TAG_RETRY_STRATEGY = "dagster/retry_strategy"
TAG_PRIORITY = "dagster/priority"
TAG_ALERT_TEAM = "alert_team"
TAG_RETRY_ON_ASSET_OR_OP_FAILURE = "dagster/retry_on_asset_or_op_failure"

#: Values Dagster accepts for ``dagster/retry_strategy``.
RETRY_STRATEGIES = ("FROM_FAILURE", "ALL_STEPS", "FROM_ASSET_FAILURE")

#: Outer bound for run retries (deployment ``run_retries.max_retries`` and the job tag).
RUN_RETRIES_MAX = 10
#: Outer bound for op/asset ``RetryPolicy.max_retries``.
OP_RETRIES_MAX = 10
#: ``dagster/priority`` range the platform allows (Dagster itself accepts any integer).
PRIORITY_RANGE = (-100, 100)

#: Team names route alerts, appear in tag values and in resource names: keep them simple.
TEAM_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
