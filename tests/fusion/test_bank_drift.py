"""The drag bank follows the air it comes down through (drag.drift, drag.air_drift_var).

The drag a bank reads is ``ln beta - d(h)``, ``d`` the air's departure from
the standard atmosphere, which changes with height: a static bank, once
collapsed onto one member, cannot follow it (session 9: depressed SRBMs'
banks 0.1-0.2 of ``ln beta`` off while stating 0.05)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tocsin.dynamics.atmosphere import DAY_STEP_M, day_air, density_sigma
from tocsin.fusion import drag


def _split(bank: drag.DragBank) -> drag.DragBank:
    x = np.zeros(6)
    x[0] = 6.4e6
    return drag.split(bank, x, np.eye(6))


def _collapsed_on(j: int) -> drag.DragBank:
    """An SRBM bank whose drag has said 'member j' (the others 30 nats below)."""
    bank = _split(drag.prior("SRBM"))
    assert bank.logw0 is not None
    ll = np.full(bank.lnb.size, -30.0)
    ll[j] = 0.0
    logw = bank.logw0 + ll
    return bank.with_states(bank.x, bank.p, logw - np.log(np.exp(logw).sum()))


def _var(bank: drag.DragBank) -> float:
    w = bank.weights
    m = float(w @ bank.lnb)
    return float(w @ (bank.lnb - m) ** 2)


@pytest.mark.parametrize(("h0", "h1"), [(40e3, 30e3), (20e3, 16e3), (60e3, 58e3), (30e3, 10e3)])
def test_the_step_is_what_the_simulated_air_does_between_two_heights(h0: float, h1: float) -> None:
    # drawn, not assumed: the simulator's day air (Gauss-Markov in height) at a
    # fixed correlation length, 4,000 days
    rng = np.random.default_rng(11)
    hs = np.arange(61) * DAY_STEP_M
    d = np.stack([day_air(rng, corr_m=8_000.0) for _ in range(4000)])
    di = np.array([np.interp([h0, h1], hs, row) for row in d])
    seen = float(np.var(di[:, 1] - di[:, 0]))
    want = drag.air_drift_var(h0, h1, 8_000.0)
    assert want == pytest.approx(seen, rel=0.1)
    # small steps: about 2 sigma^2 |dh| / L
    s = float(density_sigma(h0))
    assert drag.air_drift_var(h0, h0 - 100.0, 8_000.0) == pytest.approx(2 * s * s * 100.0 / 8_000.0, rel=0.05)


def test_no_step_above_the_air_or_without_a_correlation_length() -> None:
    assert drag.air_drift_var(130e3, 125e3, 8_000.0) == 0.0
    assert drag.air_drift_var(40e3, 30e3, 0.0) == 0.0
    assert drag.air_drift_var(40e3, 40e3, 8_000.0) == 0.0


def test_a_bank_that_has_read_nothing_keeps_its_prior() -> None:
    bank = _split(drag.prior("SRBM|MRBM"))
    out = drag.drift(bank, 0.05)
    assert np.allclose(out.weights, bank.weights)
    # and an unsplit bank is only a belief: untouched
    b0 = drag.prior("SRBM")
    assert drag.drift(b0, 0.05) is b0


def test_what_the_drag_said_spreads_by_the_step_variance() -> None:
    bank = _collapsed_on(6)  # the middle of the core
    v0 = _var(bank)
    out = bank
    total = 0.0
    for _ in range(40):
        out = drag.drift(out, 0.001)
        total += 0.001
    assert _var(out) - v0 == pytest.approx(total, rel=0.1)
    # the mean stays (a random walk, no drift of the mean)
    assert out.mean_lnb() == pytest.approx(bank.mean_lnb(), abs=1e-3)
    # one big step is the same as many small ones (sub-stepped)
    one = drag.drift(bank, total)
    assert _var(one) == pytest.approx(_var(out), rel=0.05)


def test_a_collapsed_bank_follows_when_the_drag_moves_to_the_next_member() -> None:
    # the drag read keeps pointing one member up (the air changed): the same
    # evidence every step, 0.5 nat for member 7 over member 6 and 1 nat
    # against every other member; the descent moves the air by 2 sigma^2 dh / L
    # a step (sigma 0.1, 200 m a step, L 8 km: 5e-4)
    ev = np.full(13, -1.0)
    ev[6], ev[7] = 0.0, 0.5
    steps: dict[bool, int] = {}
    for follow in (False, True):
        bank = _collapsed_on(6)
        for n in range(1, 400):
            if follow:
                bank = drag.drift(bank, 2 * 0.1**2 * 200.0 / 8_000.0)
            logw = bank.logw + ev
            logw = np.maximum(logw, float(np.max(logw)) - 30.0)
            bank = bank.with_states(bank.x, bank.p, logw - math.log(float(np.exp(logw).sum())))
            if bank.weights[7] > 0.5:
                steps[follow] = n
                break
    # static: 30 nats to climb at 0.5 a step; following: the drift keeps the
    # neighbour within reach
    assert steps[False] >= 55
    assert steps[True] <= 20


def test_a_member_the_value_moves_into_starts_from_where_it_came_from() -> None:
    # the IMM's mixing: member 7, which the drag had ruled out (its own drag
    # wrong all along, its state 5 km off), takes what moves in from member 6,
    # and with it member 6's state; member 6 keeps its own
    bank = _collapsed_on(6)
    assert bank.x is not None
    assert bank.p is not None
    x = bank.x.copy()
    x[7, 0] += 5_000.0
    bank = bank.with_states(x, bank.p)
    out = drag.drift(bank, 0.002)
    assert out.x is not None
    assert out.p is not None
    assert abs(out.x[7, 0] - x[6, 0]) < 1.0
    assert out.x[6, 0] == pytest.approx(x[6, 0], abs=1e-6)
    assert np.allclose(out.p[6], bank.p[6])
    # without mixing the states stay as they were
    kept = drag.drift(bank, 0.002, mix=False)
    assert kept.x is not None
    assert kept.x[7, 0] == pytest.approx(x[7, 0])
    assert np.allclose(kept.weights, out.weights)
