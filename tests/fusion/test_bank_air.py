"""The drag bank forgets as the stationary air does (drag.drift_air).

The drag a bank reads is ``ln beta - sigma(h) z(h)``, ``z`` the air's
departure in sigmas, Gauss-Markov in height. The bank keeps its belief on
``(ln beta, z)`` and carries ``z`` down by the air's own law: what it read
high up about ``ln beta`` is not forgotten without bound on a long fall (as a
random walk of ``theta`` forgets it, session 9's first version), and it still
follows the air it comes down through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tocsin.fusion import drag


def _split(bank: drag.DragBank) -> drag.DragBank:
    x = np.zeros(6)
    x[0] = 6.4e6
    return drag.split(bank, x, np.eye(6))


def _collapsed_on(j: int) -> drag.DragBank:
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


def _read(bank: drag.DragBank, ev: np.ndarray) -> drag.DragBank:
    logw = bank.logw + ev
    logw = np.maximum(logw, float(np.max(logw)) - 30.0)
    return bank.with_states(bank.x, bank.p, logw - math.log(float(np.exp(logw).sum())))


@pytest.mark.parametrize("du", [0.01, 0.1, 0.5, 1.0, 3.0])
def test_the_chain_is_the_gauss_markov_air(du: float) -> None:
    z = drag.Z_NODES
    pi = np.exp(drag._Z_LOGPI)
    tr = drag._ou_step(du)
    assert np.allclose(tr.sum(axis=1), 1.0)
    # stationary: the air's law does not change with height
    assert np.allclose(pi @ tr, pi, atol=1e-12)
    assert float(pi @ z**2) == pytest.approx(1.0, abs=0.01)
    # and z keeps exp(-du) of itself
    assert float((pi * z) @ tr @ z) == pytest.approx(math.exp(-du), rel=0.01)


@pytest.mark.parametrize(
    ("h0", "h1"), [(40e3, 30e3), (20e3, 16e3), (60e3, 58e3), (30e3, 10e3), (100e3, 20e3)]
)
def test_the_change_between_two_heights_is_the_air_models(h0: float, h1: float) -> None:
    # var(d1 - d0) of the chain against the closed form (which the day air the
    # simulator draws is checked against in test_bank_drift.py)
    from tocsin.dynamics.atmosphere import density_sigma

    z = drag.Z_NODES
    pi = np.exp(drag._Z_LOGPI)
    s0, s1 = float(density_sigma(h0)), float(density_sigma(h1))
    joint = pi[:, None] * drag._ou_step(abs(h1 - h0) / 8_000.0)
    d = s1 * z[None, :] - s0 * z[:, None]
    assert float((joint * d * d).sum()) == pytest.approx(drag.air_drift_var(h0, h1, 8_000.0), rel=0.02)


def test_a_bank_that_has_read_nothing_keeps_its_prior() -> None:
    bank = _split(drag.prior("SRBM|MRBM"))
    out = bank
    for h in np.arange(80e3, 10e3, -5e3):
        out = drag.drift_air(out, float(h), float(h) - 5e3, 8_000.0)
    assert np.allclose(out.weights, bank.weights)
    # unsplit, above the air, no correlation length: untouched
    b0 = drag.prior("SRBM")
    assert drag.drift_air(b0, 60e3, 50e3, 8_000.0) is b0
    assert drag.drift_air(bank, 130e3, 121e3, 8_000.0) is bank
    assert drag.drift_air(bank, 60e3, 50e3, 0.0) is bank


@pytest.mark.parametrize(("h0", "h1"), [(100e3, 60e3), (60e3, 20e3)])
def test_what_was_read_is_forgotten_only_as_far_as_the_air_moves(h0: float, h1: float) -> None:
    # a bank sure of one member at h0, nothing read on the way to h1: theta
    # moved by d(h0) - d(h1), whose variance the stationary air bounds by
    # air_drift_var (plus the spreading of a theta between two members into
    # both, at most step^2 / 4, where it is read and where it is put back);
    # a random walk of theta passes it (on a fall the grid does not cap)
    ou = _collapsed_on(6)
    walk = 0.0
    for h in np.arange(h0, h1, -1_000.0):
        ou = drag.drift_air(ou, float(h), float(h) - 1_000.0, 8_000.0)
        walk += drag.air_drift_var(float(h), float(h) - 1_000.0, 8_000.0)
    bound = drag.air_drift_var(h0, h1, 8_000.0)
    step = float(ou.step[0])
    assert 0.5 * bound < _var(ou) < bound + step * step / 2.0
    assert walk > 2.0 * bound
    # the mean stays where it was read
    assert ou.mean_lnb() == pytest.approx(_collapsed_on(6).mean_lnb(), abs=1e-3)


def test_a_collapsed_bank_follows_when_the_drag_moves_to_the_next_member() -> None:
    # the drag read keeps pointing one member up (the air changed); static,
    # 30 nats to climb at 0.5 a step; following the air, within reach
    ev = np.full(13, -1.0)
    ev[6], ev[7] = 0.0, 0.5
    steps: dict[bool, int] = {}
    for follow in (False, True):
        bank = _collapsed_on(6)
        h = 40e3
        for n in range(1, 400):
            if follow:
                bank = drag.drift_air(bank, h, h - 200.0, 8_000.0)
                h -= 200.0
            bank = _read(bank, ev)
            if bank.weights[7] > 0.5:
                steps[follow] = n
                break
    assert steps[False] >= 55
    assert steps[True] <= 20


def test_a_member_the_value_moves_into_starts_from_where_it_came_from() -> None:
    bank = _collapsed_on(6)
    assert bank.x is not None
    assert bank.p is not None
    x = bank.x.copy()
    x[7, 0] += 5_000.0
    bank = bank.with_states(x, bank.p)
    out = drag.drift_air(bank, 40e3, 38e3, 8_000.0)
    assert out.x is not None
    assert out.p is not None
    assert out.weights[7] > 1e-4
    assert abs(out.x[7, 0] - x[6, 0]) < 1.0
    assert out.x[6, 0] == pytest.approx(x[6, 0], abs=1e-6)
    kept = drag.drift_air(bank, 40e3, 38e3, 8_000.0, mix=False)
    assert kept.x is not None
    assert kept.x[7, 0] == pytest.approx(x[7, 0])
    assert np.allclose(kept.weights, out.weights)


def test_a_fresh_bank_forgets_the_air_too() -> None:
    bank = drag.drift_air(_collapsed_on(6), 40e3, 30e3, 8_000.0)
    assert bank.zw is not None
    again = bank.fresh()
    assert again.zw is None
    assert again.zref is None


def test_an_exchange_that_moves_no_weight_mixes_no_states() -> None:
    # two members read alike (equal weight), their states 5 km apart: the air's
    # z crosses the bin edge between them both ways, no weight moves from one to
    # the other, so neither takes the other's state (session 10's full mixing
    # re-seeded both with their mean at every step: 20 steps, 2.4 km each).
    # What does move (into the outer members) still comes from where it left.
    bank = _split(drag.prior("SRBM"))
    assert bank.logw0 is not None
    ll = np.full(bank.lnb.size, -30.0)
    ll[6] = ll[7] = 0.0
    logw = bank.logw0 + ll
    bank = bank.with_states(bank.x, bank.p, logw - math.log(float(np.exp(logw).sum())))
    assert bank.x is not None
    x = bank.x.copy()
    x[7, 0] += 5_000.0
    bank = bank.with_states(x, bank.p)
    out = bank
    for h in np.arange(40e3, 20e3, -1e3):
        out = drag.drift_air(out, float(h), float(h) - 1e3, 8_000.0)
    assert out.x is not None
    assert out.weights[5] > 0.05
    assert out.weights[6] == pytest.approx(out.weights[7])
    assert abs(out.x[6, 0] - x[6, 0]) < 10.0
    assert abs(out.x[7, 0] - x[7, 0]) < 10.0
    # the outer members were filled from their neighbours
    assert abs(out.x[5, 0] - x[6, 0]) < 100.0
    assert abs(out.x[8, 0] - x[7, 0]) < 100.0
    full = bank
    for h in np.arange(40e3, 20e3, -1e3):
        full = drag.drift_air(full, float(h), float(h) - 1e3, 8_000.0, net=False)
    assert full.x is not None
    assert abs(full.x[7, 0] - x[7, 0]) > 1_000.0
    assert np.allclose(full.weights, out.weights)
