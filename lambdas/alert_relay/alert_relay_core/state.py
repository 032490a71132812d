"""Relay state in ONE DynamoDB table: partition key ``pk`` (S), no sort key, TTL ``expires_at``.

Item shapes (all carry ``expires_at``, epoch seconds; readers treat an expired item as absent
because DynamoDB deletes expired items lazily):

``dedup#<dedup_key>``
    Claim of a dedup key for ``dedup_window_seconds``: ``owner_message_id`` (S, the SQS
    message that delivers it), ``claimed_at`` (S). Claimed by a conditional put that only
    succeeds when the key is unclaimed, expired, or claimed by the same SQS message (its
    retry). Deleted again when delivery fails, so the alert is not suppressed afterwards.

``delivery#<sqs_message_id>#<destination>``
    One destination (``email``/``slack``/``teams``) accepted this message's alert:
    ``dedup_key`` (S), ``team`` (S), ``delivered_at`` (S). Kept 14 days (the longest SQS
    retention) so a retry never re-sends to a destination that already has the alert.

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

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .aws import ClientProvider
from .errors import StateContentionError

DELIVERY_RECORD_SECONDS = 14 * 24 * 3600
SLA_STATE_SECONDS = 30 * 24 * 3600
_SLA_WRITE_ATTEMPTS = 5

BREACH = "breach"
RECOVER = "recover"


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
        return f"sla#{self.deployment}#{self.asset_key}"

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
    # DynamoDB numbers end at 9.9E+125, and the alert contract lets lateness be any number
    # (JSON even allows Infinity); beyond 30 million years the exact value does not matter.
    return {"N": repr(min(float(value), 1e15))}


class StateStore:
    def __init__(self, table_name: str, clients: ClientProvider, clock: Callable[[], float] = time.time) -> None:
        self._table_name = table_name
        self._clients = clients
        self._clock = clock

    @property
    def _dynamodb(self) -> Any:
        return self._clients.client("dynamodb")

    # -- dedup --------------------------------------------------------------------------

    def claim_dedup_key(self, dedup_key: str, message_id: str, window_seconds: int) -> bool:
        """True when this message may deliver the alert; False for a duplicate in the window."""
        now = self._clock()
        try:
            self._dynamodb.put_item(
                TableName=self._table_name,
                Item={
                    "pk": {"S": f"dedup#{dedup_key}"},
                    "owner_message_id": {"S": message_id},
                    "claimed_at": {"S": _iso(now)},
                    "expires_at": {"N": str(int(now + window_seconds))},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now OR owner_message_id = :owner",
                ExpressionAttributeValues={":now": {"N": str(int(now))}, ":owner": {"S": message_id}},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def release_dedup_key(self, dedup_key: str, message_id: str) -> None:
        """Drop this message's claim so a later retry or redrive of the alert is not suppressed."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table_name,
                Key={"pk": {"S": f"dedup#{dedup_key}"}},
                ConditionExpression="owner_message_id = :owner",
                ExpressionAttributeValues={":owner": {"S": message_id}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    # -- per-destination delivery records -----------------------------------------------

    def delivered_destinations(self, message_id: str, destination_ids: list[str]) -> set[str]:
        now = self._clock()
        delivered = set()
        for destination_id in destination_ids:
            item = self._get(f"delivery#{message_id}#{destination_id}")
            if item is not None and float(item["expires_at"]["N"]) > now:
                delivered.add(destination_id)
        return delivered

    def record_delivery(self, message_id: str, destination_id: str, *, dedup_key: str, team: str) -> None:
        now = self._clock()
        self._dynamodb.put_item(
            TableName=self._table_name,
            Item={
                "pk": {"S": f"delivery#{message_id}#{destination_id}"},
                "dedup_key": {"S": dedup_key},
                "team": {"S": team},
                "delivered_at": {"S": _iso(now)},
                "expires_at": {"N": str(int(now + DELIVERY_RECORD_SECONDS))},
            },
        )

    # -- freshness SLA --------------------------------------------------------------------

    def evaluate_freshness(self, evaluation: SlaEvaluation) -> SlaDecision:
        """Record one evaluation; return a crossing only when it flips the asset's state.

        Breached means lateness >= threshold. A missing state counts as not breached, so the
        first evaluation alerts only if the asset is already late.
        """
        replayed = self._get(f"slatransition#{evaluation.message_id}")
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
                "pk": {"S": f"slatransition#{evaluation.message_id}"},
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
