"""Render a routed alert for email, Slack (incoming webhook) and Microsoft Teams.

Teams messages are Adaptive Cards wrapped in a ``message`` activity, the format that both
Teams Workflows ("Post to a channel when a webhook request is received") and the older
Office 365 incoming-webhook connectors accept.
"""

from __future__ import annotations

import html
from typing import Any

from .alerts import NormalizedAlert, truncate

_SLACK_HEADER_CHARS = 150
_SLACK_SECTION_CHARS = 2900
_SLACK_FIELD_CHARS = 1900
_SLACK_MAX_FIELDS = 10
_TEAMS_DETAILS_CHARS = 6000
_EMAIL_SUBJECT_CHARS = 200

_SLACK_SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "error": ":red_circle:",
    "warning": ":warning:",
    "info": ":information_source:",
}
_TEAMS_SEVERITY_COLOR = {"critical": "Attention", "error": "Attention", "warning": "Warning", "info": "Good"}
_EMAIL_SEVERITY_COLOR = {"critical": "#b00020", "error": "#d32f2f", "warning": "#f57c00", "info": "#1976d2"}


def headline(alert: NormalizedAlert) -> str:
    return f"[{alert.environment}] {alert.severity.upper()}: {alert.title}"


def context_facts(alert: NormalizedAlert) -> list[tuple[str, str]]:
    """Facts every channel shows: the alert's own, then where it came from and where it went."""
    return [
        *alert.facts,
        ("Team", alert.team),
        ("Source", f"{alert.source} / {alert.kind}"),
        ("Occurred at", alert.occurred_at),
    ]


def email_subject(alert: NormalizedAlert) -> str:
    single_line = " ".join(headline(alert).split())
    return truncate(single_line, _EMAIL_SUBJECT_CHARS)


def email_text(alert: NormalizedAlert) -> str:
    lines = [headline(alert), ""]
    for note in alert.routing_notes:
        lines += [f"NOTE: {note}", ""]
    if alert.details:
        lines += [alert.details, ""]
    lines += [f"{label}: {value}" for label, value in context_facts(alert)]
    if alert.links:
        lines += ["", "Links:"] + [f"- {link.label}: {link.url}" for link in alert.links]
    lines += ["", f"Dedup key: {alert.dedup_key}"]
    return "\n".join(lines)


def email_html(alert: NormalizedAlert) -> str:
    escape = html.escape
    color = _EMAIL_SEVERITY_COLOR.get(alert.severity, "#333333")
    parts = [
        '<html><body style="font-family: Arial, sans-serif; font-size: 14px;">',
        f'<h2 style="color: {color};">{escape(headline(alert))}</h2>',
    ]
    for note in alert.routing_notes:
        parts.append(f'<p style="background: #fff3cd; padding: 8px;"><strong>Note:</strong> {escape(note)}</p>')
    if alert.details:
        parts.append(f'<pre style="white-space: pre-wrap; font-family: inherit;">{escape(alert.details)}</pre>')
    parts.append('<table cellpadding="4" style="border-collapse: collapse;">')
    for label, value in context_facts(alert):
        parts.append(f'<tr><th align="left">{escape(label)}</th><td>{escape(value)}</td></tr>')
    parts.append("</table>")
    if alert.links:
        items = "".join(
            f'<li><a href="{escape(link.url, quote=True)}">{escape(link.label)}</a></li>' for link in alert.links
        )
        parts.append(f"<ul>{items}</ul>")
    parts.append(f'<p style="color: #777777; font-size: 12px;">Dedup key: {escape(alert.dedup_key)}</p>')
    parts.append("</body></html>")
    return "".join(parts)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: NormalizedAlert) -> dict[str, Any]:
    emoji = _SLACK_SEVERITY_EMOJI.get(alert.severity, "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"{emoji} {headline(alert)}".strip(), _SLACK_HEADER_CHARS)},
        }
    ]
    for note in alert.routing_notes:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(f":warning: *Note:* {_slack_escape(note)}", _SLACK_SECTION_CHARS),
                },
            }
        )
    if alert.details:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(_slack_escape(alert.details), _SLACK_SECTION_CHARS)},
            }
        )
    facts = context_facts(alert)[:_SLACK_MAX_FIELDS]
    blocks.append(
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": truncate(f"*{_slack_escape(label)}*\n{_slack_escape(value)}", _SLACK_FIELD_CHARS),
                }
                for label, value in facts
            ],
        }
    )
    if alert.links:
        links = " | ".join(
            f"<{_slack_escape(link.url)}|{_slack_escape(link.label)}>" for link in alert.links if "|" not in link.url
        )
        if links:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": truncate(links, _SLACK_SECTION_CHARS)}}
            )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": truncate(f"dedup key: {_slack_escape(alert.dedup_key)}", 300)}],
        }
    )
    return {"text": truncate(headline(alert), 3000), "blocks": blocks}


def teams_message(alert: NormalizedAlert) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": headline(alert),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _TEAMS_SEVERITY_COLOR.get(alert.severity, "Default"),
        }
    ]
    for note in alert.routing_notes:
        body.append({"type": "TextBlock", "text": f"Note: {note}", "wrap": True, "color": "Warning"})
    if alert.details:
        body.append({"type": "TextBlock", "text": truncate(alert.details, _TEAMS_DETAILS_CHARS), "wrap": True})
    body.append(
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": truncate(value, 500)} for label, value in context_facts(alert)],
        }
    )
    body.append(
        {"type": "TextBlock", "text": f"dedup key: {alert.dedup_key}", "size": "Small", "isSubtle": True, "wrap": True}
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if alert.links:
        card["actions"] = [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in alert.links[:6]]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
