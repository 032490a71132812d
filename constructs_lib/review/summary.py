"""Section "What this environment deploys": the settings a reviewer checks, as deployed.

A value present in both the environment file and the templates (replicas, task size, image,
retention) is read from the TEMPLATE, and flagged when it differs from the file: the report
shows what will deploy. Settings only Dagster+ reads (code locations, deployment settings,
limits, alert routes) come from the environment file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .inventory import Inventory, image_repository, to_int
from .md import WARNING, code, codes, plural, table, text
from .model import Resource, as_list, flatten

HEADING = "## What this environment deploys"


def _check(template_value: Any, config_value: Any) -> str:
    """A warning when the template disagrees with the environment file."""
    if config_value is None or template_value is None or template_value == config_value:
        return ""
    return f" {WARNING} environment file says {code(config_value)}"


def _days(days: int | None) -> str:
    return "never expires" if days is None else plural(days, "day")


def _seconds(value: int) -> str:
    if value and value % 3600 == 0:
        return f"{value} s ({value // 3600} h)"
    if value and value % 60 == 0:
        return f"{value} s ({value // 60} min)"
    return f"{value} s"


def _size(cpu: int | None, memory: int | None) -> str:
    if cpu is None or memory is None:
        return "—"
    return f"{cpu} CPU units ({cpu / 1024:g} vCPU) / {memory} MiB"


def deploy_mode(maximum: int | None, minimum: int | None) -> str:
    if (maximum, minimum) == (100, 0):
        return "stop-then-start 100/0 (old agent stops before the new one starts)"
    if (maximum, minimum) == (200, 100):
        return "zero-downtime 200/100 (new agent healthy before the old one stops)"
    return f"{maximum}% maximum / {minimum}% minimum healthy"


def _agent(inv: Inventory, config: Any) -> list[str]:
    agent = inv.agent
    settings = config.agent
    lines = ["### Agent", ""]
    if agent is None:
        return lines + [f"{WARNING} No ECS service running the agent image {code(settings.image)} is in the templates.", ""]
    image = agent.image or ""
    repository = image_repository(image)
    version = image[len(repository) + 1:] if image.startswith(repository + ":") else ""
    maximum, minimum = agent.deployment
    zero_downtime = (maximum, minimum) == (200, 100)
    group = inv.agent_log_group
    retention = inv.retention(group) if group else None
    rows = [
        ("Service", f"{code(agent.resource.logical_id)} in {code(agent.resource.stack.name)}"),
        ("Image", code(repository) + _check(repository, settings.image)),
        ("Version", code(version) + _check(version, settings.version)),
        ("Replicas (desired count)", f"{agent.desired_count}{_check(agent.desired_count, settings.replicas)}"),
        ("CPU / memory", _size(agent.cpu, agent.memory) + _check(agent.cpu, settings.cpu) + _check(agent.memory, settings.memory)),
        ("Deploy mode", deploy_mode(maximum, minimum) + _check(zero_downtime, settings.zero_downtime_deploys)),
        ("Deployment circuit breaker", agent.circuit_breaker),
        ("CPU architecture", agent.architecture),
        ("Public IP on tasks", ("enabled" if agent.assign_public_ip else "disabled") + _check(agent.assign_public_ip, config.network.tasks_get_public_ip)),
        ("Log group", (f"{code(group.display_name)}, {_days(retention)}" + _check(retention, settings.log_retention_days)) if group else "— (not found in the templates)"),
        ("Token secret", _token(settings)),
        ("Dagster+ deployments", codes(config.dagster.deployments) + (" + branch deployments" if config.dagster.branch_deployments else "")),
        ("Agent queues", _queues(config)),
    ]
    return lines + table(("Setting", "Value (from the templates where deployed)"), rows) + [""]


def _token(settings: Any) -> str:
    token = settings.token_secret
    if token.existing_secret_arn:
        return f"existing secret {code(token.existing_secret_arn)}"
    if token.existing_secret_name:
        return f"existing secret {code(token.existing_secret_name)}"
    return "created by the storage stack (put the token in it after the first deploy)"


def _queues(config: Any) -> str:
    queues = config.dagster.agent_queues
    names = (["default"] if queues.include_default_queue else []) + list(queues.additional_queues)
    return codes(names)


def _network(inv: Inventory, config: Any) -> list[str]:
    network = config.network
    rows: list[tuple[str, str]] = [("Mode", code(network.mode))]
    if inv.vpcs:
        for vpc in inv.vpcs:
            cidr = flatten(vpc.props.get("CidrBlock"))
            rows.append(("VPC", f"{code(vpc.logical_id)} {code(cidr)}" + (_check(cidr, network.cidr) if network.mode != "existing" else "")))
    elif network.mode == "existing":
        rows.append(("VPC", f"existing {code(network.vpc_id)}, subnets {codes(network.subnet_ids)}"))
    subnets = inv.env.resources("AWS::EC2::Subnet")
    if subnets:
        kinds = Counter(_subnet_kind(s) for s in subnets)
        rows.append(("Subnets", ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))))
    rows.append(("NAT gateways", str(len(inv.nat_gateways)) + (_check(len(inv.nat_gateways), network.nat_gateways) if network.mode == "private" else "")))
    endpoints = [f"gateway {code(flatten(e.props.get('ServiceName')))}" for e in inv.gateway_endpoints]
    endpoints += [
        f"interface {code(flatten(e.props.get('ServiceName')))} in {plural(len(as_list(e.props.get('SubnetIds'))), 'AZ')}"
        for e in inv.interface_endpoints
    ]
    rows.append(("VPC endpoints", ", ".join(endpoints) or "none"))
    for flow_log in inv.env.resources("AWS::EC2::FlowLog"):
        group = inv.env.resolve(flow_log.props.get("LogGroupName") or flow_log.props.get("LogDestination"), flow_log.stack, "AWS::Logs::LogGroup")
        retention = inv.retention(group) if group else None
        rows.append((
            "VPC flow logs",
            f"{text(flow_log.props.get('TrafficType', 'ALL'))} traffic"
            + (f", kept {_days(retention)}" + _check(retention, network.flow_logs_retention_days) if group else ""),
        ))
    clusters = inv.env.resources("AWS::ECS::Cluster")
    for cluster in clusters:
        insights = next(
            (s.get("Value") for s in as_list(cluster.props.get("ClusterSettings")) if isinstance(s, dict) and s.get("Name") == "containerInsights"),
            "disabled",
        )
        rows.append(("ECS cluster", f"{code(cluster.display_name)}, Container Insights {text(insights)}"))
    if not clusters and config.cluster.existing_cluster_name:
        rows.append(("ECS cluster", f"existing {code(config.cluster.existing_cluster_name)}"))
    return ["### Network and cluster", ""] + table(("Setting", "Value"), rows) + [""]


def _subnet_kind(subnet: Resource) -> str:
    for tag in as_list(subnet.props.get("Tags")):
        if isinstance(tag, dict) and tag.get("Key") == "aws-cdk:subnet-type":
            return f"{str(tag.get('Value')).lower()}"
    return "public" if subnet.props.get("MapPublicIpOnLaunch") else "other"


def log_group_users(inv: Inventory) -> dict[Resource, str]:
    users: dict[Resource, list[str]] = {}

    def add(group: Resource | None, who: str) -> None:
        if group is not None and who not in users.setdefault(group, []):
            users[group].append(who)

    add(inv.agent_log_group, "agent")
    add(inv.workload_log_group, "code servers and runs")
    for flow_log in inv.env.resources("AWS::EC2::FlowLog"):
        add(inv.env.resolve(flow_log.props.get("LogGroupName") or flow_log.props.get("LogDestination"), flow_log.stack, "AWS::Logs::LogGroup"), "VPC flow logs")
    for rule, _pattern, targets in inv.event_rules():
        for target in targets:
            if target.type == "AWS::Logs::LogGroup":
                add(target, f"EventBridge rule {rule.logical_id}")
    for firehose in inv.firehoses:
        for key, destination in firehose.resource.props.items():
            options = (destination.get("CloudWatchLoggingOptions") or {}) if isinstance(destination, dict) else {}
            if options.get("LogGroupName"):
                group = inv.env.resolve(options["LogGroupName"], firehose.resource.stack, "AWS::Logs::LogGroup")
                add(group, f"Firehose {firehose.resource.display_name} delivery errors")
    for function in inv.env.resources("AWS::Lambda::Function"):
        logging = function.props.get("LoggingConfig") or {}
        add(inv.env.resolve(logging.get("LogGroup"), function.stack, "AWS::Logs::LogGroup") if logging.get("LogGroup") else None,
            f"Lambda {function.logical_id}")
    return {group: ", ".join(who) for group, who in users.items()}


def _logs(inv: Inventory, config: Any) -> list[str]:
    lines = ["### Log groups", ""]
    if not inv.log_groups:
        return lines + ["No log groups in the templates.", ""]
    users = log_group_users(inv)
    expected = {inv.agent_log_group: config.agent.log_retention_days, inv.workload_log_group: config.logging.workload_retention_days}
    rows = []
    for group in inv.log_groups:
        retention = inv.retention(group)
        rows.append((
            code(group.display_name),
            text(users.get(group, "")),
            _days(retention) + _check(retention, expected.get(group)),
            "KMS " + code(flatten(group.props["KmsKeyId"])) if group.props.get("KmsKeyId") else "CloudWatch default",
            text(group.body.get("DeletionPolicy", "Delete")),
            code(group.stack.name),
        ))
    return lines + table(("Log group", "Used by", "Retention", "Encryption", "On stack delete", "Stack"), rows) + [""]


def bucket_encryption(bucket: Resource) -> str:
    rules = as_list((bucket.props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration"))
    for rule in rules:
        default = (rule or {}).get("ServerSideEncryptionByDefault") or {}
        algorithm = default.get("SSEAlgorithm")
        if algorithm in ("aws:kms", "aws:kms:dsse"):
            key = default.get("KMSMasterKeyID")
            return f"SSE-KMS {code(flatten(key))}" if key else "SSE-KMS (AWS managed key)"
        if algorithm:
            return "SSE-S3" if algorithm == "AES256" else text(algorithm)
    return "SSE-S3 (S3 default)"


def _count_days(value: Any) -> str:
    number = to_int(value)
    return plural(number, "day") if number is not None else f"{flatten(value)} days"


def bucket_lifecycle(bucket: Resource) -> str:
    parts = []
    for rule in as_list((bucket.props.get("LifecycleConfiguration") or {}).get("Rules")):
        if not isinstance(rule, dict) or rule.get("Status") == "Disabled":
            continue
        scope = rule.get("Prefix") or ((rule.get("Filter") or {}).get("Prefix") if isinstance(rule.get("Filter"), dict) else None)
        bits = []
        if rule.get("ExpirationInDays") is not None:
            bits.append(f"expire after {_count_days(rule['ExpirationInDays'])}")
        noncurrent = rule.get("NoncurrentVersionExpiration") or {}
        if noncurrent.get("NoncurrentDays") is not None:
            bits.append(f"old versions after {_count_days(noncurrent['NoncurrentDays'])}")
        if rule.get("NoncurrentVersionExpirationInDays") is not None:
            bits.append(f"old versions after {_count_days(rule['NoncurrentVersionExpirationInDays'])}")
        for transition in as_list(rule.get("Transitions")):
            bits.append(f"to {transition.get('StorageClass')} after {_count_days(transition.get('TransitionInDays'))}")
        upload = rule.get("AbortIncompleteMultipartUpload") or {}
        if upload.get("DaysAfterInitiation") is not None:
            bits.append(f"abort uploads after {_count_days(upload['DaysAfterInitiation'])}")
        if rule.get("ExpiredObjectDeleteMarker"):
            bits.append("remove expired delete markers")
        if bits:
            parts.append((f"{code(flatten(scope))}: " if scope else "") + ", ".join(bits))
    return "; ".join(parts) or "none (kept forever)"


def expiration_days(bucket: Resource) -> list[int]:
    """ExpirationInDays of each enabled lifecycle rule (tests compare them with the environment file)."""
    return [
        to_int(rule["ExpirationInDays"])
        for rule in as_list((bucket.props.get("LifecycleConfiguration") or {}).get("Rules"))
        if isinstance(rule, dict) and rule.get("Status") != "Disabled" and rule.get("ExpirationInDays") is not None
    ]


def _buckets(inv: Inventory, config: Any) -> list[str]:
    lines = ["### Buckets", ""]
    if not inv.buckets:
        compute = config.storage.compute_logs
        return lines + [
            f"No S3 buckets in the templates. The environment file asks for a compute-log bucket "
            f"({text(compute.encryption)}, expire after {compute.expiration_days} days).",
            "",
        ]
    roles = inv.bucket_roles
    rows = []
    for bucket in inv.buckets:
        versioning = (bucket.props.get("VersioningConfiguration") or {}).get("Status", "off")
        logging = bucket.props.get("LoggingConfiguration") or {}
        target = inv.env.resolve(logging.get("DestinationBucketName"), bucket.stack, "AWS::S3::Bucket") if logging else None
        expected = config.storage.compute_logs.expiration_days if bucket is inv.compute_log_bucket else None
        days = expiration_days(bucket)
        rows.append((
            code(bucket.display_name),
            text(roles.get(bucket, "")),
            bucket_encryption(bucket),
            text(versioning),
            bucket_lifecycle(bucket) + (_check(days[0], expected) if days and expected else ""),
            code(target.display_name) if target else ("to " + code(flatten(logging.get("DestinationBucketName"))) if logging else "off"),
            code(bucket.stack.name),
        ))
    return lines + table(("Bucket", "Purpose", "Encryption", "Versioning", "Lifecycle", "Access logs", "Stack"), rows) + [""]


def _forwarding(inv: Inventory, config: Any) -> list[str]:
    lines = ["### Log forwarding", ""]
    forwarding = config.logging.forwarding
    if not inv.firehoses:
        if forwarding is None:
            return lines + ["Log forwarding is off (no `logging.forwarding` in the environment file).", ""]
        wanted = []
        if forwarding.archive:
            wanted.append(f"S3 archive (expire after {forwarding.archive.expiration_days} days)")
        if forwarding.http_endpoint:
            wanted.append(f"HTTP endpoint {code(forwarding.http_endpoint.name)} {code(forwarding.http_endpoint.url)}")
        return lines + [
            f"{WARNING} The environment file forwards logs to {', '.join(wanted)}, "
            "but no Firehose delivery stream is in the templates yet.",
            "",
        ]
    rows = []
    for firehose in inv.firehoses:
        targets = []
        if firehose.archive_bucket or firehose.archive_prefix:
            name = firehose.archive_bucket.display_name if firehose.archive_bucket else "?"
            targets.append(f"S3 {code(name)}" + (f" prefix {code(firehose.archive_prefix)}" if firehose.archive_prefix else ""))
        if firehose.http_endpoint:
            targets.append(f"HTTP {code(firehose.http_endpoint['name'])} {code(firehose.http_endpoint['url'])}")
        if firehose.backup_bucket:
            targets.append(f"failed deliveries to {code(firehose.backup_bucket.display_name)}")
        sources = [f"{code(label)} ({code(pattern) if pattern else 'all events'})" for _group, label, pattern in firehose.sources]
        rows.append((
            code(firehose.resource.display_name), "<br>".join(targets) or "—", text(firehose.buffering or "default"),
            "<br>".join(sources) or "no subscription filter",
        ))
    return lines + table(("Delivery stream", "Destination", "Buffering", "Log groups (filter)"), rows) + [""]


def _alerting(config: Any) -> list[str]:
    alerting = config.alerting
    rows = []
    for name, route in alerting.teams.items():
        destinations = []
        if route.email:
            destinations.append("email " + codes(route.email))
        if route.slack_webhook_secret:
            destinations.append(f"Slack (webhook in secret {code(route.slack_webhook_secret)})")
        if route.teams_webhook_secret:
            destinations.append(f"Microsoft Teams (webhook in secret {code(route.teams_webhook_secret)})")
        locations = [loc for loc, settings in config.code_locations.items() if settings.alert_team == name]
        rows.append((
            code(name) + (" **(default)**" if name == alerting.default_team else ""),
            "<br>".join(destinations),
            f"{route.sla_lateness_minutes} min",
            codes(locations),
        ))
    lines = ["### Alert routes", ""] + table(("Team", "Destinations", "SLA lateness", "Code locations"), rows) + [""]
    facts = [
        f"Default team: {code(alerting.default_team)}",
        f"deduplication window {_seconds(alerting.dedup_window_seconds)}",
        f"dead-letter after {plural(alerting.max_receive_count, 'receive')}",
        f"ECS task alerts {'on' if alerting.ecs_task_alerts else 'off'}",
        f"Dagster+ webhook {'on' if alerting.webhook else 'off'}",
    ]
    if alerting.email:
        identity = f"domain {code(alerting.email.domain)}" if alerting.email.domain else f"address {code(alerting.email.address)}"
        facts.append(f"email from {code(alerting.email.sender)} (SES {identity})")
    return lines + ["; ".join(facts) + ".", ""]


def _code_locations(inv: Inventory, config: Any) -> list[str]:
    lines = ["### Code locations", ""]
    if not config.code_locations:
        return lines + ["No code locations in the environment file.", ""]
    rows = []
    for name, location in config.code_locations.items():
        source = location.code_source
        kind, value = next((k, v) for k, v in (("package", source.package_name), ("module", source.module_name), ("file", source.python_file)) if v)
        storage = location.run.ephemeral_storage_gib
        repositories = inv.repositories_for(name)
        images = f"{'immutable' if location.immutable_tags else 'mutable'} tags, keep {location.keep_images}"
        if repositories:
            images += "; ECR " + codes(r.display_name for r in repositories)
        settings = []
        if location.env_vars:
            settings.append("env " + codes(location.env_vars))
        if location.secrets:
            settings.append("secrets " + codes(location.secrets))
        if location.secrets_tags:
            settings.append("secret tags " + codes(location.secrets_tags))
        rows.append((
            code(name), f"{kind} {code(value)}",
            f"{location.server.cpu} / {location.server.memory} MiB",
            f"{location.run.cpu} / {location.run.memory} MiB",
            f"{storage} GiB" if storage else "20 GiB (Fargate default)",
            code(location.alert_team), code(location.agent_queue or "default"), images,
            "<br>".join(settings) or "—",
        ))
    headers = ("Location", "Code source", "Server CPU / memory", "Run CPU / memory", "Run ephemeral storage", "Alert team", "Agent queue", "Images", "Environment")
    return lines + table(headers, rows) + [""]


def _deployment_settings(config: Any, artifacts: dict[str, str]) -> list[str]:
    settings = config.deployment_settings
    runs = settings.concurrency.runs
    limits = [
        f"{code(limit.key + ('=' + limit.value if limit.value is not None else ''))}: {limit.limit}"
        for limit in runs.tag_concurrency_limits
    ]
    monitoring = settings.run_monitoring
    rows = [
        ("Run retries", f"max {settings.run_retries.max_retries}, on asset/op failure {'yes' if settings.run_retries.retry_on_asset_or_op_failure else 'no'}"),
        ("Max concurrent runs", "unlimited" if runs.max_concurrent_runs == -1 else str(runs.max_concurrent_runs)),
        ("Tag concurrency limits", ", ".join(limits) or "none"),
        ("Pool default limit", str(settings.concurrency.pools.default_limit) if settings.concurrency.pools.default_limit is not None else "none"),
        ("Run start timeout", _seconds(monitoring.start_timeout_seconds)),
        ("Run cancel timeout", _seconds(monitoring.cancel_timeout_seconds)),
        ("Max run time", _seconds(monitoring.max_runtime_seconds) if monitoring.max_runtime_seconds else "no limit"),
    ]
    lines = ["### Deployment settings", ""] + table(("Setting", "Value"), rows) + [""]
    if "deployment_settings.yaml" in artifacts:
        lines += [f"Rendered to `dagster/{config.name}/deployment_settings.yaml`.", ""]
    return lines


def _limits(config: Any) -> list[str]:
    limits = config.limits
    rows = [
        ("Max CPU", f"{limits.max_cpu} CPU units ({limits.max_cpu / 1024:g} vCPU)"),
        ("Max memory", f"{limits.max_memory_mib} MiB"),
        ("Max ephemeral storage", f"{limits.max_ephemeral_storage_gib} GiB"),
        ("Max run retries", str(limits.max_run_retries)),
        ("Max op retries", str(limits.max_op_retries)),
        ("Priority range", f"{limits.priority.min} to {limits.priority.max}"),
        ("Required tags", codes(limits.required_tags)),
    ]
    return ["### Limits", ""] + table(("Limit", "Value"), rows) + [""]


def _resources(inv: Inventory) -> list[str]:
    stacks = inv.env.stacks
    counts = {stack.name: Counter(r.type for r in stack.resources.values()) for stack in stacks}
    types = sorted({t for c in counts.values() for t in c})
    rows = [[code(t)] + [str(counts[s.name].get(t, "")) for s in stacks] for t in types]
    rows.append(["**total**"] + [f"**{sum(counts[s.name].values())}**" for s in stacks])
    files = ", ".join(code(name) for name in inv.env.artifacts) or "none"
    return (
        ["### Resources by type", ""]
        + table(["Type"] + [s.name for s in stacks], rows)
        + ["", f"Dagster files in `dagster/{inv.env.name}/`: {files}.", ""]
    )


def render(inv: Inventory, config: Any) -> list[str]:
    lines = [HEADING, ""]
    for part in (
        _agent(inv, config), _network(inv, config), _logs(inv, config), _buckets(inv, config),
        _forwarding(inv, config), _alerting(config), _code_locations(inv, config),
        _deployment_settings(config, inv.env.artifacts), _limits(config), _resources(inv),
    ):
        lines += part
    return lines
