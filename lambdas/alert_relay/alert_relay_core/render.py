"""Render a routed alert for email, Slack (incoming webhook) and Microsoft Teams.

Teams messages are Adaptive Cards wrapped in a ``message`` activity, the format that both
Teams Workflows ("Post to a channel when a webhook request is received") and the older
Office 365 incoming-webhook connectors accept. Teams refuses payloads over 28 KB, counted in
bytes as sent: ``encode_json`` is what the poster sends and what ``teams_message`` measures.

Text from alerts is untrusted (job names, alarm names, free-form webhook bodies): Slack mrkdwn
and the top-level ``text`` are escaped so ``<!channel>``, ``<!here>`` and ``<@U123>`` stay text,
and email HTML is escaped. Internal names (source identifiers, dedup keys) stay in the logs.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from .alerts import SOURCE_LABELS, NormalizedAlert, readable_time, truncate

_SLACK_HEADER_CHARS = 150
_SLACK_SECTION_CHARS = 2900
_SLACK_FIELD_CHARS = 1900
_SLACK_MAX_FIELDS = 10
_SLACK_TEXT_CHARS = 3000
_TEAMS_DETAILS_CHARS = 6000
_TEAMS_TITLE_CHARS = 400
_TEAMS_FACT_CHARS = 500
_TEAMS_MAX_ACTIONS = 6
# Teams' documented limit for a webhook message is 28 KB; kept below it in bytes as sent.
TEAMS_MAX_PAYLOAD_BYTES = 27 * 1024
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


_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(payload: dict[str, Any]) -> bytes:
    """The exact bytes a webhook receives (UTF-8, not ``\\u``-escaped, so sizes are honest)."""
    return _JSON_ENCODER.encode(payload).encode("utf-8", "replace")


def context_facts(alert: NormalizedAlert) -> tuple[tuple[str, str], ...]:
    """Facts every channel shows: the alert's own, then where it came from and where it went."""
    return (
        *alert.facts,
        ("Team", alert.team),
        ("Sent by", SOURCE_LABELS.get(alert.source, alert.source)),
        ("Occurred at", readable_time(alert.occurred_at)),
    )


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
    return "\n".join(lines)


def email_html(alert: NormalizedAlert) -> str:
    color = _EMAIL_SEVERITY_COLOR.get(alert.severity, "#333333")
    parts = [
        '<html><body style="font-family: Arial, sans-serif; font-size: 14px;">',
        f'<h2 style="color: {color};">{_html_text(headline(alert))}</h2>',
    ]
    for note in alert.routing_notes:
        parts.append(f'<p style="background: #fff3cd; padding: 8px;"><strong>Note:</strong> {_html_text(note)}</p>')
    if alert.details:
        parts.append(f'<pre style="white-space: pre-wrap; font-family: inherit;">{_html_text(alert.details)}</pre>')
    parts.append('<table cellpadding="4" style="border-collapse: collapse;">')
    for label, value in context_facts(alert):
        parts.append(f'<tr><th align="left">{_html_text(label)}</th><td>{_html_text(value)}</td></tr>')
    parts.append("</table>")
    if alert.links:
        items = "".join(
            f'<li><a href="{html.escape(link.url, quote=True)}">{_html_text(link.label)}</a></li>'
            for link in alert.links
        )
        parts.append(f"<ul>{items}</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def _html_text(text: str) -> str:
    """Escaped for an HTML text node: quotes need escaping only inside attribute values."""
    return html.escape(text, quote=False)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def slack_text(text: str, limit: int) -> str:
    """Escaped for Slack and cut to ``limit`` characters without splitting an ``&amp;``."""
    escaped = _slack_escape(text) if ("&" in text or "<" in text or ">" in text) else text
    if len(escaped) <= limit:
        return escaped
    marker = f"... [truncated, {len(escaped) - limit} more characters]"
    return _PARTIAL_ENTITY.sub("", escaped[: max(0, limit - len(marker))]) + marker


def slack_message(alert: NormalizedAlert) -> dict[str, Any]:
    emoji = _SLACK_SEVERITY_EMOJI.get(alert.severity, "")
    blocks: list[dict[str, Any]] = [
        {
            # plain_text: Slack shows it literally, mentions included, so it needs no escaping.
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"{emoji} {headline(alert)}".strip(), _SLACK_HEADER_CHARS)},
        }
    ]
    for note in alert.routing_notes:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": ":warning: *Note:* " + slack_text(note, 2800)}}
        )
    if alert.details.strip():
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": slack_text(alert.details, _SLACK_SECTION_CHARS)}})
    facts = context_facts(alert)[:_SLACK_MAX_FIELDS]
    blocks.append(
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{slack_text(label, 100)}*\n{slack_text(value, _SLACK_FIELD_CHARS - 110)}"}
                for label, value in facts
            ],
        }
    )
    if alert.links:
        links = " | ".join(
            f"<{_slack_escape(link.url)}|{slack_text(link.label, 200)}>"
            for link in alert.links
            if "|" not in link.url and len(link.url) <= 2000
        )
        if links:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(links, _SLACK_SECTION_CHARS)}})
    # The top-level text is the notification and the fallback; Slack parses it as mrkdwn too.
    return {"text": slack_text(headline(alert), _SLACK_TEXT_CHARS), "blocks": blocks}


def teams_message(alert: NormalizedAlert) -> dict[str, Any]:
    """An Adaptive Card whose encoded size stays under ``TEAMS_MAX_PAYLOAD_BYTES``.

    When the whole alert does not fit, the details are cut first, then the facts, the links,
    the notes and finally the headline; the card says that it was shortened.
    """
    limits = {
        "details": _TEAMS_DETAILS_CHARS,
        "facts": _TEAMS_FACT_CHARS,
        "actions": _TEAMS_MAX_ACTIONS,
        "notes": 1000,
        "title": _TEAMS_TITLE_CHARS,
    }
    payload = _teams_payload(alert, limits)
    if _teams_upper_bound(alert) <= TEAMS_MAX_PAYLOAD_BYTES:
        return payload  # fits even if every character took 4 bytes: no need to measure
    for key, floor in (("details", 0), ("facts", 40), ("actions", 0), ("notes", 100), ("title", 100)):
        while True:
            overflow = len(encode_json(payload)) - TEAMS_MAX_PAYLOAD_BYTES
            if overflow <= 0:
                return payload
            if limits[key] <= floor:
                break
            shrink: Callable[[int], int] = (lambda value: value - 1) if key == "actions" else (
                lambda value: value - max(overflow // 2, value // 4, 1)
            )
            limits[key] = max(floor, shrink(limits[key]))
            payload = _teams_payload(alert, limits)
    return _teams_payload(
        alert, {"details": 0, "facts": 40, "actions": 0, "notes": 0, "title": 100}, fallback=True
    )


def _teams_upper_bound(alert: NormalizedAlert) -> int:
    """Bytes the card can take at most: 6 per character (the longest JSON escape), 128 for the
    structure around each block, fact and action, and 4 KB for the card around them."""
    facts = context_facts(alert)
    actions = alert.links[:_TEAMS_MAX_ACTIONS]
    characters = len(headline(alert)) + min(len(alert.details), _TEAMS_DETAILS_CHARS)
    characters += sum(len(note) for note in alert.routing_notes)
    characters += sum(len(label) + len(value) for label, value in facts)
    characters += sum(len(link.label) + len(link.url) for link in actions)
    pieces = 4 + len(alert.routing_notes) + len(facts) + len(actions)
    return 6 * characters + 128 * pieces + 4096


def _teams_payload(alert: NormalizedAlert, limits: dict[str, int], fallback: bool = False) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": truncate(headline(alert), limits["title"]),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _TEAMS_SEVERITY_COLOR.get(alert.severity, "Default"),
        }
    ]
    if limits["notes"]:
        for note in alert.routing_notes:
            body.append(
                {"type": "TextBlock", "text": truncate(f"Note: {note}", limits["notes"]), "wrap": True, "color": "Warning"}
            )
    if alert.details.strip() and limits["details"]:
        body.append({"type": "TextBlock", "text": truncate(alert.details, limits["details"]), "wrap": True})
    facts = context_facts(alert)[: 3 if fallback else None]
    body.append(
        {
            "type": "FactSet",
            "facts": [
                {"title": truncate(label, 100), "value": truncate(value, limits["facts"])} for label, value in facts
            ],
        }
    )
    if limits["details"] < min(len(alert.details), _TEAMS_DETAILS_CHARS) or fallback:
        body.append(
            {
                "type": "TextBlock",
                "text": "Shortened to fit the size limit of a Teams message.",
                "size": "Small",
                "isSubtle": True,
                "wrap": True,
            }
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    actions = [
        {"type": "Action.OpenUrl", "title": truncate(link.label, 100), "url": link.url}
        for link in alert.links[: limits["actions"]]
    ]
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
