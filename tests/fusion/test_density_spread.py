"""How much of the air's departure from the standard atmosphere an impact
prediction still owes (``drag.density_spread``) depends on how much the drag
bank has learnt from drag it measured through that air
(``DragBank.informed``): nothing before the drag is felt, all of it once the
drag alone decides ``beta`` (docs/fusion.md, "Air")."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from conftest import bare_track

from tocsin.dynamics.atmosphere import density_sigma
from tocsin.dynamics.beta import BETA_RANGES
from tocsin.fusion import TrackerConfig, drag
from tocsin.fusion import ballistic as ballistic_mod
from tocsin.fusion.ballistic import Ballistic
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
    """100 km up, a bank split but with nothing learnt yet owes only the low
    air's departure (5 %), not the 30 % of the air it is in now, which it
    has not read any drag through (before session 7 it owed both)."""
    seen: list[float] = []
    real = ballistic_mod.predict_impact

    def spy(*a: Any, **kw: Any) -> Any:
        seen.append(float(kw["rho_sigma"]))
        return real(*a, **kw)

    monkeypatch.setattr(ballistic_mod, "predict_impact", spy)
    x = _re_entry_state()
    p = np.diag([100.0**2] * 3 + [5.0**2] * 3)
    cfg = TrackerConfig()
    for bank in (drag.split(drag.prior("SRBM"), x, p), _informed_bank("SRBM", math.log(4000.0), 0.02)):
        tr = bare_track(
            x, 1_800_000_000.0, cls="ballistic", phase="ballistic", burnt_out=True, status="confirmed"
        )
        tr.x[:] = x
        tr.p[:] = p
        tr.drag = bank
        Ballistic(cfg, Counter()).predictions(tr)
    nothing, learnt = seen
    assert nothing == pytest.approx(float(density_sigma(15e3)))
    sn, sc = float(density_sigma(100e3)), float(density_sigma(15e3))
    assert learnt == pytest.approx(math.sqrt(sc**2 + sn**2), rel=1e-3)


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
