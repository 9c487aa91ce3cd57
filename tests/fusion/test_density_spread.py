"""How much of the air's departure from the standard atmosphere an impact
prediction still owes (``drag.density_spread``) depends on how much the drag
bank has learnt from drag it measured through that air
(``DragBank.informed``): nothing before the drag is felt, all of it once the
drag alone decides ``beta`` (docs/fusion.md, "Air"); and the air still to come
is read along the path to the ground (``drag.density_spread_path``), checked
against the day's air the simulator flies."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from conftest import bare_track

from tocsin.dynamics.atmosphere import DAY_STEP_M, N_DAY, day_air, density, density_sigma
from tocsin.dynamics.beta import BETA_RANGES
from tocsin.dynamics.flight import fly_free
from tocsin.fusion import TrackerConfig, drag
from tocsin.fusion import ballistic as ballistic_mod
from tocsin.fusion.ballistic import Ballistic
from tocsin.fusion.impact import predict_impact
from tocsin.fusion.propagate import height
from tocsin.geo import enu_matrix, geodetic_to_ecef

X0 = np.concatenate([geodetic_to_ecef(38.0, 131.0, 100e3), np.zeros(3)])


def _informed_bank(kind: str, y: float, sigma_m: float) -> drag.DragBank:
    """A split bank that has weighed drag measurements pointing to ``ln beta
    = y`` with a Gaussian likelihood of ``sigma_m``."""
    bank = drag.split(drag.prior(kind), X0, np.eye(6))
    assert bank.logw0 is not None
    lw = bank.logw0 - 0.5 * ((bank.lnb - y) / sigma_m) ** 2
    lw = lw - (lw.max() + math.log(float(np.exp(lw - lw.max()).sum())))
    return bank.with_states(bank.x, bank.p, lw)


def _mean_sensitivity(kind: str, y: float, sigma_m: float, eps: float = 1e-3) -> float:
    """Reference: d E[ln beta | y] / dy by finite differences, the prior taken
    as the continuous density of the bank's bins (uniform within each),
    integrated on a fine grid."""
    b0 = drag.prior(kind)
    g = np.linspace(float(b0.lnb.min()) - 2.0, float(b0.lnb.max()) + 2.0, 40_001)
    dens = np.zeros_like(g)
    for c, s, w in zip(b0.lnb, b0.step, b0.weights, strict=True):
        dens += np.where(np.abs(g - c) <= 0.5 * s, w / s, 0.0)

    def mean(yy: float) -> float:
        lik = dens * np.exp(-0.5 * ((g - yy) / sigma_m) ** 2)
        return float((lik * g).sum() / lik.sum())

    return (mean(y + eps) - mean(y - eps)) / (2.0 * eps)


@pytest.mark.parametrize("kind", ["SRBM", "IRBM"])
@pytest.mark.parametrize("where", [0.3, 0.5])
@pytest.mark.parametrize("width", [0.2, 0.4, 0.8, 2.0])
def test_informed_is_how_far_the_drag_moves_the_belief(kind: str, where: float, width: float) -> None:
    r = BETA_RANGES[kind]
    lo, hi = math.log(r.lo), math.log(r.hi)
    y, sigma_m = lo + where * (hi - lo), width * (hi - lo)
    got = _informed_bank(kind, y, sigma_m).informed()
    assert got == pytest.approx(_mean_sensitivity(kind, y, sigma_m), abs=0.04)


def test_a_bank_that_has_seen_no_drag_is_not_informed() -> None:
    assert drag.prior("SRBM").informed() == 0.0  # not split
    assert drag.split(drag.prior("IRBM"), X0, np.eye(6)).informed() == 0.0
    mix = drag.mixture_prior([("IRBM", 0.5), ("stage", 0.4), ("debris", 0.1)])
    assert drag.split(mix, X0, np.eye(6)).informed() == 0.0
    # ... and one whose drag alone decides is fully informed
    r = BETA_RANGES["SRBM"]
    assert _informed_bank("SRBM", math.log(5000.0), 0.01 * math.log(r.hi / r.lo)).informed() == 1.0


def test_the_spread_goes_from_the_low_air_alone_to_the_difference_of_two_heights() -> None:
    h, corr = 70e3, 8e3
    sc, sn = float(density_sigma(15e3)), float(density_sigma(h))
    rho = math.exp(-(h - 15e3) / corr)
    assert drag.density_spread(h, 0.0, corr) == pytest.approx(sc)
    assert drag.density_spread(h, 1.0, corr) == pytest.approx(math.sqrt(sc**2 + sn**2 - 2 * sc * sn * rho))
    ks = np.linspace(0.0, 1.0, 11)
    s = [drag.density_spread(h, float(k), corr) for k in ks]
    assert np.all(np.diff(s) > 0.0)  # 70 km up: the departures there and low down are unrelated
    # low down the two heights are one: once informed, nothing is left
    assert drag.density_spread(10e3, 1.0, corr) == pytest.approx(0.0, abs=1e-12)


def _re_entry_state() -> np.ndarray:
    pos = geodetic_to_ecef(38.0, 131.0, 100e3)
    rot = enu_matrix(38.0, 131.0)
    return np.concatenate([pos, rot.T @ np.array([2500.0, 0.0, -1500.0])])


def test_a_prediction_owes_the_air_by_what_its_bank_has_learnt(monkeypatch: pytest.MonkeyPatch) -> None:
    """100 km up, a bank split but with nothing learnt yet owes only the air
    still to come (read along its path), not the 30 % of the air it is in
    now, which it has not read any drag through (before session 7 it owed
    both); one that has learnt from drag it read owes the difference of the
    two, read where it read it; one whose weights moved with no drag read
    (a separated piece's role) has taken in no air (before session 13 it
    owed the air it was in, as if it had read it there)."""
    seen: list[tuple[float, float, Any]] = []
    real = ballistic_mod.predict_impact

    def spy(*a: Any, **kw: Any) -> Any:
        seen.append((float(kw["rho_sigma"]), float(kw["air_informed"]), kw["air_read"]))
        assert kw["air_corr_m"] == TrackerConfig().density_corr_m
        return real(*a, **kw)

    monkeypatch.setattr(ballistic_mod, "predict_impact", spy)
    x = _re_entry_state()
    p = np.diag([100.0**2] * 3 + [5.0**2] * 3)
    cfg = TrackerConfig(air_read_heights=True)
    low = np.concatenate([geodetic_to_ecef(38.0, 131.0, 50e3), x[3:]])
    learnt_bank = drag.note_read(_informed_bank("SRBM", math.log(4000.0), 0.02), low)
    for bank in (
        drag.split(drag.prior("SRBM"), x, p),
        learnt_bank,
        _informed_bank("SRBM", math.log(4000.0), 0.02),
    ):
        tr = bare_track(
            x,
            1_800_000_000.0,
            cls="ballistic",
            phase="ballistic",
            burnt_out=True,
            coast_seen=True,
            status="confirmed",
        )
        tr.x[:] = x
        tr.p[:] = p
        tr.drag = bank
        Ballistic(cfg, Counter()).predictions(tr)
    (step0, nothing, _), (step1, learnt, read), (_, unread, _) = seen
    # the step the impacts are flown with: the low air's departure
    assert step0 == step1 == pytest.approx(float(density_sigma(15e3)))
    assert nothing == 0.0
    assert learnt == 1.0
    assert read is not None
    assert int(np.argmax(read)) == 50  # read 50 km up (1-km bins)
    assert unread == 0.0


def _air_sigma_m(x: np.ndarray, beta: float, informed: float | None, k_single: float) -> float:
    """The standard deviation (m, along its major axis) the air adds to one
    state's impact ellipse: with ``informed`` the path model, else the single
    height's ``density_spread(h, k_single)``."""
    h = float(geodetic_h(x))
    corr = TrackerConfig().density_corr_m
    rs = drag.density_spread(h, k_single if informed is None else 0.0, corr)
    p = np.eye(6) * 1e-6
    a = predict_impact(x, p, 0.0, beta=beta, rho_sigma=rs, air_informed=informed, air_corr_m=corr)
    b = predict_impact(x, p, 0.0, beta=beta, rho_sigma=0.0)
    assert a is not None
    assert b is not None
    c = np.array([[a.cov_en[0] - b.cov_en[0], a.cov_en[1] - b.cov_en[1]], [0.0, a.cov_en[2] - b.cov_en[2]]])
    c[1, 0] = c[0, 1]
    return math.sqrt(max(float(np.linalg.eigvalsh(c)[-1]), 0.0))


def geodetic_h(x: np.ndarray) -> float:
    return float(height(x[None, :3])[0])


@pytest.mark.parametrize(
    ("h0", "vh", "vz", "beta", "k"),
    [
        (60e3, 2500.0, -1500.0, 4000.0, 0.0),  # an SRBM coming in
        (40e3, 2000.0, -300.0, 3000.0, 0.0),  # a depressed one, flat in the air
        (20e3, 1500.0, -1000.0, 3000.0, 0.0),
        (40e3, 2000.0, -300.0, 3000.0, 1.0),  # a bank that has read the air it is in
        (20e3, 1500.0, -1000.0, 3000.0, 1.0),
        (10e3, 1000.0, -800.0, 3000.0, 1.0),
    ],
)
def test_the_air_term_is_the_spread_the_days_air_makes(
    h0: float, vh: float, vz: float, beta: float, k: float
) -> None:
    """Reference: the simulator's own integrator (fly_free) flies the state
    through 400 days' air drawn as the simulator draws it (8 km correlation,
    the tracker's), each against the standard with ``ln beta`` less ``k``
    times that day's departure at the height it is at (what a bank that has
    read the drag there believes): the spread of the landing points is what
    the air term must say. The path model says it within 10 % before the
    bank has read anything and within 20 % after (measured over three seeds
    of draws: 0.95-1.08 and 0.82-0.99 of it, the least at 10 km); the single
    height (``min(h, 15 km)``, sessions 3-7) said 1.4-1.8x at k = 0 and
    nothing at all once informed below 15 km."""
    pos = geodetic_to_ecef(38.0, 131.0, h0)
    x = np.concatenate([pos, enu_matrix(38.0, 131.0).T @ np.array([vh, 0.0, vz])])
    rng = np.random.default_rng(11)
    knots = np.arange(N_DAY) * DAY_STEP_M
    land = []
    for _ in range(400):
        day = day_air(rng, TrackerConfig().density_corr_m)
        d_now = float(np.interp(h0, knots, day))
        _, xt, ok_t = fly_free(x, 0.0, beta=beta, t_max=5_000.0, air=day)
        _, xe, ok_e = fly_free(x, 0.0, beta=beta * math.exp(-k * d_now), t_max=5_000.0)
        assert ok_t
        assert ok_e
        land.append(xt[-1][:3] - xe[-1][:3])
    en = np.array(land) @ enu_matrix(38.0, 131.0)[:2].T
    ref = math.sqrt(float(np.linalg.eigvalsh(en.T @ en / len(en))[-1]))
    path = _air_sigma_m(x, beta, k, k)
    assert path == pytest.approx(ref, rel=0.1 if k == 0.0 else 0.2)
    single = _air_sigma_m(x, beta, None, k)
    if k == 0.0:
        assert single > 1.3 * ref  # the old model, caught
    if h0 < 15e3:
        assert single == pytest.approx(0.0, abs=1e-6)  # ... and here too


def test_the_path_spread_of_one_height_is_the_single_height_spread() -> None:
    corr = 8e3
    for h_now in (70e3, 30e3):
        for k in (0.0, 0.5, 1.0):
            one = drag.density_spread_path(h_now, k, corr, np.array([15e3]), np.array([2.0]))
            assert one == pytest.approx(drag.density_spread(h_now, k, corr), rel=1e-9)


def test_a_long_path_reads_a_mean_of_the_air() -> None:
    """Weights spread over many correlation lengths read a mean of the
    departures: less than their mean sigma; fully correlated air, exactly it."""
    hs = np.linspace(0.0, 40e3, 41)
    ws = np.ones_like(hs)
    mean_sigma = float(np.mean(density_sigma(np.rint(hs / 1e3) * 1e3)))
    spread = drag.density_spread_path(50e3, 0.0, 8e3, hs, ws)
    assert 0.3 * mean_sigma < spread < 0.8 * mean_sigma
    assert drag.density_spread_path(50e3, 0.0, 1e12, hs, ws) == pytest.approx(mean_sigma, rel=1e-6)
    # nothing to come: the single height
    assert drag.density_spread_path(50e3, 0.5, 8e3, hs, np.zeros_like(hs)) == drag.density_spread(
        50e3, 0.5, 8e3
    )


def test_a_narrow_belief_is_informed_even_when_the_likelihood_is_no_quadratic() -> None:
    """Members away from the truth fly filters that have wandered: their
    likelihoods need not fall off as a quadratic (here a member three bins
    out is likelier than its neighbour), but a belief this much narrower
    than the class-wide prior has been made by the drag."""
    bank = drag.split(drag.prior("SRBM"), X0, np.eye(6))
    assert bank.logw0 is not None
    lik = np.full(bank.lnb.shape[0], -40.0)
    lik[5], lik[6], lik[8] = 0.0, -1.0, -0.5
    lw = bank.logw0 + lik
    lw = lw - (lw.max() + math.log(float(np.exp(lw - lw.max()).sum())))
    assert bank.with_states(bank.x, bank.p, lw).informed() > 0.6


def _info(h: float, v: float) -> float:
    rho = float(density(np.array([h]))[0])
    return (rho * v * v) ** 2


def test_a_bank_notes_where_it_read_the_drag_by_what_each_plot_told_it() -> None:
    """Each plot that read the drag adds ``(rho v^2)^2`` (the square of the
    drag's sensitivity to ``ln beta``) at its height; above the drag
    ceiling nothing is read; a re-filter's fresh bank has read nothing."""
    bank = drag.split(drag.prior("SRBM"), X0, np.eye(6))
    assert bank.read is None
    up = enu_matrix(38.0, 131.0).T @ np.array([2000.0, 0.0, 500.0])
    hi = np.concatenate([geodetic_to_ecef(38.0, 131.0, 130e3), up])
    assert drag.note_read(bank, hi) is bank
    a = np.concatenate([geodetic_to_ecef(38.0, 131.0, 40e3), up])
    b = np.concatenate([geodetic_to_ecef(38.0, 131.0, 60e3), up])
    read = drag.note_read(drag.note_read(drag.note_read(bank, a), b), b).read
    assert read is not None
    assert set(np.nonzero(read)[0].tolist()) == {40, 60}
    v = float(np.linalg.norm(up))
    assert read[60] / read[40] == pytest.approx(2.0 * _info(60e3, v) / _info(40e3, v), rel=1e-3)
    assert read[60] < 0.05 * read[40]  # the denser air tells the most
    assert drag.note_read(bank, a).fresh().read is None


def test_a_read_at_the_height_it_is_at_is_the_old_spread() -> None:
    corr = 8e3
    hs = np.linspace(0.0, 40e3, 41)
    ws = np.exp(-hs / 10e3)
    for h_now in (70e3, 30e3):
        at = np.zeros(drag.AIR_BINS)
        at[round(h_now / drag.AIR_GRID_M)] = 3.0
        for k in (0.0, 0.5, 1.0):
            old = drag.density_spread_path(h_now, k, corr, hs, ws)
            assert drag.density_spread_path(h_now, k, corr, hs, ws, read=at) == pytest.approx(old, rel=1e-9)


@pytest.mark.parametrize(
    ("h0", "vh", "vz", "h_read"),
    [
        (95e3, 2200.0, -300.0, 50e3),  # an SRBM over the top, its bank read on the way up
        (80e3, 2200.0, -900.0, 45e3),
        (70e3, 2500.0, -1500.0, 60e3),
    ],
)
def test_a_bank_owes_the_air_where_it_read_its_drag(h0: float, vh: float, vz: float, h_read: float) -> None:
    """Reference as above (the simulator's integrator through 400 drawn days'
    air, 8 km correlation): a bank that read its drag at ``h_read`` believes
    ``ln beta`` less that day's departure THERE, and flies on from ``h0``
    above it. The term read where it read (``DragBank.read``) says the
    spread within 20 % (0.85-1.05 of it over seeds 7, 13, 21); the one that
    takes the bank to have read the air it is in now (sessions 7-12) says
    1.9-2.3x where the two heights are 30-45 km apart (the departure at
    80-95 km is 0.3 of ``ln rho``, at 45-50 km 0.15; MC SRBM over the top,
    session 13)."""
    pos = geodetic_to_ecef(38.0, 131.0, h0)
    x = np.concatenate([pos, enu_matrix(38.0, 131.0).T @ np.array([vh, 0.0, vz])])
    beta = 4000.0
    corr = TrackerConfig().density_corr_m
    rng = np.random.default_rng(13)
    knots = np.arange(N_DAY) * DAY_STEP_M
    land = []
    for _ in range(400):
        day = day_air(rng, corr)
        d_read = float(np.interp(h_read, knots, day))
        _, xt, ok_t = fly_free(x, 0.0, beta=beta, t_max=5_000.0, air=day)
        _, xe, ok_e = fly_free(x, 0.0, beta=beta * math.exp(-d_read), t_max=5_000.0)
        assert ok_t
        assert ok_e
        land.append(xt[-1][:3] - xe[-1][:3])
    en = np.array(land) @ enu_matrix(38.0, 131.0)[:2].T
    ref = math.sqrt(float(np.linalg.eigvalsh(en.T @ en / len(en))[-1]))
    read = np.zeros(drag.AIR_BINS)
    read[round(h_read / drag.AIR_GRID_M)] = 1.0

    def sigma(r: np.ndarray | None) -> float:
        rs = drag.density_spread(h0, 0.0, corr)
        p = np.eye(6) * 1e-6
        a = predict_impact(x, p, 0.0, beta=beta, rho_sigma=rs, air_informed=1.0, air_corr_m=corr, air_read=r)
        b = predict_impact(x, p, 0.0, beta=beta, rho_sigma=0.0)
        assert a is not None
        assert b is not None
        d = np.array(a.cov_en) - np.array(b.cov_en)
        c = np.array([[d[0], d[1]], [d[1], d[2]]])
        return math.sqrt(max(float(np.linalg.eigvalsh(c)[-1]), 0.0))

    assert sigma(read) == pytest.approx(ref, rel=0.2)
    if h0 - h_read > 25e3:
        assert sigma(None) > 1.3 * ref  # the air it is in, caught
