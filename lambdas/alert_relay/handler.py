"""Alert relay Lambda entry point (handler ``handler.handler``), fed by the alerts SQS queue.

Reports partial batch failures: the SQS event source mapping must enable
``ReportBatchItemFailures``. Environment variables (described in ``alert_relay_core``):
``ROUTES_FILE``, ``STATE_TABLE_NAME``, ``SES_CONFIGURATION_SET``, ``HTTP_TIMEOUT_SECONDS``,
``POWERTOOLS_SERVICE_NAME``, ``AWS_REGION``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from alert_relay_core.relay import RecordOutcome
from alert_relay_core.runtime import relay_from_environment
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# Every record is reported individually, even when all fail: the handler itself never raises.
# Failed records are logged as warnings with their traceback (the Powertools Logger has the
# logging.Logger methods the processor calls, though not its type).
processor = BatchProcessor(
    event_type=EventType.SQS,
    raise_on_entire_batch_failure=False,
    logger=logger,  # type: ignore[arg-type]
)


def record_handler(record: SQSRecord) -> str:
    attributes = record.attributes
    outcome: RecordOutcome = relay_from_environment().handle_message(
        record.body,
        message_id=record.message_id,
        receive_count=_receive_count(attributes.get("ApproximateReceiveCount")),
        received_at=_sent_at(attributes.get("SentTimestamp")),
    )
    return outcome.status


def _receive_count(value: str | None) -> int:
    # Unknown counts as a retry, which only costs a lookup of earlier deliveries.
    return int(value) if isinstance(value, str) and value.isdigit() else 2


def _sent_at(sent_timestamp_ms: str | None) -> str | None:
    if not isinstance(sent_timestamp_ms, str) or not sent_timestamp_ms.isdigit():
        return None
    return datetime.fromtimestamp(int(sent_timestamp_ms) / 1000, tz=timezone.utc).isoformat()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
