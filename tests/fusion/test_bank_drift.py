"""How far the air a drag bank reads moves between two heights (drag.air_drift_var).

The drag a bank reads is ``ln beta - d(h)``, ``d`` the air's departure from
the standard atmosphere, which changes with height: a static bank, once
collapsed onto one member, cannot follow it (session 9: depressed SRBMs'
banks 0.1-0.2 of ``ln beta`` off while stating 0.05). The bank that follows
it: tests/fusion/test_bank_air.py."""

from __future__ import annotations

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
