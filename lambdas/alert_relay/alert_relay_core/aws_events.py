"""Parsers for AWS infrastructure messages: CloudWatch alarms, SES notifications, ECS task stops.

Formats follow AWS's documented payloads:
CloudWatch alarm actions to SNS (the SNS ``Message`` is the alarm JSON), SES bounce/complaint
notifications (``notificationType``) and SES event publishing (``eventType``), and the
EventBridge ``ECS Task State Change`` event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from . import fields
from .alerts import (
    SEVERITIES,
    SOURCE_CLOUDWATCH_ALARM,
    SOURCE_ECS_TASK,
    SOURCE_SES_NOTIFICATION,
    AlertLink,
    IgnoredMessage,
    ParsedAlert,
    normalize_timestamp,
    readable_time,
    stable_dedup_key,
    truncate,
)
from .errors import EnvelopeError

_ALARM_STATE_SEVERITY = {"ALARM": "error", "INSUFFICIENT_DATA": "warning", "OK": "info"}
_MAX_RECIPIENTS_LISTED = 20


# --- CloudWatch alarms -------------------------------------------------------------------


def is_cloudwatch_alarm(message: Mapping[str, Any]) -> bool:
    return "AlarmName" in message and "NewStateValue" in message


def parse_cloudwatch_alarm(alarm: Mapping[str, Any], *, fallback_time: str) -> ParsedAlert:
    """An alarm state change. OK is info, INSUFFICIENT_DATA warning, ALARM error unless the
    description has an ``alert_severity=<level>`` line; ``alert_team=<name>`` picks the team."""
    name = fields.required_text(alarm, "AlarmName", "CloudWatch alarm")
    state = fields.required_text(alarm, "NewStateValue", "CloudWatch alarm")
    if state not in _ALARM_STATE_SEVERITY:
        raise EnvelopeError(f"CloudWatch alarm state {state!r} is not one of {', '.join(_ALARM_STATE_SEVERITY)}")
    description = fields.text(alarm, "AlarmDescription") or ""
    directives = fields.directives(description)
    severity = _ALARM_STATE_SEVERITY[state]
    if state == "ALARM" and directives.get("alert_severity") in SEVERITIES:
        severity = directives["alert_severity"]

    arn = fields.text(alarm, "AlarmArn")
    region = fields.arn_part(arn, 3)
    old_state = fields.text(alarm, "OldStateValue")
    reason = fields.text(alarm, "NewStateReason") or ""
    changed_at = normalize_timestamp(alarm.get("StateChangeTime"), fallback_time)

    title = {
        "ALARM": f"CloudWatch alarm {name} is in ALARM",
        "OK": f"CloudWatch alarm {name} is OK again",
        "INSUFFICIENT_DATA": f"CloudWatch alarm {name} has insufficient data",
    }[state]
    details = "\n\n".join(part for part in (fields.without_directives(description), reason) if part)

    facts: list[tuple[str, str]] = [("Alarm", name), ("State", f"{old_state} -> {state}" if old_state else state)]
    facts += _optional_facts(
        ("Region", fields.text(alarm, "Region")),
        ("Account", fields.text(alarm, "AWSAccountId")),
        ("Metric", _alarm_metric(fields.mapping(alarm, "Trigger"))),
        ("Changed at", readable_time(changed_at)),
    )
    links: tuple[AlertLink, ...] = ()
    if region:
        links = (
            AlertLink(
                "CloudWatch alarm",
                f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
                f"#alarmsV2:alarm/{quote(name, safe='')}",
            ),
        )
    return ParsedAlert(
        source=SOURCE_CLOUDWATCH_ALARM,
        kind="alarm_state_change",
        severity=severity,
        title=title,
        details=details,
        dedup_key=stable_dedup_key("cloudwatch", arn or name, state, changed_at),
        occurred_at=changed_at,
        links=links,
        facts=tuple(facts),
        requested_team=directives.get("alert_team"),
    )


def _alarm_metric(trigger: Mapping[str, Any]) -> str | None:
    metric = fields.text(trigger, "MetricName")
    if metric is None:
        return None
    namespace = fields.text(trigger, "Namespace")
    comparison = fields.text(trigger, "ComparisonOperator")
    threshold = fields.text(trigger, "Threshold")
    described = f"{namespace}/{metric}" if namespace else metric
    if comparison and threshold:
        described += f" ({comparison} {threshold})"
    return described


# --- SES notifications -------------------------------------------------------------------


def is_ses_notification(message: Mapping[str, Any]) -> bool:
    kind = message.get("notificationType", message.get("eventType"))
    return isinstance(kind, str) and isinstance(message.get("mail"), Mapping)


def parse_ses_notification(message: Mapping[str, Any], *, fallback_time: str) -> ParsedAlert:
    """A bounce or complaint about mail the platform sent (often an alert email itself).

    The bounced/complaining addresses are excluded from this alert's email recipients: an
    alert about a bouncing address must not be mailed to it and bounce again, forever.
    """
    notification = fields.text(message, "notificationType") or fields.required_text(message, "eventType", "SES")
    mail = fields.mapping(message, "mail")
    sender = fields.text(mail, "source") or "unknown sender"
    subject = fields.text(fields.mapping(mail, "commonHeaders"), "subject")

    if notification == "Bounce":
        bounce = fields.mapping(message, "bounce")
        bounce_type = fields.text(bounce, "bounceType") or "Undetermined"
        sub_type = fields.text(bounce, "bounceSubType")
        recipients = fields.mappings(bounce, "bouncedRecipients")
        severity = "error" if bounce_type == "Permanent" else "warning"
        kind = "ses_bounce"
        title = f"SES {bounce_type.lower()} bounce of mail from {sender}"
        lines = [
            f"- {r.get('emailAddress')}: {r.get('status') or ''} {r.get('diagnosticCode') or ''}".rstrip()
            for r in recipients[:_MAX_RECIPIENTS_LISTED]
        ]
        advice = (
            "Mail to these addresses is not delivered. SES puts permanently bounced addresses on the "
            "account suppression list: fix the address in the team's alert routing and remove it from "
            "the suppression list."
            if bounce_type == "Permanent"
            else "SES gave up on this delivery for now; repeated transient bounces mean a mailbox is full "
            "or a mail server rejects the mail."
        )
        feedback = fields.text(bounce, "feedbackId")
        event_time = bounce.get("timestamp")
        type_fact = f"{bounce_type}/{sub_type}" if sub_type else bounce_type
    elif notification == "Complaint":
        complaint = fields.mapping(message, "complaint")
        recipients = fields.mappings(complaint, "complainedRecipients")
        severity = "warning"
        kind = "ses_complaint"
        title = f"SES complaint about mail from {sender}"
        lines = [f"- {r.get('emailAddress')}" for r in recipients[:_MAX_RECIPIENTS_LISTED]]
        feedback_type = fields.text(complaint, "complaintFeedbackType")
        advice = "A recipient marked the mail as spam" + (f" ({feedback_type})." if feedback_type else ".")
        advice += " Check that the address still wants these alerts; repeated complaints put the SES account at risk."
        feedback = fields.text(complaint, "feedbackId")
        event_time = complaint.get("timestamp")
        type_fact = feedback_type or "complaint"
    else:
        recipients = []
        severity = "error" if notification in ("Reject", "Rendering Failure") else "info"
        kind = "ses_" + notification.lower().replace(" ", "_")
        title = f"SES {notification} notification for mail from {sender}"
        lines = []
        advice = ""
        feedback = None
        event_time = None
        type_fact = notification

    if len(recipients) > _MAX_RECIPIENTS_LISTED:
        lines.append(f"- ... and {len(recipients) - _MAX_RECIPIENTS_LISTED} more")
    addresses = frozenset(
        address.strip().lower()
        for address in (r.get("emailAddress") for r in recipients)
        if isinstance(address, str) and address.strip()
    )
    occurred_at = normalize_timestamp(event_time or mail.get("timestamp"), fallback_time)
    message_id = fields.text(mail, "messageId")
    details = "\n".join(part for part in (advice, "\n".join(lines)) if part)
    region = fields.arn_part(fields.text(mail, "sourceArn"), 3)
    return ParsedAlert(
        links=_ses_links(region, kind),
        source=SOURCE_SES_NOTIFICATION,
        kind=kind,
        severity=severity,
        title=title,
        details=details,
        dedup_key=stable_dedup_key("ses", kind, feedback or message_id or occurred_at),
        occurred_at=occurred_at,
        facts=tuple(
            _optional_facts(
                ("Type", type_fact),
                ("Sender", sender),
                ("Subject", subject),
                ("Recipients", ", ".join(sorted(addresses)) or None),
                ("SES message ID", message_id),
                ("Sending account", fields.text(mail, "sendingAccountId")),
            )
        ),
        email_exclusions=addresses,
    )


def _ses_links(region: str | None, kind: str) -> tuple[AlertLink, ...]:
    """Where to act on a bounce or complaint: the account's suppression list and its reputation."""
    if not region or not _REGION.match(region):
        return ()
    console = f"https://{region}.console.aws.amazon.com/ses/home?region={region}"
    links = [AlertLink("SES suppression list", f"{console}#/suppression-list")] if kind in _SUPPRESSING_KINDS else []
    links.append(AlertLink("SES account dashboard (reputation)", f"{console}#/account"))
    return tuple(links)


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_SUPPRESSING_KINDS = ("ses_bounce", "ses_complaint")


# --- ECS task state changes --------------------------------------------------------------

ECS_TASK_STATE_CHANGE = "ECS Task State Change"
_OOM_MARKERS = ("OutOfMemoryError", "OutOfMemory", "OOMKilled")


def is_ecs_task_state_change(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.ecs" and event.get("detail-type") == ECS_TASK_STATE_CHANGE


def parse_ecs_task_state_change(event: Mapping[str, Any], *, fallback_time: str) -> ParsedAlert | IgnoredMessage:
    """A stopped task becomes an alert when it failed: out of memory, failed to start, a
    non-zero exit, interrupted or unhealthy. Clean exits, user stops and deployment
    replacements are not alerts."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise EnvelopeError("ECS Task State Change event has no 'detail' object")
    last_status = fields.text(detail, "lastStatus")
    if last_status != "STOPPED":
        return IgnoredMessage(SOURCE_ECS_TASK, f"task is {last_status}, not STOPPED")
    task_arn = fields.required_text(detail, "taskArn", "ECS Task State Change detail")
    stop_code = fields.text(detail, "stopCode") or ""
    stopped_reason = fields.text(detail, "stoppedReason") or ""
    containers = fields.mappings(detail, "containers")
    reasons = [stopped_reason] + [fields.text(c, "reason") or "" for c in containers]
    out_of_memory = any(marker in reason for reason in reasons for marker in _OOM_MARKERS)
    exit_codes = [c.get("exitCode") for c in containers if _is_int(c.get("exitCode"))]
    failed_exit = any(code != 0 for code in exit_codes)

    if out_of_memory:
        kind, severity = "ecs_task_oom", "error"
    elif stop_code == "TaskFailedToStart":
        kind, severity = "ecs_task_failed_to_start", "error"
    elif stop_code == "UserInitiated":
        return IgnoredMessage(SOURCE_ECS_TASK, "task was stopped by a user or by Dagster (StopTask)")
    elif stop_code == "ServiceSchedulerInitiated":
        if "health" not in stopped_reason.lower():
            return IgnoredMessage(SOURCE_ECS_TASK, "task was replaced or scaled in by its service")
        kind, severity = "ecs_task_unhealthy", "warning"
    elif stop_code in ("SpotInterruption", "TerminationNotice"):
        kind, severity = "ecs_task_interrupted", "warning"
    elif failed_exit:
        kind, severity = "ecs_task_failed", "error"
    elif exit_codes:
        return IgnoredMessage(SOURCE_ECS_TASK, "all containers exited 0")
    else:
        kind, severity = "ecs_task_stopped", "warning"

    cluster_arn = fields.text(detail, "clusterArn")
    cluster = fields.arn_resource_name(cluster_arn) or "unknown cluster"
    task_id = fields.arn_resource_name(task_arn) or task_arn
    family = _task_family(detail)
    memory = fields.text(fields.mapping(detail, "overrides"), "memory") or fields.text(detail, "memory")
    cpu = fields.text(fields.mapping(detail, "overrides"), "cpu") or fields.text(detail, "cpu")
    region = fields.text(event, "region") or fields.arn_part(task_arn, 3)

    container_lines = [_describe_container(c) for c in containers]
    if out_of_memory:
        title = f"ECS task {family} ran out of memory"
        advice = (
            "The run was killed because it ran out of memory"
            + (f" (the task had {memory} MiB)" if memory else "")
            + ". Raise the `ecs/memory` tag on the job or asset (and `ecs/cpu` if the Fargate size needs it) "
            "and re-run it."
        )
    elif kind == "ecs_task_failed_to_start":
        title = f"ECS task {family} failed to start"
        advice = "The task never started: check the image, secrets, subnets and capacity in the reason below."
    else:
        title = f"ECS task {family} stopped: {stop_code or 'stopped'}"
        advice = ""
    details = "\n".join(
        part
        for part in (
            advice,
            f"Stopped reason: {stopped_reason}" if stopped_reason else "",
            "Containers:\n" + "\n".join(container_lines) if container_lines else "",
        )
        if part
    )
    occurred_at = normalize_timestamp(detail.get("stoppedAt") or event.get("time"), fallback_time)
    links: tuple[AlertLink, ...] = ()
    if region and cluster_arn:
        links = (
            AlertLink(
                "ECS task",
                f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster, safe='')}"
                f"/tasks/{quote(task_id, safe='')}?region={region}",
            ),
        )
    return ParsedAlert(
        source=SOURCE_ECS_TASK,
        kind=kind,
        severity=severity,
        title=title,
        details=details,
        dedup_key=stable_dedup_key("ecs", task_arn, "STOPPED"),
        occurred_at=occurred_at,
        links=links,
        facts=tuple(
            _optional_facts(
                ("Cluster", cluster),
                ("Task", task_id),
                ("Task definition", _task_definition(detail)),
                ("Stop code", stop_code or None),
                ("CPU / memory", f"{cpu or '?'} units / {memory or '?'} MiB" if (cpu or memory) else None),
                ("Started by", fields.text(detail, "startedBy")),
            )
        ),
        ecs_task_arn=task_arn,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe_container(container: Mapping[str, Any]) -> str:
    name = fields.text(container, "name") or "container"
    exit_code = container.get("exitCode")
    reason = fields.text(container, "reason")
    described = f"- {name}: " + (f"exit code {exit_code}" if _is_int(exit_code) else "no exit code")
    return described + (f" ({truncate(reason, 500)})" if reason else "")


def _task_definition(detail: Mapping[str, Any]) -> str | None:
    arn = fields.text(detail, "taskDefinitionArn")
    resource = fields.arn_part(arn, 5)
    return resource.split("/", 1)[-1] if resource else None


def _task_family(detail: Mapping[str, Any]) -> str:
    group = fields.text(detail, "group")
    if group and group.startswith("family:"):
        return group[len("family:") :]
    definition = _task_definition(detail)
    if definition:
        return definition.rsplit(":", 1)[0]
    return group or "task"


def _optional_facts(*pairs: tuple[str, str | None]) -> list[tuple[str, str]]:
    return [(label, value) for label, value in pairs if value]
