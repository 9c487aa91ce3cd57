"""Small, valid sample messages for tests, examples and benchmarks."""

from __future__ import annotations

from tocsin.stage import Stage
from tocsin.wire import AlertBody, Envelope, HeartbeatBody, PlotBody, TrackBody, make


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


class ToyTracker:
    """A deterministic stand-in for the fusion stage (tests, benchmarks, demos).

    One "track" per plot source: every plot updates it (``state_ecef`` x = number
    of plots); :meth:`advance` deletes tracks idle for more than ``timeout_s``.
    """

    def __init__(self, timeout_s: float = 5.0, partner: str = "XX") -> None:
        self.timeout_s = timeout_s
        self.partner = partner
        self.seq = 0
        self.tracks: dict[str, tuple[int, float]] = {}

    def _track(self, src: str, n: int, t: float, status: str) -> Envelope:
        self.seq += 1
        body = TrackBody(
            id=f"T-{src}",
            t=t,
            state_ecef=[float(n), 0.0, 0.0, 0.0, 0.0, 0.0],
            cov=[1.0 if i % 7 == 0 else 0.0 for i in range(36)],
            status=status,  # type: ignore[arg-type]
            class_="unknown",
            sources=[src],
        )
        return make("track", body, partner=self.partner, source="toy-tracker", seq=self.seq, sent=t)

    def push(self, env: Envelope) -> list[Envelope]:
        if env.kind != "plot" or not isinstance(env.body, PlotBody):
            return []
        n = self.tracks.get(env.source, (0, 0.0))[0] + 1
        self.tracks[env.source] = (n, env.body.t)
        return [self._track(env.source, n, env.body.t, "confirmed" if n >= 3 else "tentative")]

    def advance(self, t: float) -> list[Envelope]:
        out = []
        for src, (n, last) in sorted(self.tracks.items()):
            if t - last > self.timeout_s:
                del self.tracks[src]
                out.append(self._track(src, n, t, "deleted"))
        return out


class ToyWarner:
    """A deterministic stand-in for the warning stage: an alert when a track is
    confirmed, a cancel when it is deleted."""

    def __init__(self, partner: str = "XX") -> None:
        self.partner = partner
        self.seq = 0
        self.active: dict[str, str] = {}

    def push(self, env: Envelope) -> list[Envelope]:
        if env.kind != "track" or not isinstance(env.body, TrackBody):
            return []
        tb = env.body
        if tb.status == "confirmed" and tb.id not in self.active:
            self.seq += 1
            aid = f"A-{self.seq}"
            self.active[tb.id] = aid
            return [self._alert(aid, tb, "Alert", [])]
        if tb.status == "deleted" and tb.id in self.active:
            self.seq += 1
            ref = self.active.pop(tb.id)
            return [self._alert(f"A-{self.seq}", tb, "Cancel", [ref])]
        return []

    def _alert(self, aid: str, tb: TrackBody, msg_type: str, refs: list[str]) -> Envelope:
        body = AlertBody(
            id=aid,
            t=tb.t,
            msg_type=msg_type,  # type: ignore[arg-type]
            status="Exercise",
            tracks=[tb.id],
            areas=["JP-01"],
            references=refs,
        )
        return make("alert", body, partner=self.partner, source="toy-warner", seq=self.seq, sent=tb.t)

    def advance(self, t: float) -> list[Envelope]:
        return []


def toy_stages() -> list[Stage]:
    return [ToyTracker(), ToyWarner()]


__all__ = ["ToyTracker", "ToyWarner", "sample_heartbeat", "sample_plot", "toy_stages"]
