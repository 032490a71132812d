"""The Secrets Manager secret that holds the Dagster+ agent token."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .config import TokenSecretSettings
from .nag import acknowledge


class AgentTokenSecret(Construct):
    """Imports the agent token secret named in settings, or creates an EMPTY secret
    (no generated value) that an operator fills with ``aws secretsmanager put-secret-value``.

    The token never passes through CloudFormation: templates only ever hold the secret's ARN.
    Attributes: ``secret``, ``json_field`` (None when the secret string is the token itself),
    ``created`` (True when this construct owns the secret).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TokenSecretSettings,
        secret_name: str,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """``settings``: ``existing_secret_arn`` or ``existing_secret_name`` imports that secret; neither creates an
        empty one. ``secret_name``: the name of the secret created. ``removal_policy``: of the created secret
        (default RETAIN)."""
        super().__init__(scope, construct_id)
        self.json_field = settings.json_field
        self.created = settings.creates_secret
        if settings.existing_secret_arn:
            self.secret: secretsmanager.ISecret = secretsmanager.Secret.from_secret_complete_arn(
                self, "Secret", settings.existing_secret_arn
            )
            return
        if settings.existing_secret_name:
            self.secret = secretsmanager.Secret.from_secret_name_v2(self, "Secret", settings.existing_secret_name)
            return
        secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description="Dagster+ agent token. Put the token here; CloudFormation never sees it.",
            removal_policy=removal_policy,
        )
        # CDK generates a random value unless told otherwise; an agent token is issued by
        # Dagster+, so the secret starts empty and an operator puts the real token in it.
        secret.node.default_child.add_property_deletion_override("GenerateSecretString")
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Agent tokens are issued and revoked in Dagster+, which has no API a rotation Lambda could call; "
            "rotate by issuing a new token and putting it in this secret (README, 'Agent token').",
        )
        self.secret = secret


def import_token_secret(
    scope: Construct, construct_id: str, *, settings: TokenSecretSettings, created_secret_name: str
) -> secretsmanager.ISecret:
    """Reference the agent token secret from another stack without a CloudFormation export."""
    if settings.existing_secret_arn:
        return secretsmanager.Secret.from_secret_complete_arn(scope, construct_id, settings.existing_secret_arn)
    return secretsmanager.Secret.from_secret_name_v2(
        scope, construct_id, settings.existing_secret_name or created_secret_name
    )
