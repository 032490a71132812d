"""Section "Diagram": a Mermaid flowchart GitHub renders, drawn only from what is deployed.

Nodes come from the templates (agent service, cluster, VPC, log groups, buckets, Firehose,
queues, Lambda functions, topics, rules, alarms, tables) and from the environment file for what
Dagster+ manages (code locations, alert teams and their destinations). Every label is escaped
with Mermaid entity codes, so quotes, brackets and angle brackets in names cannot break the chart.
"""

from __future__ import annotations

import re
from typing import Any

from .inventory import Inventory
from .model import Resource, as_list, flatten, iter_statements
from .summary import deploy_mode

HEADING = "## Diagram"

_ENTITIES = {
    "#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "(": "#40;", ")": "#41;", "[": "#91;", "]": "#93;",
    "{": "#123;", "}": "#125;", "|": "#124;", "`": "#96;",
}

SHAPES = {
    "box": ('["', '"]'),
    "round": ('("', '")'),
    "external": ('(["', '"])'),
    "store": ('[("', '")]'),
    "queue": ('{{"', '"}}'),
    "function": ('[["', '"]]'),
}


def escape(value: Any) -> str:
    return "".join(_ENTITIES.get(char, char) for char in " ".join(str(value).split()))


def label(*parts: Any) -> str:
    return "<br/>".join(escape(part) for part in parts if part not in (None, ""))


class Chart:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.edges: list[str] = []
        self.ids: dict[Any, str] = {}
        self._indent = 1

    def _new_id(self, hint: str) -> str:
        base = "n_" + (re.sub(r"[^A-Za-z0-9_]", "_", hint).strip("_") or "node")
        candidate, number = base, 2
        while candidate in self.ids.values():
            candidate, number = f"{base}_{number}", number + 1
        return candidate

    def node(self, key: Any, hint: str, shape: str, *parts: Any) -> str:
        if key in self.ids:
            return self.ids[key]
        node_id = self._new_id(hint)
        self.ids[key] = node_id
        opening, closing = SHAPES[shape]
        self.lines.append("  " * self._indent + f"{node_id}{opening}{label(*parts)}{closing}")
        return node_id

    def open(self, key: Any, hint: str, *parts: Any) -> str:
        node_id = self._new_id(hint)
        self.ids[key] = node_id
        self.lines.append("  " * self._indent + f'subgraph {node_id}["{label(*parts)}"]')
        self._indent += 1
        return node_id

    def close(self) -> None:
        self._indent -= 1
        self.lines.append("  " * self._indent + "end")

    def edge(self, source: str | None, target: str | None, text: str | None = None, dotted: bool = False) -> None:
        if not source or not target or source == target:
            return
        arrow = "-.->" if dotted else "-->"
        line = f"  {source} {arrow}|\"{escape(text)}\"| {target}" if text else f"  {source} {arrow} {target}"
        if line not in self.edges:
            self.edges.append(line)

    def render(self) -> list[str]:
        return ["```mermaid", "flowchart LR", *self.lines, *self.edges, "```"]


def location_node_label(name: str) -> str:
    """The first line of a code location's node (tests find one node per location by it)."""
    return f"code location: {name}"


def build(inv: Inventory, config: Any) -> Chart:
    env = inv.env
    chart = Chart()
    dagster = config.dagster
    cloud = chart.node("dagster-cloud", "dagster_cloud", "external",
                       f"Dagster+ {dagster.organization}", "deployments: " + ", ".join(dagster.deployments))

    account = " ".join(part for part in (config.account, config.region) if part) or "account and region from the deploy credentials"
    chart.open("aws", "aws", f"AWS {account}")

    # ---- network, cluster, agent, code locations
    vpc_open = False
    if inv.vpcs or config.network.mode == "existing":
        vpc = inv.vpcs[0] if inv.vpcs else None
        parts = [f"VPC {flatten(vpc.props.get('CidrBlock'))}" if vpc else f"existing VPC {config.network.vpc_id}"]
        if inv.nat_gateways:
            parts.append(f"{len(inv.nat_gateways)} NAT gateway{'s' if len(inv.nat_gateways) != 1 else ''}")
        elif vpc:
            parts.append("public subnets, no NAT")
        chart.open("vpc", "vpc", *parts)
        vpc_open = True
    agent = inv.agent
    cluster = agent.cluster if agent else next(iter(env.resources("AWS::ECS::Cluster")), None)
    cluster_name = cluster.display_name if cluster else config.cluster.existing_cluster_name or "existing cluster"
    chart.open("cluster", "cluster", f"ECS cluster {cluster_name}", "Fargate")
    agent_id = None
    if agent:
        maximum, minimum = agent.deployment
        agent_id = chart.node(agent.resource, "agent", "box",
                              "Dagster+ agent service",
                              f"{agent.desired_count} × {agent.cpu} CPU / {agent.memory} MiB",
                              agent.image, deploy_mode(maximum, minimum).split(" (")[0])
    locations_id = None
    if config.code_locations:
        locations_id = chart.open("locations", "code_locations", "code servers and runs")
        for name, location in config.code_locations.items():
            chart.node(("location", name), f"location_{name}", "box",
                       location_node_label(name),
                       f"server {location.server.cpu}/{location.server.memory} · run {location.run.cpu}/{location.run.memory}",
                       f"alerts: {location.alert_team}" + (f" · queue {location.agent_queue}" if location.agent_queue else ""))
        chart.close()
    chart.close()  # cluster
    if vpc_open:
        chart.close()
    chart.edge(agent_id, cloud, "polls over HTTPS")
    chart.edge(agent_id, locations_id, "starts and stops")

    # ---- logs, buckets, forwarding
    def group_node(group: Resource | None) -> str | None:
        if group is None:
            return None
        days = inv.retention(group)
        return chart.node(group, f"log_{group.logical_id}", "store", f"log group {group.display_name}",
                          f"{days} days" if days else "never expires")

    chart.edge(agent_id, group_node(inv.agent_log_group), "logs")
    chart.edge(locations_id, group_node(inv.workload_log_group), "logs")

    def bucket_node(bucket: Resource | None) -> str | None:
        if bucket is None:
            return None
        purpose = inv.bucket_roles.get(bucket)
        return chart.node(bucket, f"bucket_{bucket.logical_id}", "store", f"S3 {bucket.display_name}", purpose)

    chart.edge(locations_id, bucket_node(inv.compute_log_bucket), "compute logs")
    for firehose in inv.firehoses:
        stream = chart.node(firehose.resource, f"firehose_{firehose.resource.logical_id}", "box",
                            f"Firehose {firehose.resource.display_name}", firehose.buffering)
        for group, group_label, pattern in firehose.sources:
            source = group_node(group) or chart.node(("group", group_label), f"log_{group_label}", "store", f"log group {group_label}")
            chart.edge(source, stream, f"filter {pattern}" if pattern else "all events")
        chart.edge(stream, bucket_node(firehose.archive_bucket), "archive")
        chart.edge(stream, bucket_node(firehose.backup_bucket), "failed deliveries", dotted=True)
    for bucket in inv.buckets:
        logging = bucket.props.get("LoggingConfiguration") or {}
        target = inv.env.resolve(logging.get("DestinationBucketName"), bucket.stack, "AWS::S3::Bucket") if logging else None
        chart.edge(bucket_node(bucket), bucket_node(target), "access logs", dotted=True)

    # ---- alerting
    relays = _alerting(chart, inv, agent_id, locations_id)
    chart.close()  # aws

    for firehose in inv.firehoses:
        if firehose.http_endpoint:
            endpoint = chart.node(("http", firehose.http_endpoint["url"]), f"http_{firehose.http_endpoint['name']}", "external",
                                  f"HTTP endpoint {firehose.http_endpoint['name']}", firehose.http_endpoint["url"])
            chart.edge(chart.ids[firehose.resource], endpoint, "HTTPS")
    if relays:
        _teams(chart, inv, config, relays)
    return chart


def _queue_label(inv: Inventory, queue: Resource) -> tuple[str, str]:
    is_dlq = queue in inv.dead_letter_queues
    return ("dead-letter queue" if is_dlq else "SQS queue"), queue.display_name


def _alerting(chart: Chart, inv: Inventory, agent_id: str | None, locations_id: str | None) -> list[str]:
    env = inv.env
    relays: list[str] = []
    for queue in inv.queues:
        kind, name = _queue_label(inv, queue.resource)
        queue_id = chart.node(queue.resource, f"queue_{queue.resource.logical_id}", "queue", kind, name)
        if queue.dead_letter is not None:
            dlq_kind, dlq_name = _queue_label(inv, queue.dead_letter)
            dlq_id = chart.node(queue.dead_letter, f"queue_{queue.dead_letter.logical_id}", "queue", dlq_kind, dlq_name)
            receives = f"after {queue.max_receive_count} receives" if queue.max_receive_count else "dead letters"
            chart.edge(queue_id, dlq_id, receives, dotted=True)
        for function in queue.consumers:
            function_id = chart.node(function, f"fn_{function.logical_id}", "function", f"Lambda {function.display_name}")
            chart.edge(queue_id, function_id, "batches")
            if queue.resource not in inv.dead_letter_queues and function_id not in relays:
                relays.append(function_id)
            for table in inv.function_tables(function):
                table_id = chart.node(table, f"table_{table.logical_id}", "store", f"DynamoDB {table.display_name}")
                chart.edge(function_id, table_id, "state")

        # producers allowed by IAM to send to the queue
        for role in inv.principals_allowed(("sqs:sendmessage",), queue.resource):
            users = inv.role_users(role)
            drawn = False
            for user in users:
                if user.type == "AWS::Lambda::Function":
                    function_id = chart.node(user, f"fn_{user.logical_id}", "function", f"Lambda {user.display_name}")
                    chart.edge(function_id, queue_id, "send")
                    url = inv.function_urls.get(user)
                    if url is not None:
                        hook = chart.node(("url", url), f"url_{url.logical_id}", "external", "Dagster+ alert webhook", "Lambda Function URL")
                        chart.edge(hook, function_id, "POST")
                    drawn = True
                elif inv.agent and user is inv.agent.task_definition:
                    chart.edge(agent_id, queue_id, "send")
                    drawn = True
            if not drawn and _assumed_by_ecs_tasks(role):
                chart.edge(locations_id, queue_id, "Dagster sensors")
                drawn = True
            if not drawn:
                role_id = chart.node(role, f"role_{role.logical_id}", "round", f"role {role.display_name}")
                chart.edge(role_id, queue_id, "send")

    topic_targets: dict[Resource, str] = {}
    for topic, protocol, target, endpoint in inv.topic_subscriptions():
        topic_id = chart.node(topic, f"topic_{topic.logical_id}", "round", "SNS topic", topic.display_name)
        topic_targets[topic] = topic_id
        if target is not None and target in chart.ids:
            chart.edge(topic_id, chart.ids[target], protocol)
        elif protocol in ("email", "email-json", "https", "http", "sms"):
            destination = chart.node(("sub", endpoint), f"sub_{protocol}", "external", protocol, endpoint)
            chart.edge(topic_id, destination, protocol)
    for topic, alarms in inv.alarm_targets().items():
        topic_id = chart.node(topic, f"topic_{topic.logical_id}", "round", "SNS topic", topic.display_name)
        alarm_id = chart.node(("alarms", topic), f"alarms_{topic.logical_id}", "box",
                              f"{len(alarms)} CloudWatch alarm{'s' if len(alarms) != 1 else ''}")
        chart.edge(alarm_id, topic_id, "ALARM / OK")
    for rule, pattern, targets in inv.event_rules():
        drawn_targets = [chart.ids[t] for t in targets if t in chart.ids]
        if not drawn_targets:
            continue
        rule_id = chart.node(rule, f"rule_{rule.logical_id}", "external", "EventBridge rule", pattern)
        for target in drawn_targets:
            chart.edge(rule_id, target, "events")
    dashboards = env.resources("AWS::CloudWatch::Dashboard")
    for dashboard in dashboards:
        chart.node(dashboard, f"dashboard_{dashboard.logical_id}", "box", f"dashboard {dashboard.display_name}")
    return relays


def _assumed_by_ecs_tasks(role: Resource) -> bool:
    for statement in iter_statements(role.props.get("AssumeRolePolicyDocument")):
        services = as_list((statement.get("Principal") or {}).get("Service")) if isinstance(statement.get("Principal"), dict) else []
        if any(flatten(s).startswith("ecs-tasks.") for s in services):
            return True
    return False


def _teams(chart: Chart, inv: Inventory, config: Any, relays: list[str]) -> None:
    alerting = config.alerting
    identities = inv.env.resources("AWS::SES::EmailIdentity")
    ses = f"SES {identities[0].props.get('EmailIdentity')}" if identities else "SES"
    for name, route in alerting.teams.items():
        team = chart.node(("team", name), f"team_{name}", "round",
                          f"team {name}" + (" (default)" if name == alerting.default_team else ""),
                          f"SLA lateness {route.sla_lateness_minutes} min")
        for relay in relays:
            chart.edge(relay, team, "routes")
        if route.email:
            chart.edge(team, chart.node(("email", name), f"email_{name}", "external", f"email via {ses}", ", ".join(route.email)), "email")
        if route.slack_webhook_secret:
            chart.edge(team, chart.node(("slack", name), f"slack_{name}", "external", "Slack", f"webhook secret {route.slack_webhook_secret}"), "Slack")
        if route.teams_webhook_secret:
            chart.edge(team, chart.node(("msteams", name), f"msteams_{name}", "external", "Microsoft Teams", f"webhook secret {route.teams_webhook_secret}"), "Teams")


def render(inv: Inventory, config: Any) -> list[str]:
    chart = build(inv, config)
    lines = [HEADING, "", *chart.render(), ""]
    notes = []
    if not inv.queues and config.alerting.teams:
        notes.append(
            f"Alert routing for {len(config.alerting.teams)} teams is in the environment file, "
            "but no alert queue is in the templates yet, so no alert flow is drawn."
        )
    if not inv.firehoses and config.logging.forwarding is not None:
        notes.append("Log forwarding is in the environment file, but no Firehose delivery stream is in the templates yet.")
    return lines + [f"_{note}_" for note in notes] + ([""] if notes else [])
