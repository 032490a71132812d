"""Malformed and hostile SQS records for the relay: hypothesis strategies and hand-written cases.

Each record is (body, SQS attribute overrides). Bodies follow AWS's and Dagster's formats and
then break them: wrong types, truncation, lone surrogates, keys over DynamoDB's 2 KB, clocks
far in the future or past, Slack mentions in names, Teams-sized bodies, raw and nested SNS
envelopes. Attributes break ``SentTimestamp`` and ``ApproximateReceiveCount``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from relay_payloads import ALERTS_TOPIC_ARN, REGION, contract_alert, fixture, freshness_alert, sns_envelope
from relay_support import DATA_ENG_EMAIL, PLATFORM_EMAIL

Record = tuple[str, dict[str, str]]

LONE_SURROGATES = ["\ud83d", "\udc00", "\ud800x", "a\udfffb"]
MENTIONS = ["<!channel>", "<!here>", "<!everyone>", "<@U024BE7LH>", "<#C024BE7LR|general>", "<https://evil.example|click>"]
TIMESTAMPS = [
    "9999-12-31T23:59:59+00:00",
    "2999-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "1970-01-01T00:00:00+00:00",
    "2025-11-24T06:40:00",
    "2025-13-45T99:00:00+00:00",
    "yesterday",
    "",
]
WIDE_TEXT = ["😀", "漢字", "é", "\u202e", "\u0000", "\x1b[31m", "\\u0000", "&amp;&lt;"]
SENT_TIMESTAMPS = ["", "abc", "-1", "0", "1", "99999999999999999999999", "253402300799999", "1e12", "１２３"]
RECEIVE_COUNTS = ["", "x", "-3", "999999999999999999999", "0"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(LONE_SURROGATES + MENTIONS + TIMESTAMPS),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


def hostile_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Text made of the pieces that broke the relay before, mixed with anything."""
    piece = st.sampled_from(LONE_SURROGATES + MENTIONS + WIDE_TEXT) | st.text(max_size=12)
    return st.lists(piece, max_size=8).map("".join).map(lambda text: text[:max_size])


def dump(value: Any) -> str:
    """JSON as a producer might write it: ``\\ud83d`` escapes survive, NaN/Infinity allowed."""
    return json.dumps(value)


def alarm(**overrides: Any) -> dict[str, Any]:
    document = fixture("cloudwatch_alarm")
    document.update(overrides)
    return document


# Distinct events: without a random part most generated alerts would be copies of each other.
salts = st.uuids().map(lambda value: value.hex[:12])


@st.composite
def contract_alerts(draw: st.DrawFn) -> str:
    text = hostile_text()
    salt = draw(salts)
    fields: dict[str, Any] = {
        "title": draw(text.filter(lambda value: value.strip()) | st.just("Run of <!channel> failed")),
        "details": draw(st.one_of(text, st.text(max_size=8000), st.just("😀" * 8000))),
        "job": draw(st.one_of(st.none(), text, st.just("<!here> nightly"))),
        "run_id": draw(st.one_of(st.none(), st.uuids().map(str), text)),
        "dedup_key": draw(
            st.one_of(st.none(), text.map(lambda key: key + salt), st.just("𝔘" * 500 + salt), st.just("k" * 512))
        ),
        "deployment": draw(st.one_of(st.none(), text, st.just("d" * 512))),
        "occurred_at": draw(st.sampled_from(TIMESTAMPS[:6]) | st.just("2025-11-24T06:40:00+00:00")),
        "team": draw(st.one_of(st.none(), st.sampled_from(["platform", "data-eng", "nobody", "\ud83d"]))),
        "severity": draw(st.sampled_from(["critical", "error", "warning", "info", "CRITICAL", "bogus"])),
        "links": draw(
            st.one_of(
                st.none(),
                st.just([{"label": "<!channel> Run", "url": "https://example.dagster.cloud/prod/runs/1?a=<b>|c"}]),
                st.just([{"label": f"link {index}", "url": "https://x.example/" + "a" * 1990} for index in range(10)]),
            )
        ),
    }
    return dump(contract_alert(**fields))


@st.composite
def freshness_alerts(draw: st.DrawFn) -> str:
    body = freshness_alert(
        draw(st.one_of(st.floats(min_value=0, allow_nan=False), st.just(float("inf")), st.just(1e308))),
        draw(st.sampled_from(TIMESTAMPS[:5] + ["2025-11-24T06:40:00+00:00"])),
        asset_key=draw(st.one_of(st.just("analytics/orders"), hostile_text().filter(str.strip), st.just("é" * 512))),
    )
    if draw(st.booleans()):
        body["tags"] = {"alert_team": draw(st.sampled_from(["platform", "data-eng"]))}
    return dump(body)


@st.composite
def alarms(draw: st.DrawFn) -> str:
    name = draw(st.one_of(st.just("dagster-prod-agent-running-tasks"), hostile_text().filter(str.strip))) + draw(salts)
    document = alarm(
        AlarmName=name,
        AlarmArn=f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}",
        NewStateValue=draw(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA", "BROKEN", 7])),
        StateChangeTime=draw(st.sampled_from(TIMESTAMPS[:5] + ["2025-11-24T06:40:12.345+0000"])),
        AlarmDescription=draw(
            st.sampled_from(["", "alert_team=data-eng", "alert_severity=critical\nalert_team=nobody", "<!channel>"])
        ),
    )
    wrapping = draw(st.sampled_from(["sns", "raw", "sns-in-sns", "sns-in-sns-in-sns-in-sns-in-sns"]))
    return wrap(document, wrapping, subject=draw(st.one_of(st.none(), hostile_text())))


def wrap(document: dict[str, Any], wrapping: str, subject: str | None = None) -> str:
    if wrapping == "raw":  # a subscription with raw message delivery
        return dump(document)
    body: str | dict[str, Any] = document
    for _ in range(wrapping.count("sns")):
        body = json.loads(sns_envelope(body, subject=subject))
    return dump(body)


@st.composite
def ses_notifications(draw: st.DrawFn) -> str:
    document = fixture(draw(st.sampled_from(["ses_bounce", "ses_complaint"])))
    recipients_key = "bounce" if "bounce" in document else "complaint"
    document[recipients_key]["feedbackId"] = draw(salts)
    listed = "bouncedRecipients" if recipients_key == "bounce" else "complainedRecipients"
    document[recipients_key][listed] = [
        {"emailAddress": address}
        for address in draw(
            st.lists(st.sampled_from([PLATFORM_EMAIL, DATA_ENG_EMAIL, "x@example.com", "\ud83d@x.com"]), max_size=3)
        )
    ]
    document["mail"]["sourceArn"] = draw(
        st.sampled_from([document["mail"]["sourceArn"], "arn:aws:ses:evil region:1:identity/x", None])
    )
    return wrap(document, draw(st.sampled_from(["sns", "raw"])))


@st.composite
def ecs_events(draw: st.DrawFn) -> str:
    event = fixture(draw(st.sampled_from(["ecs_task_oom", "ecs_task_nonzero_exit"])))
    detail = event["detail"]
    detail["taskArn"] = draw(st.one_of(st.just(detail["taskArn"]), hostile_text().filter(str.strip))) + draw(salts)
    detail["stopCode"] = draw(st.sampled_from(["TaskFailedToStart", "UserInitiated", "EssentialContainerExited", 5]))
    detail["stoppedReason"] = draw(hostile_text())
    detail["group"] = draw(st.sampled_from(["family:<!channel>", "service:agent", "family:" + "x" * 3000]))
    if draw(st.booleans()):
        detail["containers"] = draw(st.lists(json_values, max_size=3))
    return dump(event)


@st.composite
def dagster_plus_webhooks(draw: st.DrawFn) -> str:
    body = draw(
        st.one_of(
            st.dictionaries(
                st.sampled_from(
                    ["title", "summary", "details", "severity", "team", "alert_team", "url", "run_url", "id", "job_name"]
                    + ["timestamp", "alert_id", "custom"]
                ),
                st.one_of(hostile_text(), json_values, st.just("https://example.dagster.cloud/prod/runs/1")),
                max_size=8,
            ),
            hostile_text(),
            json_values,
        )
    )
    if isinstance(body, dict) and draw(st.booleans()):
        body["alert_id"] = draw(salts)
    return dump({"source": "dagster_cloud_webhook", "received_at": draw(st.sampled_from(TIMESTAMPS)), "body": body})


@st.composite
def broken_known_envelopes(draw: st.DrawFn) -> str:
    """A known envelope, then cut short or with one field of the wrong type."""
    whole = draw(st.one_of(contract_alerts(), alarms(), ses_notifications(), ecs_events(), dagster_plus_webhooks()))
    if draw(st.booleans()):
        return whole[: draw(st.integers(min_value=1, max_value=max(1, len(whole) - 1)))]
    bad = draw(json_values)
    document = json.loads(whole)
    if isinstance(document, dict) and document:
        document[draw(st.sampled_from(sorted(document)))] = bad
    return dump(document)


HAND_WRITTEN: list[str] = [
    "[" * 5000 + "]" * 5000,
    '{"Type": "Notification", "TopicArn": "t", "Message": "' + "\\ud83d" * 10 + '"}',
    '{"schema": "dagster-platform/alert@1", "kind": "run_failure", "severity": "error", "title": "\\ud83d",'
    ' "occurred_at": "2025-11-24T06:40:00+00:00", "dedup_key": "\\udc00", "job": "<!channel>"}',
    dump(freshness_alert(400, "9999-12-31T23:59:59+00:00")),  # the clock that silenced SLA alerts
    dump(freshness_alert(0, "2025-11-24T06:40:00+00:00")),
    wrap(alarm(NewStateValue="OK", OldStateValue="ALARM", AlarmDescription="alert_team=data-eng"), "raw"),
    wrap(alarm(NewStateValue="OK", OldStateValue="ALARM"), "sns-in-sns"),
    wrap(alarm(AlarmName="<!channel> <@U024BE7LH> disk"), "sns"),
    wrap(alarm(), "sns" * 6),  # nested deeper than the relay unwraps
    dump(contract_alert(team="data-eng", details="😀" * 8000, title="漢" * 300)),  # the 252 KB Teams body
    dump(contract_alert(team="data-eng", links=[{"label": "x" * 200, "url": "https://x.example/" + "é" * 1900}] * 20)),
    sns_envelope("plain text from a person <!here>", subject="<!channel>"),
    json.dumps({"Type": "Notification", "TopicArn": ALERTS_TOPIC_ARN, "Message": "x", "Timestamp": "9999-12-31"}),
    "x" * 300_000,
    "",
    " ",
    "null",
    "[]",
]

# Hypothesis favours the first branch and the first sampled element: lead with varied ones.
hostile_bodies = st.one_of(
    contract_alerts(),
    freshness_alerts(),
    alarms(),
    ses_notifications(),
    ecs_events(),
    dagster_plus_webhooks(),
    broken_known_envelopes(),
    st.sampled_from(HAND_WRITTEN),
    json_values.map(dump),
    st.binary(min_size=2, max_size=300).map(lambda raw: raw.decode("utf-8", errors="surrogateescape")),
    st.text(min_size=2, max_size=200),
)

hostile_attributes = st.fixed_dictionaries(
    {},
    optional={
        "SentTimestamp": st.sampled_from(SENT_TIMESTAMPS),
        "ApproximateReceiveCount": st.sampled_from(RECEIVE_COUNTS),
    },
)

hostile_records: st.SearchStrategy[Record] = st.tuples(hostile_bodies, hostile_attributes)
