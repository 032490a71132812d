"""The ECS cluster the agent launches code servers and runs into, and their DNS namespace."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from .config import ClusterSettings


class DagsterCluster(Construct):
    """Creates a Fargate cluster with Container Insights (or imports one by name) and a Cloud Map
    private DNS namespace where the agent registers code servers.

    Attributes: ``cluster``, ``namespace``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ClusterSettings,
        vpc: ec2.IVpc,
        namespace_name: str,
        cluster_name: str | None = None,
    ) -> None:
        """``settings``: Container Insights, or ``existing_cluster_name`` to import a cluster. ``vpc``: the VPC of
        the cluster and namespace. ``namespace_name``: the private DNS namespace (e.g. ``dagster.local``).
        ``cluster_name``: a fixed name for a created cluster (default: generated)."""
        super().__init__(scope, construct_id)
        if settings.existing_cluster_name:
            self.cluster: ecs.ICluster = ecs.Cluster.from_cluster_attributes(
                self, "Cluster", cluster_name=settings.existing_cluster_name, vpc=vpc, security_groups=[]
            )
        else:
            self.cluster = ecs.Cluster(
                self,
                "Cluster",
                vpc=vpc,
                cluster_name=cluster_name,
                container_insights_v2=(
                    ecs.ContainerInsights.ENABLED if settings.container_insights else ecs.ContainerInsights.DISABLED
                ),
                enable_fargate_capacity_providers=True,
            )
        self.namespace = servicediscovery.PrivateDnsNamespace(
            self,
            "Namespace",
            name=namespace_name,
            vpc=vpc,
            description="Code servers launched by the Dagster+ agent register here",
        )
