"""List prices used by the cost estimate: one region, one date, in code so a change is reviewed.

On-demand list prices of ``PRICE_REGION`` in USD, without free tiers, savings plans or taxes.
Other regions differ by a few percent; the estimate is for comparing changes, not for billing.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_REGION = "us-east-1"
PRICES_AS_OF = "2026-11-01"
CURRENCY = "USD"
#: Hours in a billing month, as AWS's own calculator counts them.
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Price:
    amount: float
    unit: str
    what: str


FARGATE_VCPU_HOUR = Price(0.04048, "vCPU-hour", "Fargate Linux/x86 vCPU")
FARGATE_GB_HOUR = Price(0.004445, "GB-hour", "Fargate Linux/x86 memory")
FARGATE_ARM_VCPU_HOUR = Price(0.03238, "vCPU-hour", "Fargate Linux/ARM vCPU")
FARGATE_ARM_GB_HOUR = Price(0.00356, "GB-hour", "Fargate Linux/ARM memory")
FARGATE_EPHEMERAL_GB_HOUR = Price(0.000111, "GB-hour", "Fargate ephemeral storage above 20 GB")
NAT_GATEWAY_HOUR = Price(0.045, "hour", "NAT gateway")
PUBLIC_IPV4_HOUR = Price(0.005, "hour", "public IPv4 address")
INTERFACE_ENDPOINT_AZ_HOUR = Price(0.01, "AZ-hour", "interface VPC endpoint, per AZ")
FIREHOSE_GB = Price(0.029, "GB", "Firehose ingestion")
LOGS_INGESTION_GB = Price(0.50, "GB", "CloudWatch Logs ingestion (standard class)")
LOGS_STORAGE_GB_MONTH = Price(0.03, "GB-month", "CloudWatch Logs storage")
KMS_KEY_MONTH = Price(1.00, "key-month", "KMS customer managed key")
SECRET_MONTH = Price(0.40, "secret-month", "Secrets Manager secret")
ALARM_METRIC_MONTH = Price(0.10, "alarm metric-month", "CloudWatch alarm, standard resolution")
ALARM_HIGH_RESOLUTION_METRIC_MONTH = Price(0.30, "alarm metric-month", "CloudWatch alarm, high resolution")
COMPOSITE_ALARM_MONTH = Price(0.50, "alarm-month", "CloudWatch composite alarm")
DASHBOARD_MONTH = Price(3.00, "dashboard-month", "CloudWatch dashboard")
HOSTED_ZONE_MONTH = Price(0.50, "zone-month", "Route 53 hosted zone")
DYNAMODB_RCU_HOUR = Price(0.00013, "RCU-hour", "DynamoDB provisioned read capacity")
DYNAMODB_WCU_HOUR = Price(0.00065, "WCU-hour", "DynamoDB provisioned write capacity")
#: Request-priced services cost nothing while idle; listed so the estimate shows they were counted.
IDLE = Price(0.0, "resource-month", "request-priced, nothing while idle")

EXCLUDED = (
    "Usage-driven costs are not included: code servers and runs (Fargate tasks the agent launches), "
    "data transfer and NAT data processing, S3 storage and requests, log volume beyond the assumption, "
    "Container Insights metrics, SQS/SNS/Lambda/DynamoDB requests, SES messages, KMS and Secrets Manager API calls."
)
