"""A drag bank whose model probability collapsed restarts from the IMM's
mixed prior (the model that explains the plots) instead of being mixed, far
off, into every later prediction (issue 16: objects lost while sensors kept
reporting them, Monte Carlo lofted ICBM seed 1 #110 and #173); a healthy bank
flies on from its own members (what it learns about beta)."""

from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np
import pytest

from tocsin.fusion import TrackerConfig, drag, kernels
from tocsin.fusion.estimation import Estimator
from tocsin.fusion.models import ballistic_predict
from tocsin.fusion.track import Track
from tocsin.geo import enu_matrix, geodetic_to_ecef


def _falling(h_m: float, speed: float, gamma_deg: float) -> np.ndarray:
    """An ECEF state over the Sea of Japan at ``h_m``, heading east and
    descending at ``gamma_deg`` below the horizon."""
    lat, lon = 38.5, 134.0
    r = geodetic_to_ecef(lat, lon, h_m)
    g = math.radians(gamma_deg)
    v_enu = np.array([speed * math.cos(g), 0.0, -speed * math.sin(g)])
    v = enu_matrix(lat, lon).T @ v_enu
    return np.concatenate([r, v])


def test_the_bank_members_start_from_the_imm_mixed_quiet_model() -> None:
    """drag.interact against kernels.imm_mix: the members' mixture after the
    interaction has the mean and covariance of the IMM's mixed quiet-model
    prior (the bank's mixture being the quiet model), for any weights."""
    rng = np.random.default_rng(7)
    k = 5
    base = _falling(90e3, 3000.0, 30.0)
    xs = base + rng.normal(size=(k, 6)) * np.array([3e3, 3e3, 3e3, 40.0, 40.0, 40.0])
    a = rng.normal(size=(k, 6, 6)) * 0.3
    ps = np.einsum("kij,klj->kil", a, a) + np.diag([1e4, 1e4, 1e4, 25.0, 25.0, 25.0])
    lw = rng.normal(size=k)
    bank = drag.DragBank("ICBM", np.log(np.linspace(4e3, 15e3, k)), lw - np.log(np.exp(lw).sum()), xs, ps)
    x1 = base + np.array([5e3, -2e3, 1e3, 100.0, -50.0, 20.0])
    b = rng.normal(size=(6, 6)) * 0.5
    p1 = b @ b.T + np.diag([4e4, 4e4, 4e4, 400.0, 400.0, 400.0])
    xm, pm = drag.mixture(bank)
    for mu0, dt, tau in [(0.9, 1.0, 30.0), (1e-6, 1.0, 30.0), (0.3, 4.0, 10.0)]:
        x = np.stack([xm, x1])[None]
        p = np.stack([pm, p1])[None]
        mu = np.array([[mu0, 1.0 - mu0]])
        x0, p0, cbar = kernels.imm_mix(x, p, mu, np.array([dt]), np.array([tau]), np.array([tau]))
        w1 = (1.0 - mu0) * (1.0 - math.exp(-dt / tau)) / cbar[0, 0]
        mixed = drag.interact(bank, 1.0 - w1, x1, p1)
        assert np.allclose(mixed.logw, bank.logw)  # the belief about beta is kept
        xmm, pmm = drag.mixture(mixed)
        assert np.allclose(xmm, x0[0, 0], rtol=0.0, atol=1e-6)
        assert np.allclose(pmm, p0[0, 0], rtol=1e-9, atol=1e-6)


def _collapsed_track(offset_m: float, mu0: float = 1e-9) -> Track:
    """A heavy re-entry vehicle's track whose drag bank (its quiet model)
    flew off ``offset_m`` behind and 2 km/s slow: every plot is explained by
    the manoeuvre model (mu = [0, 1]), as on MC lofted ICBM #110 at t+240 s."""
    truth = _falling(80e3, 3000.0, 35.0)
    far = truth.copy()
    far[:3] -= far[3:] / np.linalg.norm(far[3:]) * offset_m
    far[3:] *= 1.0 / 3.0
    p1 = np.diag([300.0**2] * 3 + [100.0**2] * 3)
    pb = np.diag([50.0**2] * 3 + [5.0**2] * 3)
    bank = drag.split(drag.prior("debris"), far, pb)
    xm, pm = drag.mixture(bank)
    return Track(
        key=1,
        x=np.stack([xm, truth]),
        p=np.stack([pm, p1]),
        mu=np.array([mu0, 1.0 - mu0]),
        t=0.0,
        created=-200.0,
        window=deque(),
        sources={"JP-S1"},
        partners={"JP"},
        status="confirmed",
        cls="ballistic",
        phase="ballistic",
        burnt_out=True,
        burnout_t=-150.0,
        drag=bank,
        separated=True,
        role="debris",
    )


@pytest.mark.parametrize("offset_m", [20e3, 200e3])
def test_a_collapsed_drag_bank_does_not_pull_the_prediction_away(offset_m: float) -> None:
    """The prediction of such a track (a tick's report, a gate) stays on the
    model that explains the plots: before the fix the bank flew on from its
    own members and the IMM mixed it in with cbar0 = mu1 p10 (3 % a second),
    reported 15-23 km off with a 42-56 km sigma between good updates
    ("lost while reported"): 0.7 km (20 km behind) and 6.6 km (200 km)."""
    cfg = TrackerConfig()
    est = Estimator(cfg, Counter())
    tr = _collapsed_track(offset_m)
    _, _, _, xc, pc, ok = est.predict_all(est.gather([tr], 1.0))
    beta = math.exp(tr.drag.mean_lnb()) if tr.drag is not None else 5000.0
    ref = ballistic_predict(tr.x[1][None], np.array([1.0]), beta=np.array([beta]))[0][0]
    assert ok[0]
    assert float(np.linalg.norm(xc[0, :3] - ref[:3])) < 300.0
    assert math.sqrt(float(np.trace(pc[0, :3, :3]))) < 2_000.0


def test_a_healthy_drag_bank_flies_on_from_its_own_members() -> None:
    """Where the quiet model is still likely (mu0 0.2 here) the members are
    not pulled towards the manoeuvre model (which flies the mean beta): the
    prediction is the one without any restart, bit for bit."""
    preds = []
    for on in (True, False):
        est = Estimator(TrackerConfig(bank_interaction=on), Counter())
        tr = _collapsed_track(2e3, mu0=0.2)
        preds.append(est.predict_all(est.gather([tr], 1.0))[3])
        assert est.stats["bank_restarts"] == 0
    assert np.array_equal(preds[0], preds[1])
