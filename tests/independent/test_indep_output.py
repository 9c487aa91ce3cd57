"""What the independent generator writes: exactly the published exchange format
(every line decodes with tocsin's reader, rules of the contract hold), and plots
that are the truth seen from the sensor (noise-free geometry against pymap3d)."""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pymap3d
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from independent import earth  # noqa: E402
from independent.cases import Case, make_case  # noqa: E402


@pytest.fixture(scope="module")
def case() -> Case:
    return make_case(7, "MRBM", n_sensors=(6, 6))


def test_files_follow_the_contract(case: Case, tmp_path: Path) -> None:
    from tocsin.wire import ReadStats, iter_jsonl

    paths = case.write(tmp_path)
    for name in ("plots", "truth"):
        stats = ReadStats()
        msgs = list(iter_jsonl(paths[name], stats=stats))
        assert not stats.errors, stats.errors[:3]
        assert len(msgs) == len(paths[name].read_bytes().strip().split(b"\n"))
        sent = [m.sent for m in msgs]
        assert sent == sorted(sent), "lines must be in non-decreasing sent order"
    raw = [json.loads(x) for x in paths["plots"].read_text().splitlines()]
    seqs: dict[str, list[int]] = {}
    for m in raw:
        assert m["v"] == 1
        assert m["source"] == m["body"].get("sensor", m["body"].get("id"))
        seqs.setdefault(m["source"], []).append(m["seq"])
        assert m["body"].get("t", m["sent"]) <= m["sent"] + 1e-6, (
            "a plot cannot arrive before it was measured"
        )
        if "az_deg" in m["body"]:
            assert 0.0 <= m["body"]["az_deg"] < 360.0
            assert -90.0 <= m["body"]["el_deg"] <= 90.0
        if "los_ecef" in m["body"]:
            assert abs(np.linalg.norm(m["body"]["los_ecef"]) - 1.0) < 1e-9
    for s, q in seqs.items():
        assert all(b > a for a, b in itertools.pairwise(q)), f"{s}: seq must increase"
    kinds = {m["kind"] for m in raw}
    assert kinds == {"sensor", "plot"}
    truth = [json.loads(x)["body"] for x in paths["truth"].read_text().splitlines()]
    impacts = [b for b in truth if b["phase"] == "impact"]
    assert sorted(b["object"] for b in impacts) == sorted(o.id for o in case.objects)


def test_noise_free_radar_geometry_matches_pymap3d(case: Case) -> None:
    """Measured - bias - truth (pymap3d), over the sigma the sensor really has: zero
    mean, unit spread, per sensor and axis (a 0.1 % elevation scale error fails)."""
    objs = {o.id: o for o in case.objects}
    radars = {r.id: r for r in case.radars}
    res: dict[str, list[tuple[float, float, float]]] = {}
    for rep in case.reports:
        if rep.truth is None or "range_m" not in rep.body:
            continue
        r = radars[rep.source]
        x = objs[rep.truth].states(np.array([rep.t]))[0]
        if r.platform == "ship":
            p = rep.body["platform"]
            site = (p["lat"], p["lon"], p["alt_m"])  # type: ignore[index]
        else:
            site = (r.lat, r.lon, r.alt)
        az, el, rng = pymap3d.ecef2aer(*x[:3], *site)
        daz = (rep.body["az_deg"] - az - r.bias[1] + 180.0) % 360.0 - 180.0  # type: ignore[operator]
        res.setdefault(r.id, []).append(
            (
                (rep.body["range_m"] - rng - r.bias[0]) / (r.sig_r * r.mismatch),  # type: ignore[operator]
                daz / (r.sig_az * r.mismatch),
                (rep.body["el_deg"] - el - r.bias[2]) / (r.sig_el * r.mismatch),  # type: ignore[operator]
            )
        )
    checked = 0
    for sid, rows in res.items():
        if len(rows) < 100:
            continue
        a = np.array(rows)
        assert np.all(np.abs(a.mean(axis=0)) < 0.35), (sid, a.mean(axis=0))
        assert np.all((a.std(axis=0) > 0.85) & (a.std(axis=0) < 1.15)), (sid, a.std(axis=0))
        checked += 1
    assert checked >= 2


def test_range_rate_is_the_derivative_of_range(case: Case) -> None:
    objs = {o.id: o for o in case.objects}
    radars = {r.id: r for r in case.radars if r.sig_rr is not None and r.platform == "ground"}
    checked = 0
    for rep in case.reports:
        if rep.truth is None or rep.source not in radars:
            continue
        r = radars[rep.source]
        site = earth.geodetic_to_ecef(r.lat, r.lon, r.alt)
        o = objs[rep.truth]
        h = 0.01
        ts = np.array([max(rep.t - h, o.t_start), min(rep.t + h, o.t_end)])
        x = o.states(ts)
        rr = (np.linalg.norm(x[1, :3] - site) - np.linalg.norm(x[0, :3] - site)) / (ts[1] - ts[0])
        assert abs(rep.body["rr_mps"] - rr - r.bias[3]) < 6 * r.sig_rr * r.mismatch + 0.05  # type: ignore[operator]
        checked += 1
    if not checked:
        pytest.skip("no Doppler radar saw this case")


def test_infrared_line_of_sight_points_at_the_plume() -> None:
    c = make_case(3, "IRBM", n_sensors=(8, 8))
    objs = {o.id: o for o in c.objects}
    sats = {s.id: s for s in c.irs}
    assert sats, "the full sensor pool has the infrared satellites"
    n = 0
    for rep in c.reports:
        if rep.source not in sats:
            continue
        s = sats[rep.source]
        x = objs[rep.truth].states(np.array([rep.t]))[0]  # type: ignore[index]
        assert objs[rep.truth].thrusting(np.array([rep.t]))[0], "infrared sees burning motors only"  # type: ignore[index]
        u = x[:3] - s.observer
        u /= np.linalg.norm(u)
        ang = math.acos(min(1.0, float(np.dot(u, rep.body["los_ecef"]))))  # type: ignore[arg-type]
        # noise + bias + the plume's offset (<= 300 m at >= 36,000 km: < 1e-5 rad)
        assert ang < 6 * s.sig_los * s.mismatch + math.hypot(*s.bias) + 1e-5
        n += 1
    assert n > 3


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = make_case(11, "SRBM").write(tmp_path / "a")
    b = make_case(11, "SRBM").write(tmp_path / "b")
    assert a["plots"].read_bytes() == b["plots"].read_bytes()
    assert a["truth"].read_bytes() == b["truth"].read_bytes()


def test_separated_objects_come_down_apart_with_their_own_drag(case: Case) -> None:
    roles = [o.role for o in case.objects]
    assert roles[0] == "rv"
    assert "stage-1" in roles
    stage = next(o for o in case.objects if o.role == "stage-1")
    rv = case.objects[0]
    assert stage.beta is not None
    assert rv.beta is not None
    assert stage.beta < rv.beta / 5
    # the spent first stage falls far short of the warhead
    _, la1, lo1 = stage.end_point()
    _, la2, lo2 = rv.end_point()
    assert earth.surface_distance_m(la1, lo1, la2, lo2) > 50e3


def test_no_sensor_bias_removes_the_biases_and_nothing_else() -> None:
    """``independent_check.py --no-sensor-bias``: the same case (objects,
    sensors, noise mismatch, clutter, loss, every other draw) with every
    registration bias zero, so that a run with and without it differs by the
    biases alone."""
    from dataclasses import replace

    from independent.cases import Ablation

    a = make_case(5, "IRBM", n_sensors=(6, 6))
    b = make_case(5, "IRBM", n_sensors=(6, 6), ablation=Ablation(no_sensor_bias=True))
    assert any(any(v != 0.0 for v in r.bias) for r in a.radars)
    assert all(r.bias == (0.0, 0.0, 0.0, 0.0) for r in b.radars)
    assert all(s.bias == (0.0, 0.0) for s in b.irs)
    assert [replace(r, bias=(0.0, 0.0, 0.0, 0.0)) for r in a.radars] == b.radars
    assert [replace(s, bias=(0.0, 0.0)) for s in a.irs] == b.irs
    assert [o.id for o in a.objects] == [o.id for o in b.objects]
    ta = np.stack([o.states(np.array([o.t_end - 1.0]))[0] for o in a.objects])
    tb = np.stack([o.states(np.array([o.t_end - 1.0]))[0] for o in b.objects])
    assert np.array_equal(ta, tb)
    # the plots differ by the biases: the same count, ranges shifted
    assert len(a.reports) == len(b.reports)
