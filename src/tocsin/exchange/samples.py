"""Small, valid sample messages for tests, examples and benchmarks."""

from __future__ import annotations

from tocsin.wire import Envelope, HeartbeatBody, PlotBody, make


def sample_plot(
    *,
    partner: str = "JP",
    source: str = "JP-R1",
    seq: int = 1,
    sent: float = 1_789_430_400.0,
    t: float | None = None,
    range_m: float = 500_000.0,
) -> Envelope:
    """A radar plot from ``source`` (fixed sigmas, az 270, el 12)."""
    body = PlotBody(
        sensor=source,
        t=sent - 0.1 if t is None else t,
        range_m=range_m,
        az_deg=270.0,
        el_deg=12.0,
        sigma_range_m=30.0,
        sigma_az_deg=0.05,
        sigma_el_deg=0.05,
    )
    return make("plot", body, partner=partner, source=source, seq=seq, sent=sent)


def sample_heartbeat(
    *, partner: str = "JP", node: str = "JP-node-1", seq: int = 1, sent: float = 1_789_430_400.0
) -> Envelope:
    return make(
        "heartbeat", HeartbeatBody(node=node, t=sent), partner=partner, source=node, seq=seq, sent=sent
    )


__all__ = ["sample_heartbeat", "sample_plot"]
