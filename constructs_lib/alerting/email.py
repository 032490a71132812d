"""The SES identity alerts are sent from, and where SES reports bounces and complaints."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..config import EmailIdentity


class AlertEmail(Construct):
    """Creates an SES identity (a domain with Easy DKIM, records in Route 53 when a hosted zone is
    given; or one verified address) and a configuration set whose bounce, complaint, reject and
    rendering-failure events go to the alerts topic, so a broken mail route is itself an alert.

    Attributes: ``identity``, ``configuration_set``, ``identity_arn``, ``sender``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: EmailIdentity, events_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.sender = settings.sender
        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        self.configuration_set.add_event_destination(
            "ToAlerts",
            destination=ses.EventDestination.sns_topic(events_topic),
            events=[
                ses.EmailSendingEvent.BOUNCE,
                ses.EmailSendingEvent.COMPLAINT,
                ses.EmailSendingEvent.REJECT,
                ses.EmailSendingEvent.RENDERING_FAILURE,
            ],
        )
        if settings.domain:
            if settings.hosted_zone_id:
                zone = route53.PublicHostedZone.from_public_hosted_zone_attributes(
                    self, "Zone", hosted_zone_id=settings.hosted_zone_id, zone_name=settings.domain
                )
                identity = ses.Identity.public_hosted_zone(zone)
            else:
                identity = ses.Identity.domain(settings.domain)
            name = settings.domain
        else:
            identity = ses.Identity.email(settings.address)
            name = settings.address
        self.identity = ses.EmailIdentity(
            self, "Identity", identity=identity, configuration_set=self.configuration_set
        )
        stack = Stack.of(self)
        self.identity_arn = stack.format_arn(service="ses", resource="identity", resource_name=name)
        self.configuration_set_arn = stack.format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=self.configuration_set.configuration_set_name,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
