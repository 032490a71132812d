"""Where the platform's tasks run: a new VPC, or an existing VPC and subnets."""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from .config import NetworkSettings
from .config.subnet_plan import parse_vpc_cidr, plan_subnets
from .retention import log_retention


class DagsterNetwork(Construct):
    """Creates a VPC (public subnets only, or private subnets with NAT) with flow logs, or
    imports an existing VPC's subnets.

    Attributes: ``vpc``, ``subnets`` (the selection tasks run in), ``subnet_ids``,
    ``assign_public_ip``, ``flow_log_group`` (None for an imported VPC).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NetworkSettings,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """``settings``: ``mode`` ``public`` (no NAT, tasks get public IPs), ``private`` (NAT per
        ``nat_gateways``) or ``existing`` (``vpc_id`` and ``subnet_ids``), CIDR, AZs, flow-log retention.
        ``removal_policy``: of the flow-log group (default RETAIN)."""
        super().__init__(scope, construct_id)
        self.settings = settings
        self.assign_public_ip = settings.tasks_get_public_ip
        self.flow_log_group: logs.LogGroup | None = None

        if settings.mode == "existing":
            subnets = [
                ec2.Subnet.from_subnet_id(self, f"Subnet{index}", subnet_id)
                for index, subnet_id in enumerate(settings.subnet_ids)
            ]
            # Only the VPC id is used (for security groups); the tasks' subnets are given explicitly.
            self.vpc: ec2.IVpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=settings.vpc_id, availability_zones=Fn.get_azs()
            )
            self.subnets = ec2.SubnetSelection(subnets=subnets)
            self.subnet_ids = list(settings.subnet_ids)
            return

        public = settings.mode == "public"
        # Subnet sizes follow the VPC's block (the same plan the settings were validated with).
        plan = plan_subnets(parse_vpc_cidr(settings.cidr).prefixlen, settings.max_azs, settings.mode)
        subnet_types = {"public": ec2.SubnetType.PUBLIC, "private": ec2.SubnetType.PRIVATE_WITH_EGRESS}
        subnet_configuration = [
            ec2.SubnetConfiguration(name=group, subnet_type=subnet_types[group], cidr_mask=plan.masks[group])
            for group in plan.groups
        ]
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.cidr),
            max_azs=settings.max_azs,
            nat_gateways=0 if public else settings.nat_gateways,
            subnet_configuration=subnet_configuration,
            restrict_default_security_group=True,
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(settings.flow_logs_retention_days),
            removal_policy=removal_policy,
        )
        stack = Stack.of(self)
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            description="VPC flow logs deliver to their log group",
            # Only this account's flow logs may use the role (no confused deputy).
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="ec2", resource="vpc-flow-log", resource_name="*")},
                },
            ),
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group, flow_log_role),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.vpc = vpc
        self.subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PUBLIC if public else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        self.subnet_ids = vpc.select_subnets(subnet_type=self.subnets.subnet_type).subnet_ids

