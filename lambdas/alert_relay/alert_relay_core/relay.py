"""One SQS message in, its alert delivered to every destination of its team, or an exception.

Raising makes the record a batch item failure: SQS retries it and, after maxReceiveCount
receives, moves it to the dead-letter queue. So an alert is either delivered, deliberately
suppressed (duplicate, no SLA crossing, not an alert), or visibly failing; never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from .alerts import FreshnessEvaluation, IgnoredMessage, NormalizedAlert, timestamp_epoch, utc_now_iso
from .destinations import Destination, DestinationPlanner
from .envelopes import parse_message
from .errors import AlertNotDeliveredError, DeliveryError, NoDestinationError
from .routes import RoutesConfig
from .routing import TaskTagLookup, route_alert
from .sla import sla_crossing_alert
from .state import SlaEvaluation, StateStore

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
    ) -> None:
        self.routes = routes
        self._planner = planner
        self._state = state
        self._task_tag_lookup = task_tag_lookup
        self._clock = clock

    def handle_message(
        self, body: str, *, message_id: str, receive_count: int = 1, received_at: str | None = None
    ) -> RecordOutcome:
        parsed = parse_message(body, received_at=received_at or utc_now_iso())
        if isinstance(parsed, IgnoredMessage):
            logger.info("message is not an alert", extra={"source": parsed.source, "reason": parsed.reason})
            return RecordOutcome(IGNORED, reason=parsed.reason)
        alert = route_alert(parsed, self.routes, self._task_tag_lookup)
        if alert.freshness is not None:
            return self._handle_freshness(alert, alert.freshness, message_id, receive_count)
        if not self._state.claim_dedup_key(alert.dedup_key, message_id, self.routes.dedup_window_seconds):
            logger.info("duplicate alert suppressed", extra=_log_fields(alert))
            return RecordOutcome(DUPLICATE, alert, reason="same dedup key delivered within the dedup window")
        try:
            return self._deliver(alert, message_id, receive_count)
        except Exception:
            self._release_claim(alert, message_id)
            raise

    def _handle_freshness(
        self, alert: NormalizedAlert, freshness: FreshnessEvaluation, message_id: str, receive_count: int
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
        return self._deliver(sla_crossing_alert(alert, decision, message_id), message_id, receive_count)

    def _deliver(self, alert: NormalizedAlert, message_id: str, receive_count: int) -> RecordOutcome:
        destinations = self._planner.for_alert(alert, self.routes.team(alert.team))
        if not destinations:
            raise NoDestinationError(
                f"team {alert.team!r} has no destination left for this alert "
                f"(email recipients excluded: {', '.join(sorted(alert.email_exclusions)) or 'none'})"
            )
        ids = [destination.destination_id for destination in destinations]
        # Delivery records are keyed by SQS message id, so a first receive cannot have any.
        already = self._state.delivered_destinations(message_id, ids) if receive_count > 1 else set()
        delivered: list[str] = []
        failures: list[str] = []
        for destination in destinations:
            if destination.destination_id in already:
                continue
            error = _try_deliver(destination, alert)
            if error is not None:
                failures.append(error)
                continue
            self._state.record_delivery(
                message_id, destination.destination_id, dedup_key=alert.dedup_key, team=alert.team
            )
            delivered.append(destination.destination_id)
        if failures:
            logger.warning(
                "alert delivery failed; the record will be retried",
                extra={**_log_fields(alert), "failures": failures, "delivered_to": delivered},
            )
            raise AlertNotDeliveredError(f"alert {alert.dedup_key!r} not delivered to: {'; '.join(failures)}")
        logger.info(
            "alert delivered",
            extra={**_log_fields(alert), "delivered_to": delivered, "already_delivered_to": sorted(already)},
        )
        return RecordOutcome(DELIVERED, alert, tuple(delivered), tuple(sorted(already)))

    def _release_claim(self, alert: NormalizedAlert, message_id: str) -> None:
        try:
            self._state.release_dedup_key(alert.dedup_key, message_id)
        except Exception:
            logger.exception("could not release the dedup claim", extra=_log_fields(alert))


def _try_deliver(destination: Destination, alert: NormalizedAlert) -> str | None:
    """None when delivered, else why not. One broken channel must not stop the others."""
    try:
        destination.deliver(alert)
    except DeliveryError as exc:
        return f"{destination.destination_id}: {exc.reason}"
    except Exception as exc:
        logger.exception("unexpected error while delivering", extra={"destination": destination.destination_id})
        return f"{destination.destination_id}: {type(exc).__name__}: {exc}"
    return None


def _log_fields(alert: NormalizedAlert) -> dict[str, str]:
    return {
        "source": alert.source,
        "kind": alert.kind,
        "severity": alert.severity,
        "team": alert.team,
        "dedup_key": alert.dedup_key,
    }
