"""Names of the sensors the platform installs in code locations. Standard library only: the CDK
app renders them into the Dagster+ ``TICK_FAILURE`` alert policy without importing Dagster."""

from __future__ import annotations

#: ``platform_alert_sensors(name_prefix=...)`` default and the sensors it creates, in order.
DEFAULT_ALERT_PREFIX = "platform_alerts"
ALERT_SENSOR_SUFFIXES = ("run_failure", "run_success", "asset_checks", "freshness")
#: ``run_guard.run_policy_guard_sensor``'s default name (a test keeps the two equal).
RUN_POLICY_GUARD = "platform_run_policy_guard"


def alert_sensor_name(suffix: str, prefix: str = DEFAULT_ALERT_PREFIX) -> str:
    return f"{prefix}_{suffix}"


#: Every sensor the platform installs with its defaults.
PLATFORM_SENSOR_NAMES = (*(alert_sensor_name(s) for s in ALERT_SENSOR_SUFFIXES), RUN_POLICY_GUARD)
