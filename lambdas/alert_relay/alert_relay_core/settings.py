"""The relay's environment variables (see the package docstring for the list)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError

# In the Lambda asset the handler sits next to this package, and routes.json next to it.
DEFAULT_ROUTES_FILE = Path(__file__).resolve().parent.parent / "routes.json"
DEFAULT_HTTP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RelaySettings:
    routes_file: Path
    state_table_name: str
    ses_configuration_set: str | None
    http_timeout_seconds: float
    region_name: str | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> RelaySettings:
        table = environ.get("STATE_TABLE_NAME", "").strip()
        if not table:
            raise SettingsError("STATE_TABLE_NAME must name the relay's DynamoDB state table")
        timeout_text = environ.get("HTTP_TIMEOUT_SECONDS", "").strip()
        try:
            timeout = float(timeout_text) if timeout_text else DEFAULT_HTTP_TIMEOUT_SECONDS
        except ValueError:
            raise SettingsError(f"HTTP_TIMEOUT_SECONDS must be a number of seconds, got {timeout_text!r}") from None
        if not 0 < timeout <= 60:
            raise SettingsError(f"HTTP_TIMEOUT_SECONDS must be between 0 and 60, got {timeout}")
        routes_file = Path(environ.get("ROUTES_FILE", "").strip() or DEFAULT_ROUTES_FILE)
        if not routes_file.is_absolute():
            routes_file = DEFAULT_ROUTES_FILE.parent / routes_file
        return cls(
            routes_file=routes_file,
            state_table_name=table,
            ses_configuration_set=environ.get("SES_CONFIGURATION_SET", "").strip() or None,
            http_timeout_seconds=timeout,
            region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        )
