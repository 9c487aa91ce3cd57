"""The compiled ground propagator against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.dynamics.flight import solve_trajectory
from tocsin.fusion import ground
from tocsin.fusion.propagate import to_ground


def test_compiled_propagation_to_the_ground_matches_the_reference() -> None:
    tr = solve_trajectory(39.0, 125.5, 80.0, missile_class="MRBM", dt=1.0)
    rng = np.random.default_rng(0)
    t = tr.burnout_t + rng.uniform(10.0, tr.flight_time_s - tr.burnout_t - 60.0, 12)
    x = tr.state_at(t) + rng.normal(size=(12, 6)) * np.array([100.0] * 3 + [5.0] * 3)
    for beta in (None, 5000.0, 300.0, 30.0):
        dt_ref, xg_ref = np.empty(12), np.empty((12, 6))
        for i in range(12):  # one row at a time: the reference's steps suit that row
            d, g = to_ground(x[i : i + 1], beta, direction=+1, max_time=7200.0)
            dt_ref[i], xg_ref[i] = d[0], g[0]
        dt, xg, _ = ground.to_ground(x, beta)
        np.testing.assert_allclose(dt, dt_ref, atol=0.05)
        assert float(np.max(np.linalg.norm(xg[:, :3] - xg_ref[:, :3], axis=1))) < 20.0


def test_per_row_ballistic_coefficients_and_the_sampled_path() -> None:
    tr = solve_trajectory(39.0, 125.5, 80.0, missile_class="SRBM", dt=1.0)
    x = np.repeat(tr.state_at(np.array([tr.burnout_t + 30.0])), 3, axis=0)
    dt, xg, samples = ground.to_ground(x, np.array([2000.0, 5000.0, 8000.0]), sample_row=1)
    # less drag, further and sooner
    assert dt[0] > dt[1] > dt[2]
    assert samples
    assert samples[-1][0] >= dt[1]
    el = [s[0] for s in samples]
    assert el == sorted(el)
    d1, g1, _ = ground.to_ground(x[1:2], 5000.0)
    assert abs(d1[0] - dt[1]) < 1e-9
    np.testing.assert_allclose(g1[0], xg[1])


def _states(cls: str, n: int, seed: int) -> np.ndarray:
    tr = solve_trajectory(39.0, 125.5, 80.0, missile_class=cls, dt=1.0)
    rng = np.random.default_rng(seed)
    t = tr.burnout_t + rng.uniform(5.0, tr.flight_time_s - tr.burnout_t - 60.0, n)
    out: np.ndarray = tr.state_at(t) + rng.normal(size=(n, 6)) * np.array([100.0] * 3 + [5.0] * 3)
    return out


def test_one_row_is_the_reference_step_for_step_both_ways() -> None:
    # one row: the compiled steps are the reference's (same rules), so the
    # two differ by rounding only (the order of the terms in the derivative),
    # forward to the impact and backward to the launch (backward, the air
    # speeds a light object up without bound: not a flight anyone asks for)
    x = np.vstack([_states(c, 4, 1) for c in ("SRBM", "IRBM", "ICBM-lofted")])
    for direction, betas in ((+1, (None, 5000.0, 800.0)), (-1, (None, 5000.0))):
        for beta in betas:
            for row in x:
                d_ref, g_ref = to_ground(row[None], beta, direction=direction, max_time=7200.0)
                d, g, _ = ground.to_ground(row[None], beta, direction=direction, max_time=7200.0)
                assert abs(d[0] - d_ref[0]) < 1e-6
                assert float(np.linalg.norm(g[0, :3] - g_ref[0, :3])) < 1e-3
                assert float(np.linalg.norm(g[0, 3:] - g_ref[0, 3:])) < 1e-6


def test_a_tracks_first_predictions_fly_as_the_numpy_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # drag.rv_kind (the prior's class) and impact.launch_from_ballistic fly
    # ground.to_ground; with the numpy reference flight in its place they
    # give the same class and the same launch point
    from tocsin.fusion import drag, impact

    cases = [(c, _states(c, 3, 2)) for c in ("SRBM", "MRBM", "IRBM", "ICBM-lofted")]
    p = np.diag([1e4] * 3 + [25.0] * 3)

    def run() -> list[object]:
        out: list[object] = []
        for _, xs in cases:
            for row in xs:
                out.append(drag.rv_kind(row))
                out.append(drag.rv_kind(row, (39.0, 125.5), 0.0))
                out.append(impact.launch_from_ballistic(row, p, 100.0, beta=None, boost_sigma_m=5e3))
                out.append(impact.launch_from_ballistic(row, p, 100.0, beta=5000.0, boost_sigma_m=5e3))
        return out

    got = run()

    def reference(x: np.ndarray, beta: object, **kw: object) -> tuple[np.ndarray, np.ndarray, list[object]]:
        d, g = to_ground(x, beta, **kw)  # type: ignore[arg-type]
        return d, g, []

    monkeypatch.setattr(ground, "to_ground", reference)
    want = run()
    kinds = [g for g in got if isinstance(g, str)]
    assert kinds == [w for w in want if isinstance(w, str)]
    assert {"SRBM", "MRBM", "IRBM", "ICBM"} <= set(kinds)
    for g, w in zip(got, want, strict=True):
        if isinstance(g, impact.Launch):
            assert isinstance(w, impact.Launch)
            assert abs(g.t - w.t) < 1e-6
            assert g.sigma_m == w.sigma_m
            assert abs(g.lat - w.lat) < 1e-9
            assert abs(g.lon - w.lon) < 1e-9
        else:
            assert g == w
