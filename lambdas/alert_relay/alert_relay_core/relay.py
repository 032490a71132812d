"""One SQS message in, its alert delivered to every destination of its team, or an exception.

Raising makes the record a batch item failure: SQS retries it and, after maxReceiveCount
receives, moves it to the dead-letter queue. So an alert is either delivered, deliberately
suppressed (duplicate, no SLA crossing, not an alert), or visibly failing; never dropped.
Deliveries are recorded per alert identity and destination (``state``), so neither a retry
nor another copy of the alert reaches a destination that already accepted it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from aws_lambda_powertools import Logger

from .alerts import (
    MAX_CLOCK_AHEAD_SECONDS,
    FreshnessEvaluation,
    IgnoredMessage,
    NormalizedAlert,
    is_content_identity,
    printable,
    timestamp_epoch,
    truncate,
    utc_now_iso,
)
from .aws import AwsClients, ClientProvider
from .budget import Budget
from .destinations import Destination, DestinationPlanner
from .envelopes import parse_message
from .errors import AlertNotDeliveredError, BudgetExhaustedError, DeliveryError, NoDestinationError
from .routes import RoutesConfig
from .routing import TaskTagLookup, route_alert
from .sla import sla_crossing_alert
from .state import BEGUN, DELIVERY_RECORD_SECONDS, IN_PROGRESS, DeliveryEpisode, SlaEvaluation, StateStore

logger = Logger(child=True)

DELIVERED = "delivered"
DUPLICATE = "duplicate"
NO_SLA_CROSSING = "no_sla_crossing"
IGNORED = "ignored"


@dataclass(frozen=True)
class RecordOutcome:
    status: str
    alert: NormalizedAlert | None = None
    delivered_to: tuple[str, ...] = ()
    already_delivered_to: tuple[str, ...] = ()
    reason: str = ""


class Relay:
    def __init__(
        self,
        routes: RoutesConfig,
        planner: DestinationPlanner,
        state: StateStore,
        task_tag_lookup: TaskTagLookup | None = None,
        clock: Callable[[], float] = time.time,
        clients: ClientProvider | None = None,
    ) -> None:
        self.routes = routes
        self.clients = clients if clients is not None else AwsClients()
        self._planner = planner
        self._state = state
        self._task_tag_lookup = task_tag_lookup
        self._clock = clock

    def handle_message(
        self,
        body: str,
        *,
        message_id: str,
        received_at: str | None = None,
        budget: Budget | None = None,
    ) -> RecordOutcome:
        """Deliver one SQS message's alert, or raise (the record is then retried by SQS).

        ``received_at`` (ISO 8601, from the trusted SQS ``SentTimestamp``) stands in for missing
        timestamps and bounds the producer's: an alert dated in the future is dated at receipt.
        """
        budget = budget if budget is not None else Budget.unlimited()
        received_at = received_at or utc_now_iso()
        parsed = parse_message(body, received_at=received_at)
        if isinstance(parsed, IgnoredMessage):
            logger.info("message is not an alert", extra={"source": parsed.source, "reason": parsed.reason})
            return RecordOutcome(IGNORED, reason=parsed.reason)
        alert = bound_by_receive_time(route_alert(parsed, self.routes, self._task_tag_lookup), received_at)
        if alert.freshness is not None:
            return self._handle_freshness(alert, alert.freshness, message_id, budget)
        return self._deliver(alert, message_id, budget)

    def _handle_freshness(
        self, alert: NormalizedAlert, freshness: FreshnessEvaluation, message_id: str, budget: Budget
    ) -> RecordOutcome:
        team = self.routes.team(alert.team)
        decision = self._state.evaluate_freshness(
            SlaEvaluation(
                deployment=freshness.deployment,
                asset_key=freshness.asset_key,
                lateness_seconds=freshness.lateness_seconds,
                threshold_seconds=team.sla_lateness_seconds,
                evaluated_at=timestamp_epoch(alert.occurred_at) or self._clock(),
                message_id=message_id,
                team=alert.team,
            )
        )
        if decision.transition is None:
            logger.info(
                "freshness evaluation without SLA crossing", extra={**_log_fields(alert), "reason": decision.reason}
            )
            return RecordOutcome(NO_SLA_CROSSING, alert, reason=decision.reason)
        return self._deliver(sla_crossing_alert(alert, decision, message_id), message_id, budget)

    def _deliver(self, alert: NormalizedAlert, message_id: str, budget: Budget) -> RecordOutcome:
        destinations = self._planner.for_alert(alert, self.routes.team(alert.team))
        if not destinations:
            raise NoDestinationError(
                f"team {alert.team!r} has no destination left for this alert "
                f"(email recipients excluded: {', '.join(sorted(alert.email_exclusions)) or 'none'})"
            )
        # A sender's identity is the same event for as long as it is recorded (a replayed
        # webhook, an SNS copy days later); content alone is the same event only for the window.
        window = self.routes.dedup_window_seconds if is_content_identity(alert.dedup_key) else DELIVERY_RECORD_SECONDS
        episode = self._state.begin_delivery(alert.dedup_key, message_id, window, alert.team)
        if episode.status != BEGUN:
            reason = (
                "another copy of this alert is being delivered right now"
                if episode.status == IN_PROGRESS
                else "this alert (same identity) was already delivered"
            )
            logger.info("duplicate alert suppressed", extra={**_log_fields(alert), "reason": reason})
            return RecordOutcome(DUPLICATE, alert, reason=reason)
        try:
            return self._deliver_episode(alert, destinations, episode, budget)
        except Exception:
            self._abandon(alert, episode)
            raise

    def _deliver_episode(
        self, alert: NormalizedAlert, destinations: list[Destination], episode: DeliveryEpisode, budget: Budget
    ) -> RecordOutcome:
        delivered: list[str] = []
        failures: list[str] = []
        waits: list[float] = []
        pending = [destination for destination in destinations if destination.destination_id not in episode.delivered]
        for index, destination in enumerate(pending):
            error = _try_deliver(destination, alert, budget)
            if error is not None:
                failures.append(f"{destination.destination_id}: {error.reason}")
                if error.retry_after is not None:
                    waits.append(error.retry_after)
                if isinstance(error, BudgetDeliveryError):
                    break
                continue
            last = not failures and index == len(pending) - 1
            self._state.record_delivery(episode, destination.destination_id, last=last)
            delivered.append(destination.destination_id)
        already = sorted(episode.delivered)
        if failures:
            logger.warning(
                "alert delivery failed; the record will be retried",
                extra={**_log_fields(alert), "failures": failures, "delivered_to": delivered},
            )
            raise AlertNotDeliveredError(
                f"alert {alert.dedup_key!r} not delivered to: {'; '.join(failures)}",
                retry_after=max(waits) if waits else None,
            )
        if not pending:  # an earlier attempt reached every destination but could not finish
            self._state.finish_delivery(episode)
        logger.info("alert delivered", extra={**_log_fields(alert), "delivered_to": delivered, "already_delivered_to": already})
        return RecordOutcome(DELIVERED, alert, tuple(delivered), tuple(already))

    def _abandon(self, alert: NormalizedAlert, episode: DeliveryEpisode) -> None:
        try:
            self._state.abandon_delivery(episode)
        except Exception:
            logger.exception("could not release the delivery lease", extra=_log_fields(alert))


class BudgetDeliveryError(DeliveryError):
    """No time left to try this destination (or the ones after it) in this invocation."""


def _try_deliver(destination: Destination, alert: NormalizedAlert, budget: Budget) -> DeliveryError | None:
    """None when delivered, else why not. One broken channel must not stop the others."""
    try:
        destination.deliver(alert, budget)
    except BudgetExhaustedError as exc:
        return BudgetDeliveryError(destination.destination_id, str(exc))
    except DeliveryError as exc:
        return exc
    except Exception as exc:
        logger.exception("unexpected error while delivering", extra={"destination": destination.destination_id})
        return DeliveryError(destination.destination_id, f"{type(exc).__name__}: {exc}")
    return None


def bound_by_receive_time(alert: NormalizedAlert, received_at: str) -> NormalizedAlert:
    """An alert dated after it was received (beyond clock skew) is dated at receipt.

    A producer's clock must not decide state: one freshness evaluation dated years ahead would
    otherwise make every real evaluation "older than the recorded one" until the state expired.
    """
    if alert.occurred_at[:19] <= received_at[:19] and alert.occurred_at[:4].isdigit():
        return alert  # both ISO 8601 in UTC (normalize_timestamp): earlier text is an earlier time
    occurred = timestamp_epoch(alert.occurred_at)
    received = timestamp_epoch(received_at)
    if occurred is None or received is None or occurred <= received + MAX_CLOCK_AHEAD_SECONDS:
        return alert
    note = (
        f"The sender dated this alert {truncate(printable(alert.occurred_at), 64)}, after it was received; "
        "it is shown and evaluated with the time it was received."
    )
    return replace(alert, occurred_at=received_at, routing_notes=(*alert.routing_notes, note))


def _log_fields(alert: NormalizedAlert) -> dict[str, str]:
    return {
        "source": alert.source,
        "kind": alert.kind,
        "severity": alert.severity,
        "team": alert.team,
        "dedup_key": alert.dedup_key,
    }
