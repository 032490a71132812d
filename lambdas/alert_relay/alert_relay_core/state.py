"""Relay state in ONE DynamoDB table: partition key ``pk`` (S), no sort key, TTL ``expires_at``.

Item shapes (all carry ``expires_at``, epoch seconds; readers treat an expired item as absent
because DynamoDB deletes expired items lazily). Keys are built by ``state_key``: text that is
not valid UTF-8 or longer than ``MAX_KEY_BYTES`` is replaced by its SHA-256, so no producer
value can make a key DynamoDB refuses.

``alert#<alert identity>``
    One delivery episode of an alert, keyed by the alert's own identity (its dedup key: the
    CloudWatch alarm ARN + state + change time, the ECS task ARN, the Dagster run, the SNS
    MessageId, or a hash of an unreadable body), NOT by the SQS message: every copy of the
    alert (SNS redelivery, a second publish, a retry) finds the same item.
    ``identity`` (S), ``team`` (S), ``episode_started_at`` (N), ``window_ends_at`` (N: copies
    arriving before it are duplicates once the episode is done; the dedup window for an
    identity that is a hash of the content, the whole 14 days otherwise), ``delivered`` (SS: the
    destinations that accepted the alert), ``done`` (BOOL), ``messages`` (SS: SQS messages
    that worked on this episode; a late retry of one of them is never delivered again),
    ``lease_owner`` (S) / ``lease_until`` (N: the SQS message delivering right now; another
    copy meanwhile is acknowledged, because the owner's message stays in the queue until it
    succeeds or reaches the dead-letter queue). Kept 14 days (the longest SQS retention).

``sla#<deployment>#<asset_key>``
    Freshness SLA state of one asset: ``breached`` (BOOL), ``lateness_seconds`` (N),
    ``threshold_seconds`` (N), ``evaluated_at`` (N, epoch of the newest evaluation),
    ``team`` (S), ``updated_at`` (S), ``last_transition`` (S, ``breach``/``recover``),
    ``last_transition_at`` (S), ``last_transition_message_id`` (S). Kept 30 days after the
    last evaluation. Updated only under a condition on the ``breached`` value that was read,
    so two concurrent evaluations cannot both alert.

``slatransition#<sqs_message_id>``
    Written in the same transaction as an SLA crossing: ``sla_pk`` (S), ``direction`` (S),
    ``lateness_seconds`` (N), ``threshold_seconds`` (N). Lets a retry of that message
    deliver the crossing it won even if newer evaluations moved the state on. Kept 14 days.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .aws import ClientProvider
from .errors import StateContentionError

DELIVERY_RECORD_SECONDS = 14 * 24 * 3600
SLA_STATE_SECONDS = 30 * 24 * 3600
# Longer than any relay invocation (Lambda's maximum timeout is 15 minutes): a lease is only
# ever held by a message that is still in flight or back in the queue.
LEASE_SECONDS = 15 * 60
_STATE_WRITE_ATTEMPTS = 5
_SLA_WRITE_ATTEMPTS = _STATE_WRITE_ATTEMPTS
# DynamoDB allows 2048 bytes for a partition key; producer text above this is hashed.
MAX_KEY_BYTES = 1024

BEGUN = "begun"
ALREADY_DELIVERED = "already_delivered"
IN_PROGRESS = "in_progress"

BREACH = "breach"
RECOVER = "recover"


def state_key(prefix: str, *parts: str) -> str:
    """``prefix#part#part``; parts that are long or not encodable as UTF-8 become their SHA-256."""
    safe = []
    for part in parts:
        if part.isascii() and len(part) <= MAX_KEY_BYTES:  # most keys: one byte per character
            safe.append(part)
            continue
        encoded = part.encode("utf-8", "surrogatepass")
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:
            safe.append("sha256:" + hashlib.sha256(encoded).hexdigest())
            continue
        safe.append(part if len(encoded) <= MAX_KEY_BYTES else "sha256:" + hashlib.sha256(encoded).hexdigest())
    return "#".join((prefix, *safe))


@dataclass(frozen=True)
class DeliveryEpisode:
    """This message's part in delivering one alert: what it may skip, or why it does nothing."""

    pk: str
    message_id: str
    delivered: frozenset[str]
    status: str


@dataclass(frozen=True)
class SlaEvaluation:
    """One freshness evaluation of an asset against its team's threshold."""

    deployment: str
    asset_key: str
    lateness_seconds: float
    threshold_seconds: float
    evaluated_at: float
    message_id: str
    team: str

    @property
    def sla_pk(self) -> str:
        return state_key("sla", self.deployment, self.asset_key)

    @property
    def breached(self) -> bool:
        return self.lateness_seconds >= self.threshold_seconds

    def decision(self, transition: str | None, reason: str) -> SlaDecision:
        return SlaDecision(transition, self.lateness_seconds, self.threshold_seconds, reason)


@dataclass(frozen=True)
class SlaDecision:
    """The outcome of one freshness evaluation: a crossing to alert on, or why there is none."""

    transition: str | None
    lateness_seconds: float
    threshold_seconds: float
    reason: str


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _number(value: float) -> dict[str, str]:
    # DynamoDB numbers lie between 1E-130 and 9.9E+125 in magnitude (anything smaller is refused, not rounded), and
    # the alert contract lets lateness be any number (JSON even allows Infinity and NaN). Milliseconds are enough;
    # beyond 30 million years the exact value does not matter.
    number = float(value)
    if math.isnan(number):
        number = 0.0
    return {"N": repr(round(max(-1e15, min(number, 1e15)), 3))}


class StateStore:
    def __init__(self, table_name: str, clients: ClientProvider, clock: Callable[[], float] = time.time) -> None:
        self._table_name = table_name
        self._clients = clients
        self._clock = clock

    @property
    def _dynamodb(self) -> Any:
        return self._clients.client("dynamodb")

    # -- alert delivery episodes ------------------------------------------------------------

    def begin_delivery(self, identity: str, message_id: str, window_seconds: int, team: str) -> DeliveryEpisode:
        """Take the alert's delivery lease for this message, or say why this copy is not needed.

        A finished episode suppresses copies until ``window_ends_at`` (and forever for the SQS
        messages that worked on it); an unfinished one is continued by whichever copy comes
        next, skipping the destinations that already accepted the alert.
        """
        pk = state_key("alert", identity)
        # Most alerts are new: try to start the episode before reading anything.
        if self._start_episode(pk, identity, message_id, window_seconds, team, self._clock(), replacing=None):
            return DeliveryEpisode(pk, message_id, frozenset(), BEGUN)
        for _ in range(_STATE_WRITE_ATTEMPTS):
            now = self._clock()
            current = self._get(pk)
            if current is not None and float(current["expires_at"]["N"]) <= now:
                current = None
            if current is None:
                if self._start_episode(pk, identity, message_id, window_seconds, team, now, replacing=None):
                    return DeliveryEpisode(pk, message_id, frozenset(), BEGUN)
                continue
            done = bool(current.get("done", {}).get("BOOL"))
            messages = set(current.get("messages", {}).get("SS", []))
            if done and message_id in messages:
                return DeliveryEpisode(pk, message_id, frozenset(), ALREADY_DELIVERED)
            if done and now < float(current["window_ends_at"]["N"]):
                return DeliveryEpisode(pk, message_id, frozenset(), ALREADY_DELIVERED)
            if done:  # the window has passed: the same alert again is a new episode
                if self._start_episode(pk, identity, message_id, window_seconds, team, now, replacing=current):
                    return DeliveryEpisode(pk, message_id, frozenset(), BEGUN)
                continue
            owner = current.get("lease_owner", {}).get("S")
            if owner is not None and owner != message_id and float(current["lease_until"]["N"]) > now:
                return DeliveryEpisode(pk, message_id, frozenset(), IN_PROGRESS)
            if self._take_lease(pk, current, message_id, now):
                delivered = frozenset(current.get("delivered", {}).get("SS", []))
                return DeliveryEpisode(pk, message_id, delivered, BEGUN)
        raise StateContentionError(f"could not take the delivery lease of {pk} after {_STATE_WRITE_ATTEMPTS} attempts")

    def record_delivery(self, episode: DeliveryEpisode, destination_id: str, *, last: bool = False) -> None:
        """One destination accepted the alert: no copy or retry will send it there again.

        ``last``: it was the only destination still missing, so the episode is finished in the
        same write (see ``finish_delivery``).
        """
        expression = "ADD delivered :destination SET expires_at = :expires_at"
        values: dict[str, Any] = {
            ":destination": {"SS": [destination_id]},
            ":expires_at": {"N": str(int(self._clock() + DELIVERY_RECORD_SECONDS))},
        }
        if last:
            expression += ", done = :true REMOVE lease_owner, lease_until"
            values[":true"] = {"BOOL": True}
        self._dynamodb.update_item(
            TableName=self._table_name,
            Key={"pk": {"S": episode.pk}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    def finish_delivery(self, episode: DeliveryEpisode) -> None:
        """Every destination has the alert: copies within the window are duplicates from now on."""
        self._dynamodb.update_item(
            TableName=self._table_name,
            Key={"pk": {"S": episode.pk}},
            UpdateExpression="SET done = :true REMOVE lease_owner, lease_until",
            ExpressionAttributeValues={":true": {"BOOL": True}},
        )

    def abandon_delivery(self, episode: DeliveryEpisode) -> None:
        """Give the lease back after a failure, so the retry or another copy continues at once."""
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key={"pk": {"S": episode.pk}},
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": episode.message_id}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def _start_episode(
        self,
        pk: str,
        identity: str,
        message_id: str,
        window_seconds: int,
        team: str,
        now: float,
        replacing: dict[str, Any] | None,
    ) -> bool:
        values: dict[str, Any] = {}
        if replacing is None:
            # Absent, or present but expired (TTL deletion is lazy).
            condition = "attribute_not_exists(pk) OR expires_at <= :now"
            values[":now"] = {"N": str(int(now))}
        else:
            condition = "done = :true AND episode_started_at = :started"
            values[":true"] = {"BOOL": True}
            values[":started"] = replacing["episode_started_at"]
        try:
            self._dynamodb.put_item(
                TableName=self._table_name,
                Item={
                    "pk": {"S": pk},
                    "identity": {"S": identity},
                    "team": {"S": team},
                    "episode_started_at": {"N": repr(now)},
                    "window_ends_at": {"N": str(int(now + window_seconds))},
                    "done": {"BOOL": False},
                    "messages": {"SS": [message_id]},
                    "lease_owner": {"S": message_id},
                    "lease_until": {"N": str(int(now + LEASE_SECONDS))},
                    "expires_at": {"N": str(int(now + DELIVERY_RECORD_SECONDS))},
                },
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _take_lease(self, pk: str, current: dict[str, Any], message_id: str, now: float) -> bool:
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key={"pk": {"S": pk}},
                UpdateExpression="SET lease_owner = :owner, lease_until = :until ADD messages :owner_set",
                ConditionExpression=(
                    "done = :false AND episode_started_at = :started AND "
                    "(attribute_not_exists(lease_owner) OR lease_owner = :owner OR lease_until <= :now)"
                ),
                ExpressionAttributeValues={
                    ":owner": {"S": message_id},
                    ":owner_set": {"SS": [message_id]},
                    ":until": {"N": str(int(now + LEASE_SECONDS))},
                    ":now": {"N": str(int(now))},
                    ":false": {"BOOL": False},
                    ":started": current["episode_started_at"],
                },
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    # -- freshness SLA --------------------------------------------------------------------

    def evaluate_freshness(self, evaluation: SlaEvaluation) -> SlaDecision:
        """Record one evaluation; return a crossing only when it flips the asset's state.

        Breached means lateness >= threshold. A missing state counts as not breached, so the
        first evaluation alerts only if the asset is already late.
        """
        replayed = self._get(state_key("slatransition", evaluation.message_id))
        if replayed is not None:
            return SlaDecision(
                transition=replayed["direction"]["S"],
                lateness_seconds=float(replayed["lateness_seconds"]["N"]),
                threshold_seconds=float(replayed["threshold_seconds"]["N"]),
                reason="retry of the message that made this crossing",
            )
        for _ in range(_SLA_WRITE_ATTEMPTS):
            current = self._get(evaluation.sla_pk)
            if current is not None and float(current["expires_at"]["N"]) <= self._clock():
                current = None
            if current is not None and evaluation.evaluated_at < float(current["evaluated_at"]["N"]):
                return evaluation.decision(None, "older than the recorded evaluation")
            breached_before = bool(current["breached"]["BOOL"]) if current is not None else False
            if breached_before == evaluation.breached:
                if self._write_sla_state(evaluation, current, transition=None):
                    state = "still breached" if evaluation.breached else "within SLA"
                    return evaluation.decision(None, f"no crossing ({state})")
                continue
            direction = BREACH if evaluation.breached else RECOVER
            if self._write_sla_state(evaluation, current, transition=direction):
                return evaluation.decision(direction, "threshold crossed")
        raise StateContentionError(
            f"could not record the freshness evaluation of {evaluation.sla_pk} after {_SLA_WRITE_ATTEMPTS} attempts"
        )

    def _write_sla_state(
        self, evaluation: SlaEvaluation, current: dict[str, Any] | None, transition: str | None
    ) -> bool:
        """Conditional on the state that was read; False when another writer got there first."""
        update = self._sla_update(evaluation, current, transition)
        try:
            if transition is None:
                self._dynamodb.update_item(**update)
            else:
                self._dynamodb.transact_write_items(
                    TransactItems=[{"Update": update}, {"Put": self._transition_record(evaluation, transition)}]
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _sla_update(
        self, evaluation: SlaEvaluation, current: dict[str, Any] | None, transition: str | None
    ) -> dict[str, Any]:
        now = self._clock()
        assignments = [
            "breached = :breached",
            "lateness_seconds = :lateness",
            "threshold_seconds = :threshold",
            "evaluated_at = :evaluated_at",
            "team = :team",
            "updated_at = :updated_at",
            "expires_at = :expires_at",
        ]
        values: dict[str, Any] = {
            ":breached": {"BOOL": evaluation.breached},
            ":lateness": _number(evaluation.lateness_seconds),
            ":threshold": _number(evaluation.threshold_seconds),
            ":evaluated_at": _number(evaluation.evaluated_at),
            ":team": {"S": evaluation.team},
            ":updated_at": {"S": _iso(now)},
            ":expires_at": {"N": str(int(now + SLA_STATE_SECONDS))},
        }
        if transition is not None:
            assignments += [
                "last_transition = :direction",
                "last_transition_at = :updated_at",
                "last_transition_message_id = :message_id",
            ]
            values[":direction"] = {"S": transition}
            values[":message_id"] = {"S": evaluation.message_id}
        if current is None:
            # Absent, or present but expired (TTL deletion is lazy): the state we decided on.
            condition = "attribute_not_exists(pk) OR expires_at <= :now"
            values[":now"] = {"N": str(int(now))}
        else:
            condition = "breached = :breached_before AND evaluated_at <= :evaluated_at"
            values[":breached_before"] = {"BOOL": bool(current["breached"]["BOOL"])}
        return {
            "TableName": self._table_name,
            "Key": {"pk": {"S": evaluation.sla_pk}},
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }

    def _transition_record(self, evaluation: SlaEvaluation, direction: str) -> dict[str, Any]:
        return {
            "TableName": self._table_name,
            "Item": {
                "pk": {"S": state_key("slatransition", evaluation.message_id)},
                "sla_pk": {"S": evaluation.sla_pk},
                "direction": {"S": direction},
                "lateness_seconds": _number(evaluation.lateness_seconds),
                "threshold_seconds": _number(evaluation.threshold_seconds),
                "expires_at": {"N": str(int(self._clock() + DELIVERY_RECORD_SECONDS))},
            },
        }

    def _get(self, pk: str) -> dict[str, Any] | None:
        response = self._dynamodb.get_item(TableName=self._table_name, Key={"pk": {"S": pk}}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item


def _is_condition_failure(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        codes = {reason.get("Code") for reason in reasons if isinstance(reason, dict)}
        # Without reasons we cannot tell; treat it as a lost race and re-read (bounded attempts).
        return not codes or codes <= {"ConditionalCheckFailed", "None", None, "TransactionConflict"}
    return False
