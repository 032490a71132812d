"""Dagster-side helpers that code locations of this platform install.

This package never imports ``aws_cdk``. Its pure modules (``fargate``, ``limits``,
``alert_contract``, ``policy``) import only the standard library, so the CDK app and the
alert relay Lambda share them as the single source of truth for those facts. Modules that
need Dagster (``tags``, ``checker``, ``sensors``) import it themselves.
"""

__version__ = "0.1.0"
