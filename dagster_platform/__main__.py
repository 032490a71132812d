"""``python -m dagster_platform check|explain``; see :mod:`dagster_platform.cli`."""

from dagster_platform.cli import main

raise SystemExit(main())
