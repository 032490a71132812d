"""How late an asset is: from its ``FreshnessPolicy``, or from a freshness check's evaluation.

``lateness_seconds`` is how long the asset has been past its deadline (0 when fresh), which the
alert relay compares with each team's threshold. The relay, not this code, decides when to alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from dagster import AssetCheckEvaluation, FreshnessPolicy, MetadataValue
from dagster._core.definitions.freshness import CronFreshnessPolicy, TimeWindowFreshnessPolicy
from dagster._utils.schedules import get_latest_completed_cron_tick

# Metadata keys of Dagster's freshness-check factories (build_last_update_freshness_checks,
# build_time_partition_freshness_checks), in dagster/_core/definitions/asset_checks/asset_check_factories/utils.py.
FRESHNESS_PARAMS_METADATA_KEY = "dagster/freshness_params"
LAST_UPDATED_TIMESTAMP_METADATA_KEY = "dagster/last_updated_timestamp"
LOWER_BOUND_TIMESTAMP_METADATA_KEY = "dagster/freshness_lower_bound_timestamp"
LATEST_CRON_TICK_METADATA_KEY = "dagster/latest_cron_tick_timestamp"
OVERDUE_SECONDS_METADATA_KEY = "dagster/overdue_seconds"


class FreshnessState(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class LatenessEvaluation:
    state: FreshnessState
    lateness_seconds: float
    explanation: str


def evaluate_freshness_policy(
    policy: FreshnessPolicy, last_updated: float | None, now: float
) -> LatenessEvaluation | None:
    """Mirror Dagster's freshness evaluators and add how late the asset is.

    None when the asset was never materialized (Dagster's UNKNOWN): there is no lateness to measure.
    """
    if last_updated is None:
        return None
    age = max(0.0, now - last_updated)
    if isinstance(policy, TimeWindowFreshnessPolicy):
        fail_after = policy.fail_window.to_timedelta().total_seconds()
        warn_after = policy.warn_window.to_timedelta().total_seconds() if policy.warn_window else None
        if age >= fail_after:
            return LatenessEvaluation(
                FreshnessState.FAIL,
                age - fail_after,
                f"last updated {_duration(age)} ago; the policy allows {_duration(fail_after)}",
            )
        state = FreshnessState.WARN if warn_after is not None and age >= warn_after else FreshnessState.PASS
        return LatenessEvaluation(
            state, 0.0, f"last updated {_duration(age)} ago; the policy allows {_duration(fail_after)}"
        )
    if isinstance(policy, CronFreshnessPolicy):
        current = datetime.fromtimestamp(now, UTC)
        deadline = get_latest_completed_cron_tick(policy.deadline_cron, current, policy.timezone).timestamp()
        window_start = deadline - policy.lower_bound_delta.total_seconds()
        if last_updated >= window_start:
            return LatenessEvaluation(
                FreshnessState.PASS,
                0.0,
                f"updated for the deadline {_iso(deadline)} ({policy.deadline_cron})",
            )
        return LatenessEvaluation(
            FreshnessState.FAIL,
            max(0.0, now - deadline),
            f"not updated since {_iso(window_start)}, before the deadline {_iso(deadline)} ({policy.deadline_cron})",
        )
    raise TypeError(f"unsupported freshness policy type {type(policy).__name__}")


def is_freshness_check(evaluation: AssetCheckEvaluation) -> bool:
    return FRESHNESS_PARAMS_METADATA_KEY in evaluation.metadata


def freshness_check_lateness(evaluation: AssetCheckEvaluation, evaluated_at: float) -> float | None:
    """Seconds past the deadline at evaluation time; 0 when it passed; None when never updated.

    Dagster's checks record the lower bound the last update had to meet and, for cron-based
    checks, the deadline tick. Without a cron the asset became overdue ``lower_bound_delta``
    after its last update, i.e. lateness = lower bound - last update.
    """
    if evaluation.passed:
        return 0.0
    metadata = evaluation.metadata
    overdue = _number(metadata, OVERDUE_SECONDS_METADATA_KEY)
    if overdue is not None:
        return max(0.0, overdue)
    last_updated = _number(metadata, LAST_UPDATED_TIMESTAMP_METADATA_KEY)
    if last_updated is None:
        return None
    cron_tick = _number(metadata, LATEST_CRON_TICK_METADATA_KEY)
    if cron_tick is not None:
        return max(0.0, evaluated_at - cron_tick)
    lower_bound = _number(metadata, LOWER_BOUND_TIMESTAMP_METADATA_KEY)
    if lower_bound is None:
        return None
    return max(0.0, lower_bound - last_updated)


def _number(metadata: Mapping[str, MetadataValue], key: str) -> float | None:
    entry = metadata.get(key)
    value = getattr(entry, "value", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
