"""The radars' registration biases as the filter's sensitivity to them
(a Schmidt-Kalman consider state; Schmidt 1966; docs/fusion.md, "The bias
term as the filter's sensitivity").

A radar's bias ``b`` (range, azimuth, elevation, range rate) is the same on
every plot it makes: ``z = h(x) + b + v``. The filter does not estimate it,
so it moves the filter's estimate by ``S b``, ``S = d x_hat / d b``, which
follows the filter's own recursion: a prediction carries it with the
dynamics' transition, ``S <- Phi S``, and an update with gain ``K`` keeps the
part of it the plot does not correct and adds what the plot's own bias puts
in, ``S <- (I - K H) S + K`` (the plot's radar only; a line of sight has no
bias model here and only corrects). With ``S`` in units of one standard
deviation of each bias, the consider covariance of the state is ``sum over
radars of S S^T``.

Where :func:`tocsin.fusion.impact.sensor_bias_cov` takes the whole flight to
be turned (or moved) rigidly by the bias, this is what the filter really
does with it: for a straight flight with no process noise the two agree
(a turned straight line is a straight line; the test holds them to it), but
a ballistic arc turned about a horizontal axis through the radar, or moved
along the line of sight, is no longer a ballistic arc, and a filter fitting
a long arc under gravity follows only part of it.

Pure maths: no I/O, no tracker state (the tracker keeps the per-track
history, :attr:`tocsin.fusion.track.Track.bias_sens`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

NCOL = 4
"""Columns of a radar's sensitivity: range, azimuth, elevation, range rate."""

Sens = dict[str, F64]
"""Per radar (sensor id), the state's error ``(6, 4)`` per one standard
deviation of each of its biases."""


def padded(cols: dict[str, F64]) -> Sens:
    """Columns ``(6, 3|4)`` per radar (e.g.
    :func:`tocsin.fusion.impact.sensor_bias_columns`) as ``(6, 4)`` (a radar
    without range rate: its range-rate column zero)."""
    out: Sens = {}
    for name, c in cols.items():
        s = np.zeros((6, NCOL))
        s[:, : c.shape[1]] = c
        out[name] = s
    return out


def propagate(s: Sens, phi: F64) -> Sens:
    """``S <- Phi S`` for every radar (``phi (6, 6)``)."""
    return {name: phi @ v for name, v in s.items()}


def effective_gain(p: F64, h: F64, r: F64, mu: F64) -> tuple[F64, F64]:
    """The gain of an IMM's combined estimate for one plot: each model's
    Kalman gain ``K_j = P_j H_j^T (H_j P_j H_j^T + R)^-1`` (``p (M, 6, 6)``
    the models' predicted covariances, ``h (M, m, 6)`` the measurement's
    Jacobian at each model's prediction, ``r (m, m)``) weighted by the
    models' probabilities after the update (``mu (M,)``): the combined
    estimate ``sum mu_j x_j`` moves by ``sum mu_j K_j`` per unit of the
    measurement (the probabilities' own dependence left out). Returns
    ``(K (6, m), K H (6, 6))``."""
    m = h.shape[1]
    k_eff = np.zeros((6, m))
    kh = np.zeros((6, 6))
    for j in range(p.shape[0]):
        w = float(mu[j])
        if w <= 0.0:
            continue
        ph = p[j] @ h[j].T
        s = h[j] @ ph + r
        kj = np.linalg.solve(s.T, ph.T).T  # P H^T S^-1 (S symmetric)
        k_eff += w * kj
        kh += w * (kj @ h[j])
    return k_eff, kh


def update(s: Sens, k: F64, kh: F64, sensor: str | None, sigma: F64) -> Sens:
    """One plot's update of the sensitivities: ``S <- (I - K H) S`` for
    every radar, and for the plot's own radar (``sensor``; None: a sensor
    with no bias model) ``+ K diag(sigma)`` on the columns it measures
    (``sigma (4,)``: the biases' standard deviations, radians for angles;
    ``k (6, m)``, ``m`` 3 or 4)."""
    g = np.eye(6) - kh
    out = {name: g @ v for name, v in s.items()}
    if sensor is not None:
        m = k.shape[1]
        add = np.zeros((6, NCOL))
        add[:, :m] = k * sigma[:m]
        out[sensor] = out[sensor] + add if sensor in out else add
    return out


def covariance(s: Sens) -> F64 | None:
    """The consider covariance ``sum S S^T`` (6 x 6); None without a radar."""
    if not s:
        return None
    c = np.zeros((6, 6))
    for v in s.values():
        c += v @ v.T
    out: F64 = 0.5 * (c + c.T)
    return out
