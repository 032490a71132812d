"""Alert relay runtime: SQS batch -> one normalized alert per record -> the team's destinations.

Environment variables read by the relay Lambda:

``ROUTES_FILE``
    Path of the routing config rendered by the CDK app (default: ``routes.json`` next to
    the handler; a relative path is resolved against the handler's folder).
``STATE_TABLE_NAME``
    The DynamoDB state table (partition key ``pk`` String, TTL attribute ``expires_at``).
    Required.
``SES_CONFIGURATION_SET``
    Optional SES configuration set for alert emails.
``HTTP_TIMEOUT_SECONDS``
    Total time of each Slack/Teams webhook request, from connecting to the end of the answer
    (default 5); never beyond the invocation's budget.
``POWERTOOLS_SERVICE_NAME``
    Service name in the structured logs (read by Powertools ``Logger``).
``AWS_REGION``
    Region of the AWS clients (set by Lambda).

Modules: ``envelopes`` (parse, with ``aws_events`` and ``dagster_events``), ``routing``,
``render``, ``destinations`` (SES + HTTP edge, with ``http_post``: one POST under a total
deadline), ``state`` (DynamoDB: delivery per alert identity, SLA state), ``relay`` (one record),
``budget`` (the invocation's time), ``sqs_records`` (record attributes, delayed retries),
``runtime`` (wiring). Sibling modules import each other relatively; the Lambda asset root
(the handler's folder) is on ``sys.path``, so ``import alert_relay_core`` and
``import dagster_platform.alert_contract`` both resolve there.
"""
