"""One CDK Stage per environment file: its stacks, and the Dagster files rendered for review."""

from __future__ import annotations

import os

from aws_cdk import AspectPriority, Aspects, Environment, Stage, Tags
from cdk_nag import WriteNagSuppressionsToCloudFormationAspect
from constructs import Construct

from constructs_lib.alerting import render_alert_policies_yaml
from constructs_lib.code_locations import (
    render_dagster_cloud_yaml,
    render_deployment_settings_yaml,
    render_run_policy_json,
)
from constructs_lib.config import EnvironmentConfig

from .names import PlatformNames
from .observability_stack import ObservabilityStack
from .platform_stack import PlatformStack
from .storage_stack import StorageStack


def stage_environment(config: EnvironmentConfig) -> Environment | None:
    """The environment file's account/region, else the CDK CLI's defaults (from your credentials),
    else none: environment-agnostic stacks that deploy wherever the credentials point."""
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = config.region or os.environ.get("CDK_DEFAULT_REGION")
    return Environment(account=account, region=region) if account or region else None


class DagsterPlatformStage(Stage):
    """``<env>/storage`` (stateful), ``<env>/platform`` (network, cluster, agent, code locations) and
    ``<env>/observability`` (alerts, health alarms, dashboard) for one environment.

    ``artifacts`` maps file names to the Dagster documents rendered for this environment;
    ``app.py`` writes them to ``cdk.out/dagster/<env>/`` next to the templates.
    """

    def __init__(self, scope: Construct, *, config: EnvironmentConfig) -> None:
        environment = stage_environment(config)
        super().__init__(scope, config.name, env=environment)
        self.config = config
        self.storage = StorageStack(self, "storage", config=config, description=f"Dagster+ {config.name}: stateful")
        names = PlatformNames(config.name)
        self.platform = PlatformStack(
            self, "platform", config=config, storage=self.storage, names=names,
            description=f"Dagster+ {config.name}: network, cluster and agent",
        )
        self.observability = ObservabilityStack(
            self,
            "observability",
            config=config,
            names=names,
            cluster_name=config.cluster.existing_cluster_name or names.cluster,
            removal_policy=self.storage.removal_policy,
            stateful=self.storage.names,
            description=f"Dagster+ {config.name}: alerts, log forwarding, health alarms and dashboard",
        )
        self.observability.add_stack_dependency(
            self.platform, "Alarms and the stopped-task rule watch the cluster and agent by name"
        )
        self.observability.finish()
        # Record each cdk-nag acknowledgment and its reason in the template metadata, for the review
        # report. Aspects on the App do not reach into a Stage; READONLY runs after the IAM5 acknowledger.
        Aspects.of(self).add(WriteNagSuppressionsToCloudFormationAspect(), priority=AspectPriority.READONLY)
        for key, value in {"dagster-platform:environment": config.name, **config.tags}.items():
            Tags.of(self).add(key, value)
        self.artifacts: dict[str, str] = {
            "dagster.yaml": self.platform.agent.config_yaml,
            "dagster_cloud.yaml": render_dagster_cloud_yaml(
                config, account=getattr(environment, "account", None), region=getattr(environment, "region", None)
            ),
            "deployment_settings.yaml": render_deployment_settings_yaml(config),
            "run_policy.json": render_run_policy_json(config),
            "alert_policies.yaml": render_alert_policies_yaml(config),
        }
