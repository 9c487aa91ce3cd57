"""Reports: the fusion engine's ``track`` messages.

:class:`Reporter` decides whether an updated track is due a report
(:meth:`Reporter.due`: on a status change, else at most once per
``report_interval_s`` of track time) and builds the messages: the combined IMM
estimate (or a prediction reported without moving the track), status, class,
phase, quality (:meth:`Reporter.quality`), launch point, impact prediction
with its 95 % ellipse, and the ground track still ahead. Where reports are
made: :meth:`Tracker._reports <tocsin.fusion.tracker.Tracker._reports>` after
each scan or partner track, and :meth:`Lifecycle.housekeeping
<tocsin.fusion.lifecycle.Lifecycle.housekeeping>` (coasting, deleted, and
predicted reports of tracks no plot updated).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.impact import Impact
from tocsin.fusion.track import Track
from tocsin.geo.wgs84 import ecef_to_geodetic
from tocsin.wire.messages import Ellipse, Envelope, ImpactPoint, ImpactPrediction, LaunchEstimate, TrackBody

F64 = NDArray[np.float64]


class Reporter:
    """Track messages (``seq`` numbers them, from 1)."""

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        self.seq = 0

    def due(self, tr: Track, status_change: bool) -> bool:
        """Whether an updated track is reported now: on a status change, else
        once ``report_interval_s`` of track time has passed since its last report."""
        return status_change or tr.t - tr.last_report >= self.cfg.report_interval_s - 1e-9

    def news(self, tr: Track) -> bool:
        """A status change reported at once, whatever the report interval
        (issue 17 item 1): what moves the warning.

        After burnout: the first ballistic classification (or its withdrawal:
        ``Ballistic.demote``), the first impact
        prediction, or an impact point that moved more than
        ``impact_material_m`` (or whose 95 % ellipse grew or shrank by more
        than ``impact_material_frac``) since the last report.

        During boost, where the warning is the corridor the missile could
        still reach: a phase change (burnout), the first launch azimuth (the
        corridor's heading), an azimuth that moved by more than
        ``boost_azimuth_sigmas`` of its own sigma, or whose sigma (the
        corridor's width) changed by more than ``impact_material_frac``. The
        corridor's far end (the reach, from the speed) is paced by the report
        interval: a young boost track's speed is noisy, and a jump of the
        reach its own uncertainty explains is no news (docs/operations.md,
        "Boost news at once"). Only for ballistic tracks: the warning engine
        ignores the rest."""
        if tr.cls != tr.reported_cls and "ballistic" in (tr.cls, tr.reported_cls):
            return True
        if tr.cls == "ballistic" and tr.phase != tr.reported_phase:
            return True
        if tr.cls == "ballistic" and tr.phase == "boost":
            return self._heading_news(tr)
        imp = tr.impact if tr.phase == "ballistic" else None
        if imp is None:
            return False
        last = tr.reported_impact
        if last is None:
            return True
        if abs(imp.semi_major_m - last.semi_major_m) > self.cfg.impact_material_frac * last.semi_major_m:
            return True
        return _distance_m(last.lat, last.lon, imp.lat, imp.lon) > self.cfg.impact_material_m

    def _heading_news(self, tr: Track) -> bool:
        az, az_sig = _azimuth(tr)
        if az is None or az_sig is None:
            return False
        if tr.reported_azimuth is None:
            return True  # the first launch azimuth: the corridor's heading
        az0, az_sig0 = tr.reported_azimuth
        if abs((az - az0 + 180.0) % 360.0 - 180.0) > self.cfg.boost_azimuth_sigmas * az_sig0:
            return True
        return abs(az_sig - az_sig0) > self.cfg.impact_material_frac * az_sig0

    def quality(self, tr: Track, sig: float, t: float) -> float:
        """Track quality in [0, 1] (docs/fusion.md): how well the track is
        *held* -- the hit fraction of the confirmation window, times
        ``exp(-age / 30 s)`` for the time since the last measurement, times
        ``1 / (1 + (sigma_pos / 2 km)^2)`` (``sig`` the position sigma,
        ``sqrt(trace P_pos)``). Not how precise its impact prediction is: that
        is the impact ellipse, which the warning stage widens its warning to
        (issue 16: a held ICBM whose early ellipse spans hundreds of km is
        warned widely, never dropped as a bad track)."""
        win = tr.window
        hits = min(1.0, sum(win) / len(win)) if win else 0.0
        age = t - tr.last_update
        q = hits * (math.exp(-age / 30.0) if age > 0.0 else 1.0) / (1.0 + (sig / 2000.0) ** 2)
        # to 3 decimals (floor(x + 0.5): a fraction of round()'s cost)
        return math.floor(min(1.0, max(0.0, q)) * 1000.0 + 0.5) / 1000.0

    def deleted(self, tr: Track, sent: float, t: float) -> Envelope:
        """The message that ends a track, at the time ``t`` it was ended
        (its state is the last estimate, of time ``tr.t <= t``)."""
        xc, pc = tr.combined()
        return self.messages([tr], sent, [(max(t, tr.t), xc, pc)])[0]

    def message(self, tr: Track, sent: float) -> Envelope:
        return self.messages([tr], sent)[0]

    def messages(
        self, trs: list[Track], sent: float, preds: list[tuple[float, F64, F64]] | None = None
    ) -> list[Envelope]:
        """Track messages for ``trs`` (in order), from the combined estimates,
        or from ``preds`` (time, state, covariance per track: a prediction
        reported without changing the track; it does not count against the
        report interval of updates)."""
        out: list[Envelope] = []
        partner_code, source = self.cfg.partner, self.cfg.source
        floor, exp, sqrt = math.floor, math.exp, math.sqrt
        for i, tr in enumerate(trs):
            if preds is None:
                t_rep = tr.t
                xc, pc = (tr.xc, tr.pc) if tr.xc is not None and tr.pc is not None else tr.combined()
            else:
                t_rep, xc, pc = preds[i]
            xl = xc.tolist()
            pl = pc.ravel().tolist()
            if tr.id is None:
                tr.id = f"T-{tr.key}"
            sources, partners = tr.sorted_sources()
            if preds is None:
                tr.last_report = t_rep
            else:
                tr.last_predicted_report = t_rep
            status, cls, phase = tr.status, tr.cls, tr.phase
            tr.reported_status = status
            tr.reported_cls = cls
            tr.reported_impact = tr.impact if phase == "ballistic" else None
            tr.reported_phase = phase
            # (_azimuth and quality inlined: this loop runs for every report)
            la = tr.launch if tr.launch is not None else tr.boost_launch
            if la is not None and la.azimuth_deg is not None and la.azimuth_sigma_deg is not None:
                tr.reported_azimuth = (la.azimuth_deg, la.azimuth_sigma_deg)
            else:
                tr.reported_azimuth = None
            launch = impact = None
            path = None
            la = tr.launch
            if la is None and phase == "boost":
                # during boost: the launch point and azimuth estimated so far
                la = tr.boost_launch
            if la is not None:
                launch = LaunchEstimate(
                    t=max(la.t, 0.0),
                    lat=la.lat,
                    lon=la.lon,
                    sigma_m=la.sigma_m,
                    azimuth_deg=la.azimuth_deg,
                    azimuth_sigma_deg=la.azimuth_sigma_deg,
                )
            if tr.impact is not None and phase == "ballistic":
                im = tr.impact
                impact = ImpactPrediction(
                    t=im.t,
                    lat=im.lat,
                    lon=im.lon,
                    sigma_t_s=im.sigma_t_s,
                    ellipse=Ellipse(
                        semi_major_m=im.semi_major_m, semi_minor_m=im.semi_minor_m, bearing_deg=im.bearing_deg
                    ),
                    most_likely=None if im.most_likely is None else _point(im.most_likely),
                )
                # the ground track ahead: where the track is now, then the
                # predicted points still in the future (ending at the impact)
                plat, plon, _ = ecef_to_geodetic(xc[:3])
                path = [[round(float(plat), 5), round(float(plon), 5), round(t_rep, 3)]]
                path.extend(pt for pt in im.path if pt[2] > t_rep + 1e-6)
            # quality (:meth:`quality`, the same arithmetic)
            win = tr.window
            hits = min(1.0, sum(win) / len(win)) if win else 0.0
            age = t_rep - tr.last_update
            sig = sqrt(max(pl[0] + pl[7] + pl[14], 0.0))
            q = hits * (exp(-age / 30.0) if age > 0.0 else 1.0) / (1.0 + (sig / 2000.0) ** 2)
            quality = floor(min(1.0, max(0.0, q)) * 1000.0 + 0.5) / 1000.0
            # positional, in the order of TrackBody's fields (checked at import, below)
            body = TrackBody(
                tr.id,
                t_rep,
                xl,
                pl,
                status,  # type: ignore[arg-type]
                cls,  # type: ignore[arg-type]
                sources,
                partners,
                launch,
                impact,
                phase,  # type: ignore[arg-type]
                quality,
                path,
                tr.role,  # type: ignore[arg-type]
                tr.parent,
                True if tr.manoeuvring else None,
                True if impact is not None and _may_manoeuvre(tr) else None,
            )
            self.seq += 1
            out.append(Envelope(1, "track", partner_code, source, self.seq, sent, body))
        return out


_BODY_ORDER = (
    "id",
    "t",
    "state_ecef",
    "cov",
    "status",
    "class_",
    "sources",
    "partners",
    "launch",
    "impact",
    "phase",
    "quality",
    "path",
    "role",
    "parent",
    "manoeuvring",
    "may_manoeuvre",
)
# Reporter.messages builds TrackBody and Envelope positionally (a third of
# the keyword call's cost): a field added or moved ahead of these must fail
# here, not shift the values into the wrong fields
assert TrackBody.__struct_fields__[: len(_BODY_ORDER)] == _BODY_ORDER, TrackBody.__struct_fields__
assert Envelope.__struct_fields__[:7] == ("v", "kind", "partner", "source", "seq", "sent", "body")


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on the mean Earth sphere (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def _azimuth(tr: Track) -> tuple[float | None, float | None]:
    """The launch azimuth and its sigma (degrees) a report of ``tr`` carries."""
    la = tr.launch if tr.launch is not None else tr.boost_launch
    if la is None:
        return None, None
    return la.azimuth_deg, la.azimuth_sigma_deg


def _point(im: Impact) -> ImpactPoint:
    """One hypothesis of a reported impact, with its own prediction."""
    return ImpactPoint(
        im.t,
        im.lat,
        im.lon,
        im.sigma_t_s,
        Ellipse(semi_major_m=im.semi_major_m, semi_minor_m=im.semi_minor_m, bearing_deg=im.bearing_deg),
    )


def _may_manoeuvre(tr: Track) -> bool:
    """The reported impact is a "may pull up" footprint (not a track seen to
    manoeuvre: that one reports ``manoeuvring``)."""
    return tr.impact is not None and tr.impact.may_manoeuvre and not tr.manoeuvring
