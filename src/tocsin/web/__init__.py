"""HTTP API, server-sent events and the operator dashboard."""
