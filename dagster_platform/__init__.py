"""Dagster-side helpers that code locations of this platform install.

This package never imports ``aws_cdk``. Its pure modules (``fargate``, ``limits``,
``alert_contract``, ``policy``, ``rules``, ``tags``) import only the standard library, so the
CDK app and the alert relay Lambda share them as the single source of truth for those facts.
Modules that need Dagster (``checker``, ``explain``, ``sensors``) import it themselves.
"""

__version__ = "0.1.0"
