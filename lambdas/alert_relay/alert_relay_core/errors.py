"""Exceptions that decide what happens to an SQS record."""

from __future__ import annotations


class EnvelopeError(ValueError):
    """The payload is JSON but not a shape the relay understands; it becomes a raw alert."""


class DeliveryError(Exception):
    """One destination did not accept the alert (non-2xx, timeout, AWS error, bad URL).

    ``retry_after`` (seconds) is set when the destination asked to be left alone for a while
    (HTTP 429/503 with ``Retry-After``). Messages never contain a webhook URL: those URLs are
    credentials.
    """

    def __init__(self, destination_id: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"{destination_id}: {reason}")
        self.destination_id = destination_id
        self.reason = reason
        self.retry_after = retry_after


class AlertNotDeliveredError(Exception):
    """At least one destination failed; the SQS record must be retried (then dead-lettered).

    ``retry_after`` (seconds): how long to keep the record invisible before that retry, when a
    destination said so.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExhaustedError(AlertNotDeliveredError):
    """The invocation has no time left to start more work; the record is retried by SQS."""


class NoDestinationError(AlertNotDeliveredError):
    """Nothing could receive the alert, so acknowledging the record would lose it."""


class StateContentionError(RuntimeError):
    """Concurrent writers kept winning the conditional write; the record is retried later."""


class SettingsError(ValueError):
    """A required environment variable is missing or invalid."""
