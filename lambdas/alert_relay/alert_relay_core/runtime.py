"""Composition root: build the relay from the environment, once per Lambda container."""

from __future__ import annotations

from functools import lru_cache

from .aws import AwsClients, ClientProvider, EcsTaskTagLookup
from .destinations import DestinationPlanner, HttpJsonPoster, JsonPoster, SecretCache
from .relay import Relay
from .routes import load_routes
from .routing import TaskTagLookup
from .settings import RelaySettings
from .state import StateStore

_USE_ECS_TAGS = object()


def build_relay(
    settings: RelaySettings,
    *,
    clients: ClientProvider | None = None,
    poster: JsonPoster | None = None,
    task_tag_lookup: TaskTagLookup | object | None = _USE_ECS_TAGS,
) -> Relay:
    """Wire the relay; tests and the benchmark replace the edges (clients, poster, tag lookup).

    ``task_tag_lookup=None`` disables the ECS tag lookup (ECS alerts go to the default team).
    """
    routes = load_routes(settings.routes_file)
    aws_clients = clients if clients is not None else AwsClients(settings.region_name)
    lookup = EcsTaskTagLookup(aws_clients) if task_tag_lookup is _USE_ECS_TAGS else task_tag_lookup
    planner = DestinationPlanner(
        routes,
        aws_clients,
        SecretCache(aws_clients),
        poster if poster is not None else HttpJsonPoster(settings.http_timeout_seconds),
        settings.ses_configuration_set,
    )
    return Relay(
        routes, planner, StateStore(settings.state_table_name, aws_clients), lookup, clients=aws_clients  # type: ignore[arg-type]
    )


@lru_cache(maxsize=1)
def relay_from_environment() -> Relay:
    """The container's relay. A bad routes.json or environment raises here, on every record,
    so the records are retried and dead-lettered rather than acknowledged."""
    return build_relay(RelaySettings.from_environ())
