"""Transports (in-process bus, NATS JetStream) and sinks (webhooks, CoT, feeds)."""
