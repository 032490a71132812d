"""Which failed runs to alert on, and the cursor that makes those alerts at-least-once.

Dagster's ``run_failure_sensor`` moves its cursor even when the tick fails (by design: one bad
run must not block the sensor), so an alert that could not be published is never retried. The
platform's run-failure sensor is a plain ``@sensor`` over the instance's RUN_FAILURE events
instead; its cursor (``EventCursor``) moves past an event only in a tick whose publish
succeeded. A publish failure raises: the tick fails (Dagster+ alerts on it through the
``TICK_FAILURE`` policy) and the next tick sends the same alerts again, with the same identity
(``run_failure:<run id>``), so the relay sends them once.

Run retries: a run that Dagster will retry (tag ``dagster/will_retry=true``) is not alerted;
the alert comes from the last run of the chain, the one that will not be retried, and says how
many attempts were made (``dagster/retry_number`` + 1) and which run was the first
(``dagster/root_run_id``). A run marked for retry whose retry never starts within
``retry_grace_seconds`` (the retry daemon down, the job deleted) is alerted anyway; a run whose
retry decision is not recorded yet (the tag is written just after the failure) is looked at again
for up to ``settle_seconds``. Such runs wait in the cursor, so they survive restarts.
Standard library only, but for the Dagster types it reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from dagster import DagsterRun

#: Dagster's run tags (``dagster._core.storage.tags``), spelled out: they are a stable interface.
TAG_WILL_RETRY = "dagster/will_retry"
TAG_AUTO_RETRY_RUN_ID = "dagster/auto_retry_run_id"
TAG_RETRY_NUMBER = "dagster/retry_number"
TAG_ROOT_RUN_ID = "dagster/root_run_id"
TAG_PARENT_RUN_ID = "dagster/parent_run_id"
TAG_MAX_RETRIES = "dagster/max_retries"

CURSOR_VERSION = 2


@dataclass
class EventCursor:
    """``after``: storage id of the last run status event handled (None: not started yet);
    ``waiting``: runs whose alert waits (a failed run's retry decision), with when first seen."""

    after: int | None = None
    waiting: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> EventCursor:
        """This module's cursor; also Dagster's ``RunStatusSensorCursor`` of the run-failure
        sensors these replaced (same names), so an upgrade neither replays nor skips events."""
        if not text:
            return cls()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return cls()
        if not isinstance(value, Mapping):
            return cls()
        if value.get("v") == CURSOR_VERSION:
            after = value.get("after")
            waiting = value.get("waiting") or {}
            return cls(
                after=after if isinstance(after, int) else None,
                waiting={
                    str(run_id): float(seen)
                    for run_id, seen in waiting.items()
                    if isinstance(seen, (int, float)) and not isinstance(seen, bool)
                },
            )
        legacy = value.get("record_id")  # serdes form of RunStatusSensorCursor
        if isinstance(legacy, int) and legacy >= 0:
            return cls(after=legacy)
        return cls()

    def dump(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "after": self.after, "waiting": dict(sorted(self.waiting.items()))},
            sort_keys=True,
            separators=(",", ":"),
        )


class Decision(Enum):
    ALERT = "alert"
    RETRIED = "retried"  # a retry run exists: the last run of the chain alerts
    WAIT = "wait"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    note: str = ""  # why an alert is sent without waiting for a retry


def _truthy(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() == "true"


def decide(
    run: DagsterRun,
    *,
    first_seen: float,
    now: float,
    has_retry_run: bool,
    retries_enabled: bool,
    settle_seconds: float,
    retry_grace_seconds: float,
) -> Verdict:
    """Alert on this failed run now, drop it (its retry alerts), or wait for the retry decision."""
    if has_retry_run or run.tags.get(TAG_AUTO_RETRY_RUN_ID):
        return Verdict(Decision.RETRIED)
    will_retry = _truthy(run.tags.get(TAG_WILL_RETRY))
    waited = now - first_seen
    if will_retry is None:
        if retries_enabled and waited < settle_seconds:
            return Verdict(Decision.WAIT)
        return Verdict(Decision.ALERT)
    if not will_retry:
        return Verdict(Decision.ALERT)
    if waited < retry_grace_seconds:
        return Verdict(Decision.WAIT)
    return Verdict(
        Decision.ALERT,
        note=f"Dagster marked this run for retry, but no retry started within {retry_grace_seconds / 60:g} min.",
    )


@dataclass(frozen=True)
class Attempts:
    number: int  # 1 for the first run
    root_run_id: str

    @classmethod
    def of(cls, run: DagsterRun) -> Attempts:
        try:
            retry_number = int(run.tags.get(TAG_RETRY_NUMBER, "0"))
        except ValueError:
            retry_number = 0
        root = run.tags.get(TAG_ROOT_RUN_ID) or run.root_run_id or run.run_id
        return cls(number=max(retry_number, 0) + 1, root_run_id=root)

    def describe(self) -> str:
        if self.number == 1:
            return ""
        return f"Attempt {self.number} of {self.number}: run retries exhausted; first attempt: run {self.root_run_id}."


def cursor_summary(published: int, handled: int, waiting: int) -> str:
    return f"published {published} alert(s) from {handled} run event(s); {waiting} run(s) wait for a retry decision"
