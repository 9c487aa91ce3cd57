"""HTTP API, server-sent events and the operator dashboard."""

from tocsin.web.app import OPENAPI, create_app, prometheus_text
from tocsin.web.feed import CurrentAlerts, cap_index
from tocsin.web.hub import Exchange, Hub, QueueFull, ServerConfig
from tocsin.web.server import bind, build_exchange

__all__ = [
    "OPENAPI",
    "CurrentAlerts",
    "Exchange",
    "Hub",
    "QueueFull",
    "ServerConfig",
    "bind",
    "build_exchange",
    "cap_index",
    "create_app",
    "prometheus_text",
]
