"""Exceptions that decide what happens to an SQS record."""

from __future__ import annotations


class EnvelopeError(ValueError):
    """The payload is JSON but not a shape the relay understands; it becomes a raw alert."""


class DeliveryError(Exception):
    """One destination did not accept the alert (non-2xx, timeout, AWS error, bad URL).

    Messages never contain a webhook URL: those URLs are credentials.
    """

    def __init__(self, destination_id: str, reason: str) -> None:
        super().__init__(f"{destination_id}: {reason}")
        self.destination_id = destination_id
        self.reason = reason


class AlertNotDeliveredError(Exception):
    """At least one destination failed; the SQS record must be retried (then dead-lettered)."""


class NoDestinationError(AlertNotDeliveredError):
    """Nothing could receive the alert, so acknowledging the record would lose it."""


class StateContentionError(RuntimeError):
    """Concurrent writers kept winning the conditional write; the record is retried later."""


class SettingsError(ValueError):
    """A required environment variable is missing or invalid."""
