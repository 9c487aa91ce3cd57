"""Separation: one missile becomes several objects (re-entry vehicle, spent stages, debris).

A stage that burns out and is dropped, a re-entry vehicle that parts from
its spent missile, fairing halves: from then on the radars see two or more
objects flying close together. A tentative track that comes up within
``dup_dist_m`` of a confirmed ballistic track is either the same missile seen
through a sensor that disagrees with the others (a bias: no second track,
:meth:`tocsin.fusion.lifecycle.Lifecycle.ballistic_twin`) or a second object.
The test that tells them apart is :func:`codetections`: a biased sensor puts
its plot of the missile on the duplicate *instead of* the track, while a
second object gives the same sensor a plot for each track in the same scan.
A co-detected candidate is confirmed as a *child* of the track (``parent``),
and both are ``separated``.

What each separated object is (:func:`decide_roles`) is learnt from two
kinds of evidence, whichever comes first:

* **ahead or behind**: a spent stage falls behind the stack it leaves (it is
  dropped, or pushed back, and no longer thrusts), so of two siblings the one
  behind along the direction of flight at their parting, by ``role_sigmas``
  standard deviations of the difference of their positions and at least
  ``role_min_m``, is spent and the one ahead carries on (the re-entry
  vehicle, or the stack still climbing); every child of a stack is a sibling
  of every piece the stack parted from or with;
* **drag**: in the atmosphere a stage or debris (``beta`` 10-1,000 kg/m^2)
  slows down far harder than a warhead (2,000-15,000): once the drag bank's
  posterior puts ``role_mass`` of its weight on one side, the role follows.

Until then a separated object's drag prior is a mixture of both sides
(:func:`prior_parts`), so its impact ellipse covers either; a missile that
never separates keeps its re-entry-class prior and no role.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion.drag import DragBank
from tocsin.fusion.impact import sensor_bias_cov
from tocsin.fusion.measurements import RADAR, REC_KIND, REC_SENSOR, REC_T
from tocsin.fusion.models import ballistic_predict
from tocsin.fusion.track import Track
from tocsin.geo.wgs84 import OMEGA_E

F64 = NDArray[np.float64]

SPENT = ("stage", "debris")


def codetections(a: Track, b: Track) -> int:
    """How many plots of the same sensor at the same time went to both
    tracks: updated them (their histories: the last ``oosm_lag_s``) or
    started them (``Track.born``: a track's first two plots update nothing;
    lofted ICBM MC seed 1 index 40: the stack's tentative tracks after stage
    1 parted, started by KR-R3 plots of the scans in which KR-R3 updated the
    stage's track and then updated by lines of sight only, counted none and
    were suppressed as duplicates of the stage's track three times; the
    re-entry vehicle had no track for 16 s)."""
    seen = {(m[REC_SENSOR], m[REC_T]) for m, _ in a.hist}
    seen.update(a.born)
    n = sum(1 for m, _ in b.hist if (m[REC_SENSOR], m[REC_T]) in seen)
    return n + sum(1 for k in b.born if k in seen)


def same_piece(tr: Track, by_key: dict[int, Track]) -> int | None:
    """The sibling that took the plots of the piece ``tr`` was on when no plot
    updated ``tr`` any more (its key; None: none known). Called when ``tr``
    stops being updated (``Lifecycle.housekeeping``: confirmed -> coasting).

    A radar gives one plot of a piece per scan: two tracks on two pieces it
    sees each take a plot of the same scan (:func:`codetections`), two tracks
    on one piece share its plots out between them, scan by scan. So a sibling
    updated after ``tr``'s last plot, with no plot of a scan in common with
    it, that took plots of a radar that updated ``tr`` in the same span (one
    of them before ``tr``'s last plot of that radar: the two shared that
    radar's scans, not one after the other) was on the same piece, and now
    takes its plots: ``tr`` was its duplicate. Radar plots only: a line of
    sight of space infrared sees only burning motors, and two tracks on two
    pieces take the one stack's lines of sight by turns (MC seed 1 SLV #90).
    Of several, the one with most such plots."""
    if not tr.separated or not tr.siblings:
        return None
    last: dict[str, float] = {}  # each radar's last plot that updated tr
    for m, _ in tr.hist:
        if m[REC_KIND] == RADAR and m[REC_T] > last.get(m[REC_SENSOR], -math.inf):
            last[m[REC_SENSOR]] = m[REC_T]
    if not last:
        return None
    best, most = None, 0
    for k in sorted(tr.siblings):
        o = by_key.get(k)
        if o is None or o.dead or o.status == "tentative" or o.last_update <= tr.last_update:
            continue
        if codetections(tr, o) > 0:
            continue
        # its plots of tr's radars from scans before tr's last of that radar
        n = sum(
            1 for m, _ in o.hist if m[REC_KIND] == RADAR and m[REC_T] < last.get(m[REC_SENSOR], -math.inf)
        )
        if n > most:
            best, most = k, n
    return best


def prior_parts(rv_kind: str, role: str | None) -> list[tuple[str, float]]:
    """The drag prior of a separated object: its role's (with 2 % left on
    the other side, so that drag can still overrule a role told from the
    geometry), or (role unknown) re-entry vehicle 50 %, spent stage 40 %,
    debris 10 %."""
    if role == "rv":
        return [(rv_kind, 0.98), ("stage", 0.015), ("debris", 0.005)]
    if role in SPENT:
        return [(rv_kind, 0.02), ("stage", 0.78), ("debris", 0.2)]
    return [(rv_kind, 0.5), ("stage", 0.4), ("debris", 0.1)]


def retold(bank: DragBank, role: str | None) -> DragBank:
    """A split bank of a separated object (kinds ``rv_kind+stage+debris``,
    made with :func:`prior_parts` for ``bank.role``) with the prior of
    ``role`` instead: every member's likelihood so far (``logw - logw0``) is
    kept and multiplied by the new prior (Bayes' rule with the role told by
    the geometry as the prior). A bank splits at its first prediction below
    ``drag_split_alt_m``, often before the geometry has told the role (on
    the way up, within seconds of the parting), and was then fixed with the
    role-unknown prior (rv 50 %, stage 40 %, debris 10 %): MC seed 1 IRBM #11
    (branch frag-next), the re-entry vehicle's track, told ``rv``, ended
    IRBM 0.58 / stage 0.38, predicted 10.3 km off (1.25 km with its rv
    prior)."""
    kinds = bank.kind.split("+")
    if bank.logw0 is None or len(kinds) != 3 or bank.role == role:
        return bank
    old = dict(prior_parts(kinds[0], bank.role))
    new = dict(prior_parts(kinds[0], role))
    delta = np.log(np.array([new[k] / old[k] for k in kinds]))[bank.member_kind]
    logw0 = bank.logw0 + delta
    logw0 = logw0 - np.logaddexp.reduce(logw0)
    logw = bank.logw + delta
    logw = logw - np.logaddexp.reduce(logw)
    return replace(bank, logw=logw, logw0=logw0, role=role)


def drag_role(tr: Track, mass: float, window_s: float = 0.0) -> str | None:
    """The role the drag bank's posterior says, when it says so with
    ``mass`` of its weight (None: not yet, no bank, or the track is within
    ``window_s`` of its burnout: the restart window, where what the bank
    reads as drag may be thrust).

    The posterior with the role-unknown prior (:func:`prior_parts`): what
    the bank's own members' likelihoods say. A bank given the prior of a
    role the geometry told (:func:`retold`) holds 98 % on that side before
    any drag is read; read as drag, that prior told the geometry's role
    back to it at every call, and a role once told with a split bank was
    never told again by the geometry (MC seed 1 MRBM #206: the missile's
    track, told ``stage`` while nearer the spent stage, flew on the
    re-entry vehicle for 400 s with the stage's prior, 20.8 km off)."""
    bank = tr.drag
    if bank is None or not bank.split or "+" not in bank.kind:
        return None
    if not tr.burnt_out or tr.t - tr.burnout_t < window_s:
        return None
    km = retold(bank, None).kind_mass()
    spent = sum(v for k, v in km.items() if k in SPENT)
    if spent >= mass:
        return "stage" if km.get("stage", 0.0) >= km.get("debris", 0.0) else "debris"
    if 1.0 - spent >= mass:
        return "rv"
    return None


def outburnt(tr: Track, by_key: dict[int, Track], t: float, lost_s: float, burn_s: float) -> bool:
    """Whether a line of sight of space infrared at ``t`` cannot be of
    ``tr``: a separated piece that no radar plot or partner track has placed
    for ``lost_s`` (a line of sight alone would steer it, with thrust:
    ``TrackerConfig.los_thrust``) while a sibling took one within
    ``burn_s``, after ``tr``'s own last. Space infrared sees only burning
    motors, and of the pieces of one missile only the stack burns: once a
    sibling follows the burn, this one is a spent piece coasting. MC SLV
    seed 1 index 90 (biased radars): stage 2 and the stack coast 250-700 m
    apart, their two tracks blends of both (no role told), both lost at
    t+424 s; the stack lit its insertion burn, and the one line of sight
    of each infrared scan went to either track by turns; stage 2's track
    took two (t+446, t+452), was flown with thrust along them and
    predicted 285 km off for the rest of its flight. A sibling told spent
    and seen coasting does not count (infrared cannot be seeing it either:
    #69, the track on stage 2, told ``stage``, took the first lines of sight
    of the payload's insertion burn beside it, and the payload's own tracks,
    kept off them, were lost 64 s instead of 27)."""
    if not tr.separated or not tr.siblings or t - tr.last_fix <= lost_s:
        return False
    for k in tr.siblings:
        o = by_key.get(k)
        if (
            o is not None
            and not o.dead
            and t - o.last_los < burn_s
            and o.last_los > tr.last_los
            and not (o.role in SPENT and o.coast_seen)
        ):
            return True
    return False


def _axis(a: Track, b: Track) -> F64 | None:
    """The direction of flight at the later of the two tracks' partings
    (``Track.part_dir``), as the same inertial direction at ``a``'s time (the
    ECEF frame turns under it), or None.

    Two pieces that parted drift apart along a fixed direction (their
    velocity difference), so the order along the flight direction *at the
    parting* keeps telling which one was pushed back; the current flight
    path turns over the apogee (Monte Carlo lofted ICBM seed 1 index 5: the
    re-entry vehicle, 2 m to 12 km ahead of its second stage along the
    parting's direction for the whole flight, is "behind" it along the
    current path from the apogee on, where the path has turned 110-170 deg;
    re-telling a role from that made it a stage, median error 289 -> 1,692 m)."""
    o = a if a.part_t >= b.part_t else b
    if o.part_dir is None:
        return None
    ang = -OMEGA_E * (a.t - o.part_t)
    c, s = math.cos(ang), math.sin(ang)
    u = o.part_dir
    return np.array([c * u[0] - s * u[1], s * u[0] + c * u[1], u[2]])


Bias = tuple[float, float, float]
"""The radars' residual registration biases, 1 sigma: range (m), angle (rad),
range rate (m/s) (:func:`tocsin.fusion.impact.sensor_bias_cov`)."""


def _bias_var(tr: Track, x: F64, u: F64, bias: Bias) -> float:
    """Variance along ``u`` of the position error the radars' registration
    biases give the estimate ``x`` of ``tr`` (its plots of the last
    ``oosm_lag_s``; 0 without a radar)."""
    cb = sensor_bias_cov(x, [h[0] for h in tr.hist], *bias)
    return 0.0 if cb is None else float(u @ cb[:3, :3] @ u)


def behind(a: Track, b: Track, sigmas: float, min_m: float, bias: Bias | None = None) -> Track | None:
    """Of two siblings, the one clearly behind the other along the direction
    of flight at their parting (:func:`_axis`; the current mean velocity for
    tracks without one) (None: not clear yet).

    Clearly: by ``sigmas`` of the difference's standard deviation, counting
    (``bias``) the position error the radars' registration biases give each
    track, which its filter cannot see (it is the same on every plot of a
    radar). Two pieces parting at a few m/s fly 50-300 m apart for a minute;
    tracks on them from biased radars are 150-450 m off either piece, each
    nearer one or the other from scan to scan, while their own covariances
    say 20-40 m: their order then tells nothing of the pieces' (MC seed 1
    IRBM #32, biased radars: 35 s after the parting the track on the
    re-entry vehicle was 109 m *behind* the one on the spent stage, 4.0
    sigmas of the filters alone, while the vehicle was 193 m *ahead*; the
    bias term, ~90 m along the axis for the two, puts the bar at ~370 m).
    Told from that, the re-entry vehicle was a ``stage`` (warned as a spent
    piece) and took the stage's drag prior: 30.5 km off."""
    xa, pa = a.combined()
    xb, pb = b.combined()
    # the other's position at this one's time (straight line: seconds apart)
    pos_b = xb[:3] + xb[3:] * (a.t - b.t)
    u = _axis(a, b)
    if u is None:
        v = 0.5 * (xa[3:] + xb[3:])
        sp = float(np.linalg.norm(v))
        if sp < 1.0:
            return None
        u = v / sp
    ds = float(u @ (xa[:3] - pos_b))
    var = float(u @ (pa[:3, :3] + pb[:3, :3]) @ u)
    if bias is not None:
        var += _bias_var(a, xa, u, bias) + _bias_var(b, xb, u, bias)
    if abs(ds) < max(min_m, sigmas * math.sqrt(max(var, 0.0))):
        return None
    return b if ds > 0.0 else a


def ambiguity(tr: Track, tracks: dict[int, Track], dist_m: float, speed_mps: float) -> F64 | None:
    """The uncertainty a track owes to close siblings whose plots it may have
    taken: ``sum (d/2)(d/2)^T`` over the live siblings within ``dist_m`` and
    ``speed_mps`` of it when the later of the two was last updated by a plot
    (``d``: the sibling's state minus this one's, the sibling predicted to
    this one's time); None without any.

    Two pieces that parted at a few m/s (a re-entry vehicle and its spent last
    stage) fly a few hundred metres apart for minutes. Every sensor sees both
    in each scan, and when the two tracks on them take, from two sensors,
    plots of different pieces (each sensor's pairing is a near tie once the
    tracks have drifted between the pieces) both tracks become *blends*:
    ranges ~150 m inconsistent from two nearby ships triangulated ~400 m off
    across the line of sight, 4-6 m/s off both pieces, while each filter's
    innovations stay consistent and its velocity sigma falls to 0.3 m/s
    (Monte Carlo ICBM-lofted seed 1 index 5). The truth then lies between the
    sibling tracks, not at either: the spread of the two hypotheses, as in a
    probabilistic data association's spread-of-innovations term, belongs in
    the uncertainty carried to the impact."""
    if not tr.separated or not tr.siblings:
        return None
    x, _ = tr.combined()
    out: F64 | None = None
    for k in sorted(tr.siblings):
        o = tracks.get(k)
        if o is None or o.dead or not o.burnt_out or o.status == "tentative":
            continue
        xo, _ = o.combined()
        dt = tr.t - o.t
        if dt != 0.0:
            xo = ballistic_predict(xo[None, :], np.array([dt]), beta=None)[0][0]
        d = xo - x
        dv = float(np.linalg.norm(d[3:]))
        # close when last seen: two pieces no plot updates any more (lost over
        # the midcourse) drift apart in prediction, but what they may have
        # exchanged was exchanged while both were still seen
        quiet = max(0.0, tr.t - max(tr.last_update, o.last_update))
        if float(np.linalg.norm(d[:3])) - dv * quiet > dist_m or dv > speed_mps:
            continue
        h = 0.5 * d
        out = np.outer(h, h) if out is None else out + np.outer(h, h)
    return out


def decide_roles(
    tracks: list[Track],
    sigmas: float,
    min_m: float,
    mass: float,
    window_s: float = 0.0,
    bias: Bias | None = None,
) -> list[Track]:
    """Give roles to the separated tracks that can now be told apart (module
    doc): drag when it is decisive (it overrules the geometry) and the track
    is past ``window_s`` after its burnout, else ahead or behind a sibling;
    returns the tracks whose role changed.

    A role told by the geometry is told again whenever the geometry clearly
    says otherwise: a track told ``rv`` (ahead of every sibling) that is
    later clearly behind one becomes ``stage``: when it was told, it was a
    child a second old whose state was still converging, or a blend of two
    close pieces (MC SLV seed 1 index 132: the payload and its spent second
    stage coast 20-500 m apart for 280 s; both tracks on them ended ``rv``,
    the stage predicted with a warhead's drag 23 km off). And a track the
    geometry told ``stage`` that is later clearly ahead of every sibling is
    told back ``rv``: a track swaps pieces when another confirmed on the
    piece it was on takes that piece's plots (MC seed 1 MRBM #206, biased
    radars: the missile's track, 229 m from the spent stage and 367 m from
    the re-entry vehicle, was told ``stage`` at t+147 s; at t+156 s the
    stage's own track was confirmed, and from t+163 s the first one flew
    on the re-entry vehicle, 30-60 m from it and ~500 m ahead of the
    stage's track, with the stage's drag prior: 20.8 km off until drag in
    re-entry said ``rv``). A spent role the drag bank told is not told back
    by the geometry (drag overrules it).

    A role the geometry told is the split bank's prior only while the
    geometry supports it (:attr:`Track.told_holds`): when the track and a
    sibling told the other role, both still updated by plots, are inside the
    bar again (neither clearly ahead) for as long as it took to tell them
    apart (from their parting, :attr:`Track.part_t`, to the tell,
    :attr:`Track.told_t`), the two are blends of both pieces and say nothing
    of which one each is on, and the bank's prior goes back to the
    role-unknown mixture until the geometry tells a role again. The role
    itself is kept (what was warned stays warned). MC seed 1 SLV #41 (biased
    radars): the tracks on the payload and on stage 2, told while the stack
    still burned (by t+150 s), were blends inside the bar to t+315 s; stage
    2's held ``rv``'s drag prior (coverage 0.698; 0.89 released). A shorter stretch
    inside the bar is the noise of the verdict that told them apart, not
    evidence against it: MC seed 1 IRBM #88, the re-entry vehicle's track,
    told ``rv`` 27 s after the parting and held for 52 s, came inside the
    bar of the stage's track for 5 s (212 m from the vehicle, a duplicate
    taking its plots), was released at once, and lost 30 s later with the
    mixture's prior for the rest of the flight: final error 305 m -> 13.9 km."""
    changed: list[Track] = []
    by_key = {tr.key: tr for tr in tracks}
    for tr in tracks:
        if not tr.separated:
            continue
        role = drag_role(tr, mass, window_s)
        geometric = False
        # the geometry's own verdicts (or none yet), or an rv the drag no
        # longer holds: the geometry may tell them (again)
        mine = tr.role in (None, "rv") or tr.role == tr.told
        if role is None and mine and tr.status != "lost":
            # the geometry of pieces a sensor holds: a lost track's position is
            # its own prediction (MC seed 1 IRBM #88)
            told, collapsed = _geometric_verdict(tr, by_key, sigmas, min_m, bias)
            if tr.role is None or told == "stage" or (told == "rv" and tr.role == tr.told):
                role = told
                geometric = role is not None
            if tr.told is not None and tr.role == tr.told and role in (None, tr.told):
                # the geometry's role: held again while the geometry says it,
                # released once the pair has been collapsed inside the bar
                # for as long as it took to tell the two apart
                if role is None and collapsed:
                    if tr.inside_t is None:
                        tr.inside_t = tr.t
                else:
                    tr.inside_t = None
                inside = tr.inside_t is not None and tr.t - tr.inside_t >= max(0.0, tr.told_t - tr.part_t)
                holds = (tr.told_holds or role == tr.told) and not inside
                if holds != tr.told_holds:
                    tr.told_holds = holds
                    if tr.drag is not None and tr.drag.split:
                        tr.drag = retold(tr.drag, tr.prior_role)
        if role is not None and role != tr.role:
            tr.role = role
            if geometric:
                tr.told, tr.told_t = role, tr.t
                tr.told_holds, tr.inside_t = True, None
                if tr.drag is not None and tr.drag.split:
                    # the geometry is evidence the split bank has not seen
                    tr.drag = retold(tr.drag, role)
            changed.append(tr)
    return changed


def _geometric_verdict(
    tr: Track, by_key: dict[int, Track], sigmas: float, min_m: float, bias: Bias | None = None
) -> tuple[str | None, bool]:
    """Spent if clearly behind a sibling a sensor still holds; carrying on if
    clearly ahead of a sibling and of every one, lost ones too, save lost ones
    told spent; else unknown.

    What a lost sibling can testify: its state is its track's own coasting
    prediction, no plot has placed a piece there since. Being behind it says
    nothing of this track's piece: it cannot make this track spent. But the
    piece it was on flies on unseen, and if it may carry on (a stack lost in
    a burn flies on ahead of its prediction) this track is told ``rv`` only
    when clearly ahead of that prediction too (full MC of 6f468d0: SLV stage
    coverage 0.928 -> 0.803, stage-2 tracks told ``rv`` past a stack lost in
    the insertion burn, SLV #174 S2 final 4.7 -> 35.9 km; docs/fusion.md). A
    lost sibling told spent (clearly behind a sibling while it was held, or
    by its drag) was found to be the piece left behind: it testifies to
    nothing carrying on (MC seed 1 MRBM #192, biased radars: the rv's track,
    34 m from it and clearly ahead of every held sibling, was kept ``stage``
    from t+143 s to t+221 s by the stack's track, told ``stage`` and lost in
    boost 5 km off any piece).

    And whether the pair is collapsed: this track and a sibling the
    geometry told apart from it (the other role) are neither clearly ahead
    nor clearly behind, both still updated by plots. A sibling never told
    apart from this one (no role told: a duplicate on the same piece, a
    track not placed yet) coming inside the bar says nothing against the
    role (MC seed 1 IRBM #88: the re-entry vehicle's track, told ``rv``, was
    released when a third track came up beside it on the same piece, then
    lost with the mixture's prior: final error 305 m -> 13.9 km). Coasting
    and lost tracks' positions are their own predictions, their spread
    growing with no piece seen there. MC seed 1 IRBM #4:
    the two tracks, on the re-entry vehicle and on its stage 1.3 km apart
    and told right, went out of the radars' sight over the midcourse; their
    predicted covariances put them inside the bar, and released, the
    vehicle's final error was 9.3 km instead of 375 m."""
    sibs = [
        o
        for k in sorted(tr.siblings)
        if (o := by_key.get(k)) is not None and not o.dead and not _duplicate(o, tr, by_key)
    ]
    if not sibs:
        return None, False
    verdicts = [(behind(tr, o, sigmas, min_m, bias), o) for o in sibs]
    seen = tr.status == "confirmed" and tr.told is not None
    collapsed = seen and any(
        v is None and o.status == "confirmed" and o.told not in (None, tr.told) for v, o in verdicts
    )
    if any(v is tr and o.status != "lost" for v, o in verdicts):
        return "stage", collapsed
    counted = [(v, o) for v, o in verdicts if o.status != "lost" or o.role not in SPENT]
    if all(v is o for v, o in counted) and any(v is o for v, o in verdicts):
        return "rv", collapsed
    return None, collapsed


def _duplicate(o: Track, tr: Track, by_key: dict[int, Track]) -> bool:
    """Whether ``o`` is a lost duplicate: lost, and its last plots were those
    of the piece ``tr`` or a sibling of ``tr`` a sensor still holds now
    takes (:func:`same_piece`). Its prediction places no piece that track
    does not: it testifies to nothing (MC seed 1 MRBM #192, biased radars:
    the rv's first track, told ``rv`` and lost 58 m from the rv beside the
    track that had taken the rv's plots, kept that track a stage from t+143
    s until it was re-acquired on the stage at t+160 s)."""
    k = o.same_piece
    if o.status != "lost" or k is None:
        return False
    if k == tr.key:
        return True
    u = by_key.get(k)
    return u is not None and not u.dead and u.status != "lost" and k in tr.siblings
