"""HTTP API, server-sent events and the operator dashboard."""

from tocsin.web.app import OPENAPI, cap_atom, create_app, prometheus_text
from tocsin.web.hub import Exchange, Hub, QueueFull, ServerConfig
from tocsin.web.server import bind, build_exchange

__all__ = [
    "OPENAPI",
    "Exchange",
    "Hub",
    "QueueFull",
    "ServerConfig",
    "bind",
    "build_exchange",
    "cap_atom",
    "create_app",
    "prometheus_text",
]
