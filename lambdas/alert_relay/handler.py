"""Alert relay Lambda entry point (handler ``handler.handler``), fed by the alerts SQS queue.

Reports partial batch failures: the SQS event source mapping must enable
``ReportBatchItemFailures``. Environment variables (described in ``alert_relay_core``):
``ROUTES_FILE``, ``STATE_TABLE_NAME``, ``SES_CONFIGURATION_SET``, ``HTTP_TIMEOUT_SECONDS``,
``POWERTOOLS_SERVICE_NAME``, ``AWS_REGION``.

Every invocation ends before the function timeout: records are started only while
``context.get_remaining_time_in_millis()`` leaves the reserve of ``INVOCATION_RESERVE_SECONDS``;
the others are reported as batch item failures, so SQS delivers them again.
"""

from __future__ import annotations

from typing import Any

from alert_relay_core.aws import INVOCATION_RESERVE_SECONDS
from alert_relay_core.budget import Budget
from alert_relay_core.errors import AlertNotDeliveredError
from alert_relay_core.log_messages import decode_message
from alert_relay_core.relay import RecordOutcome
from alert_relay_core.runtime import relay_from_environment
from alert_relay_core.sqs_records import delay_retry, receive_count, sent_at
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(json_deserializer=decode_message)
# Every record is reported individually, even when all fail: the handler itself never raises.
# Failed records are logged as warnings with their traceback (the Powertools Logger has the
# logging.Logger methods the processor calls, though not its type).
processor = BatchProcessor(
    event_type=EventType.SQS,
    raise_on_entire_batch_failure=False,
    logger=logger,  # type: ignore[arg-type]
)


def record_handler(record: SQSRecord) -> str:
    _budget.check("this record")
    relay = relay_from_environment()
    attributes = record.attributes
    # On every log line of this record: which SQS message, and how close it is to the DLQ.
    logger.append_keys(
        sqs_message_id=record.message_id,
        receive_count=receive_count(attributes.get("ApproximateReceiveCount")),
    )
    try:
        outcome: RecordOutcome = relay.handle_message(
            record.body,
            message_id=record.message_id,
            received_at=sent_at(attributes.get("SentTimestamp")),
            budget=_budget,
        )
    except AlertNotDeliveredError as exc:
        if exc.retry_after is not None:
            delay_retry(relay.clients, record.raw_event, exc.retry_after)
        raise
    return outcome.status


def invocation_budget(context: Any) -> Budget:
    """The time this invocation may still start work in (unlimited without a Lambda context)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return Budget.unlimited()
    return Budget.from_remaining(remaining() / 1000.0, INVOCATION_RESERVE_SECONDS)


# The budget of the invocation being processed (a container runs one invocation at a time).
_budget = Budget.unlimited()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    global _budget
    _budget = invocation_budget(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
