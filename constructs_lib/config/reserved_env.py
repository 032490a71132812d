"""Environment variables a code location may not set: the ones the platform, the Dagster+ agent
and ECS put into code-server and run containers themselves. A code location's ``env_vars`` or
``secrets`` with such a name would silently replace (or be replaced by) the injected value.

Sources (tests compare each list with the real library where it is importable):

* this platform: every ``DAGSTER_PLATFORM_*`` name (the agent's inherited environment, the
  container context's location and default team, compute-log bucket, run policy, ...);
* dagster-cloud's ``RESERVED_ENV_VAR_NAMES`` (deployment, location, git metadata) and what its
  ``get_grpc_server_env`` sets for every code server (``DAGSTER_CLI_API_GRPC_*``, the instance
  ref, the container context, the image);
* dagster-aws's ECS run launcher (``DAGSTER_RUN_JOB_NAME``);
* ECS itself (the task's region, credentials endpoint and metadata endpoints).
"""

from __future__ import annotations

RESERVED_PREFIXES = ("DAGSTER_PLATFORM_", "DAGSTER_CLI_API_GRPC_")

#: dagster_cloud.constants.RESERVED_ENV_VAR_NAMES (dagster-cloud 1.13.27).
DAGSTER_CLOUD_RESERVED = (
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_LOCATION_NAME",
    "DAGSTER_CLOUD_GIT_SHA",
    "DAGSTER_CLOUD_GIT_TIMESTAMP",
    "DAGSTER_CLOUD_GIT_AUTHOR_EMAIL",
    "DAGSTER_CLOUD_GIT_AUTHOR_NAME",
    "DAGSTER_CLOUD_GIT_MESSAGE",
    "DAGSTER_CLOUD_GIT_BRANCH",
    "DAGSTER_CLOUD_GIT_REPO",
    "DAGSTER_CLOUD_PULL_REQUEST_ID",
    "DAGSTER_CLOUD_PULL_REQUEST_STATUS",
    "DAGSTER_CLOUD_RAW_GIT_URL",
    "DAGSTER_CLOUD_GIT_URL",
)
#: Set on every code server by dagster_cloud's ``get_grpc_server_env`` (besides DAGSTER_CLI_API_GRPC_*).
DAGSTER_CODE_SERVER = (
    "DAGSTER_LOCATION_NAME",
    "DAGSTER_INJECT_ENV_VARS_FROM_INSTANCE",
    "DAGSTER_CONTAINER_CONTEXT",
    "DAGSTER_INSTANCE_REF",
    "DAGSTER_CURRENT_IMAGE",
)
DAGSTER_RUN = ("DAGSTER_RUN_JOB_NAME",)
#: Set by ECS / Fargate in every container (ECS Developer Guide: task metadata, task IAM role).
ECS_INJECTED = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "ECS_CONTAINER_METADATA_URI",
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_AGENT_URI",
)
RESERVED_NAMES = frozenset(DAGSTER_CLOUD_RESERVED + DAGSTER_CODE_SERVER + DAGSTER_RUN + ECS_INJECTED)


def reserved_env_var_problem(name: str) -> str | None:
    """Why a code location may not set ``name``, or None."""
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            owner = "this platform" if prefix == "DAGSTER_PLATFORM_" else "the Dagster+ agent"
            return f"names starting with {prefix} are set by {owner} in every container; choose another name"
    if name in RESERVED_NAMES:
        owner = "ECS" if name in ECS_INJECTED else "Dagster+ / Dagster"
        return f"is set by {owner} in every code-server and run container; setting it here would override it"
    return None
