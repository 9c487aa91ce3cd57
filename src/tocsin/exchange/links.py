"""Link health: which partners have gone silent.

Every accepted message from a partner refreshes its link (heartbeats are only the
guaranteed minimum traffic). A link with nothing for ``silent_periods`` heartbeat
periods is flagged silent; the runtime calls :meth:`LinkMonitor.check` at least
every quarter period, so with the default 1.5 a silent partner is flagged within
1.75 periods — inside the 2-period requirement. The clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LinkState:
    last_seen: float
    messages: int = 0
    heartbeats: int = 0
    silent: bool = False


class LinkMonitor:
    def __init__(self, heartbeat_s: float = 5.0, silent_periods: float = 1.5) -> None:
        if heartbeat_s <= 0 or silent_periods <= 0:
            raise ValueError("heartbeat_s and silent_periods must be positive")
        self.heartbeat_s = heartbeat_s
        self.silent_periods = silent_periods
        self.links: dict[str, LinkState] = {}

    @property
    def check_every_s(self) -> float:
        """How often :meth:`check` should run."""
        return self.heartbeat_s / 4.0

    def seen(self, partner: str, now: float, *, heartbeat: bool = False) -> bool:
        """Record traffic; True when this brings a silent link back."""
        st = self.links.get(partner)
        if st is None:
            st = self.links[partner] = LinkState(now)
        st.last_seen = max(st.last_seen, now)
        st.messages += 1
        st.heartbeats += int(heartbeat)
        if st.silent:
            st.silent = False
            return True
        return False

    def check(self, now: float) -> list[str]:
        """Flag links silent for too long; returns the partners newly flagged."""
        limit = self.silent_periods * self.heartbeat_s
        out = []
        for p, st in sorted(self.links.items()):
            if not st.silent and now - st.last_seen > limit:
                st.silent = True
                out.append(p)
        return out

    def silent(self) -> list[str]:
        return sorted(p for p, s in self.links.items() if s.silent)


__all__ = ["LinkMonitor", "LinkState"]
