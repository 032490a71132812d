"""Estimated monthly baseline cost: what the environment costs while nothing runs.

Quantities come from the templates (desired counts, task sizes, NAT gateways, endpoints, keys,
secrets, alarms, dashboards...) and, for log volume, from ``logging.estimated_gib_per_month``
of the environment file. Unit prices are in :mod:`.prices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import prices as p
from .inventory import Inventory, Service, to_int
from .model import as_list

#: Logs are billed while kept; the estimate counts at most this many days of stored data.
STORAGE_HORIZON_DAYS = 365
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class CostLine:
    item: str
    detail: str
    quantity: float
    price: p.Price

    @property
    def monthly(self) -> float:
        return self.quantity * self.price.amount


@dataclass
class CostEstimate:
    lines: list[CostLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    def subtotal(self, prefix: str) -> float:
        return sum(line.monthly for line in self.lines if line.item.startswith(prefix))


def _fargate_lines(service: Service, label: str) -> list[CostLine]:
    count, cpu, memory = service.desired_count, service.cpu, service.memory
    if count is None or cpu is None or memory is None:
        return []
    arm = service.architecture.upper() == "ARM64"
    vcpu_price = p.FARGATE_ARM_VCPU_HOUR if arm else p.FARGATE_VCPU_HOUR
    gb_price = p.FARGATE_ARM_GB_HOUR if arm else p.FARGATE_GB_HOUR
    hours = p.HOURS_PER_MONTH
    tasks = f"{count} task{'s' if count != 1 else ''}"
    lines = [
        CostLine(f"Fargate vCPU: {label}", f"{tasks} × {_num(cpu / 1024)} vCPU × {hours} h", count * (cpu / 1024) * hours, vcpu_price),
        CostLine(f"Fargate memory: {label}", f"{tasks} × {_num(memory / 1024)} GB × {hours} h", count * (memory / 1024) * hours, gb_price),
    ]
    extra = service.ephemeral_gib - 20
    if extra > 0:
        lines.append(
            CostLine(f"Fargate ephemeral storage: {label}", f"{tasks} × {extra} GB above 20 GB × {hours} h",
                     count * extra * hours, p.FARGATE_EPHEMERAL_GB_HOUR)
        )
    if service.assign_public_ip:
        lines.append(CostLine(f"Public IPv4: {label} tasks", f"{tasks} × {hours} h", count * hours, p.PUBLIC_IPV4_HOUR))
    return lines


def _alarm_metrics(alarm: Any) -> tuple[int, bool]:
    """(billed metrics, high resolution) of one metric alarm."""
    props = alarm.props
    metrics = [m for m in as_list(props.get("Metrics")) if isinstance(m, dict)]
    if metrics:
        stats = [m for m in metrics if "MetricStat" in m]
        periods = [to_int((m.get("MetricStat") or {}).get("Period")) for m in stats] + [to_int(m.get("Period")) for m in metrics]
        high = any(period is not None and period < 60 for period in periods)
        return max(len(stats), 1), high
    period = to_int(props.get("Period"))
    return 1, period is not None and period < 60


def estimate(inventory: Inventory, config: Any) -> CostEstimate:
    env = inventory.env
    hours = p.HOURS_PER_MONTH
    result = CostEstimate()
    lines = result.lines

    for service in inventory.services:
        if service.is_fargate:
            label = "agent service" if service is inventory.agent else f"service {service.resource.display_name}"
            lines.extend(_fargate_lines(service, label))

    nats = len(inventory.nat_gateways)
    if nats:
        lines.append(CostLine("NAT gateways", f"{nats} × {hours} h", nats * hours, p.NAT_GATEWAY_HOUR))
    eips = len(env.resources("AWS::EC2::EIP"))
    if eips:
        lines.append(CostLine("Elastic IPs (public IPv4)", f"{eips} × {hours} h", eips * hours, p.PUBLIC_IPV4_HOUR))
    az_count = sum(max(len(as_list(e.props.get("SubnetIds"))), 1) for e in inventory.interface_endpoints)
    if az_count:
        lines.append(CostLine(
            "Interface VPC endpoints",
            f"{len(inventory.interface_endpoints)} endpoints, {az_count} endpoint-AZs × {hours} h",
            az_count * hours, p.INTERFACE_ENDPOINT_AZ_HOUR,
        ))

    gib = float(config.logging.estimated_gib_per_month)
    assumption = f"{_num(gib)} GiB/month estimated by logging.estimated_gib_per_month"
    streams = [f for f in inventory.firehoses if f.sources] or inventory.firehoses
    if streams:
        lines.append(CostLine(
            "Firehose ingestion", f"{assumption} × {len(streams)} delivery stream{'s' if len(streams) != 1 else ''}",
            gib * len(streams), p.FIREHOSE_GB,
        ))
    if inventory.log_groups:
        lines.append(CostLine("CloudWatch Logs ingestion", assumption, gib, p.LOGS_INGESTION_GB))
        group = inventory.workload_log_group
        days = inventory.retention(group) if group else None
        if group is None:
            retained = [inventory.retention(g) for g in inventory.log_groups]
            days = None if any(d is None for d in retained) else max(retained)
        kept = min(days or STORAGE_HORIZON_DAYS, STORAGE_HORIZON_DAYS)
        which = "workload log group" if group is not None else "longest log group"
        retention_text = f"{days} days" if days else "never expires"
        lines.append(CostLine(
            "CloudWatch Logs storage",
            f"{_num(gib)} GiB/month × {kept} days kept ÷ {DAYS_PER_MONTH}: {which} retention {retention_text}"
            f"{f', counted up to {STORAGE_HORIZON_DAYS} days' if not days or days > STORAGE_HORIZON_DAYS else ''}; uncompressed, an upper bound",
            gib * kept / DAYS_PER_MONTH, p.LOGS_STORAGE_GB_MONTH,
        ))

    _count_line(lines, "KMS keys", env.resources("AWS::KMS::Key"), p.KMS_KEY_MONTH)
    _count_line(lines, "Secrets Manager secrets (created by these stacks)", env.resources("AWS::SecretsManager::Secret"), p.SECRET_MONTH)
    zones = env.resources("AWS::Route53::HostedZone", "AWS::ServiceDiscovery::PrivateDnsNamespace", "AWS::ServiceDiscovery::PublicDnsNamespace")
    _count_line(lines, "Route 53 hosted zones (incl. Cloud Map DNS namespaces)", zones, p.HOSTED_ZONE_MONTH)

    tables = env.resources("AWS::DynamoDB::Table")
    on_demand = [t for t in tables if t.props.get("BillingMode") == "PAY_PER_REQUEST"]
    _count_line(lines, "DynamoDB tables, on-demand (idle)", on_demand, p.IDLE)
    for table in tables:
        if table in on_demand:
            continue
        throughput = table.props.get("ProvisionedThroughput") or {}
        rcu, wcu = to_int(throughput.get("ReadCapacityUnits")) or 0, to_int(throughput.get("WriteCapacityUnits")) or 0
        if rcu:
            lines.append(CostLine(f"DynamoDB read capacity: {table.display_name}", f"{rcu} RCU × {hours} h", rcu * hours, p.DYNAMODB_RCU_HOUR))
        if wcu:
            lines.append(CostLine(f"DynamoDB write capacity: {table.display_name}", f"{wcu} WCU × {hours} h", wcu * hours, p.DYNAMODB_WCU_HOUR))
    _count_line(lines, "SQS queues (idle)", env.resources("AWS::SQS::Queue"), p.IDLE)
    _count_line(lines, "SNS topics (idle)", env.resources("AWS::SNS::Topic"), p.IDLE)
    _count_line(lines, "Lambda functions (idle)", env.resources("AWS::Lambda::Function"), p.IDLE)

    standard = high = 0
    for alarm in env.resources("AWS::CloudWatch::Alarm"):
        metrics, is_high = _alarm_metrics(alarm)
        if is_high:
            high += metrics
        else:
            standard += metrics
    if standard:
        lines.append(CostLine("CloudWatch alarms", f"{standard} alarm metrics", standard, p.ALARM_METRIC_MONTH))
    if high:
        lines.append(CostLine("CloudWatch alarms, high resolution", f"{high} alarm metrics", high, p.ALARM_HIGH_RESOLUTION_METRIC_MONTH))
    _count_line(lines, "CloudWatch composite alarms", env.resources("AWS::CloudWatch::CompositeAlarm"), p.COMPOSITE_ALARM_MONTH)
    _count_line(lines, "CloudWatch dashboards", env.resources("AWS::CloudWatch::Dashboard"), p.DASHBOARD_MONTH)

    result.notes.append(p.EXCLUDED)
    return result


def _count_line(lines: list[CostLine], item: str, resources: list, price: p.Price) -> None:
    if resources:
        lines.append(CostLine(item, f"{len(resources)} × 1 month", len(resources), price))


def _num(value: float) -> str:
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return text or "0"


def money(value: float) -> str:
    return f"${value:,.2f}"


def unit_price(price: p.Price) -> str:
    amount = f"{price.amount:.6f}".rstrip("0")
    if amount.endswith("."):
        amount += "00"
    elif len(amount.split(".")[1]) < 2:
        amount += "0"
    return f"${amount} / {price.unit}"


def quantity(value: float, unit: str = "") -> str:
    if unit.endswith(("hour", "month")) and value != 1:
        unit += "s"
    return f"{_num(value)} {unit}".strip()
