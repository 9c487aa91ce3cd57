"""Random flights and sensor sets for Monte Carlo runs, as ordinary scenarios.

``random_scenario(seed, flight_class)`` builds a validated
:class:`~tocsin.drill.scenario.Scenario` (no file) with one launch of the given
class — site, azimuth, range, apogee, manoeuvre drawn from ``seed`` — a random
subset of a notional sensor pool (ground and ship radars of JP and KR, a US
geostationary infrared sensor) and random link latency, jitter and loss per
partner. :func:`tocsin.drill.simulate.simulate` then gives the plots and the
truth in memory; the re-entry vehicle's (and every separated object's) ballistic
coefficient is drawn inside its class range by the simulator, as in any drill.
``monte_carlo(seed, n)`` yields ``n`` such scenarios cycling through
:data:`FLIGHT_CLASSES`.

Every radar gets a registration bias of its own (scenario ``bias:``), each
component drawn uniformly (or, ``bias_law="normal"``, from a normal of the same
standard deviation) within :data:`SENSOR_BIAS_LIMITS` (range offset,
azimuth and elevation misalignment, range-rate offset) from a random stream of
its own, so that ``sensor_bias=False`` gives the same flights, sensors and
links without it. The limits are the residual error of a calibrated, registered
radar, not of a raw one (docs/scenarios.md, "Drawn registration bias", gives
the sources): range +-20 m (range zero-set calibration and tropospheric delay
left after the model), angles +-0.025 deg (antenna north alignment and, on a
ship, attitude from its inertial navigation), range rate +-0.3 m/s. The
space infrared sensors have no bias model in the simulator and get none.

Everything derives from ``seed`` (``numpy.random.default_rng([seed, i])`` for the
i-th scenario): the same seed gives the same scenarios, plots and truth byte for
byte. Launch areas, sensor sites and performance are notional, as in the shipped
scenarios.

Flight classes (ranges in km, apogees from the profile or drawn):

=================  ==================================================================
``SRBM``           250-800 km, apogee 0.75-1.25 x the minimum-energy apogee
``SRBM-depressed`` 300-700 km, apogee range / 12, at least 40 km (KN-23, 2019)
``SRBM-pullup``    300-700 km, depressed, quasi-ballistic pull-up and glide
                   (pull-up 30-40 km, dive 15-25 km, L/D 1.5-2.5)
``MRBM``           1,000-1,500 km, minimum-energy +- 25 %; re-entry vehicle separates
``IRBM``           2,500-4,500 km, minimum-energy +- 25 %; re-entry vehicle separates
``ICBM-lofted``    900-1,100 km, apogee 4,000-7,700 km; two stages that separate
``SLV``            from Sohae, azimuth 165-180°, orbit 450-550 km; three stages and
                   a fairing, all falling downrange
=================  ==================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np

from tocsin.drill.scenario import Scenario, scenario_from_data
from tocsin.dynamics.flight import depressed_apogee_m, min_energy_apogee_m
from tocsin.geo.wgs84 import GM, WGS84_A

__all__ = [
    "BIAS_LAWS",
    "FLIGHT_CLASSES",
    "LAUNCH_AREAS",
    "SENSOR_BIAS_LIMITS",
    "SENSOR_POOL",
    "monte_carlo",
    "random_launch",
    "random_partners",
    "random_scenario",
    "random_sensor_bias",
]

FLIGHT_CLASSES: tuple[str, ...] = (
    "SRBM",
    "SRBM-depressed",
    "SRBM-pullup",
    "MRBM",
    "IRBM",
    "ICBM-lofted",
    "SLV",
)

LAUNCH_AREAS: dict[str, tuple[float, float]] = {
    "Pyongyang (Sunan)": (39.20, 125.67),
    "Kusong": (39.98, 125.24),
    "Wonsan (Kalma)": (39.17, 127.45),
    "Sinpo": (40.03, 128.18),
    "Hamhung": (39.92, 127.55),
    "Jangyon": (38.25, 125.12),
}
"""Notional launch areas (a site is drawn within 0.2° of one)."""

SOHAE = (39.66, 124.70)

_AZIMUTHS: dict[str, tuple[float, float]] = {
    "SRBM": (40.0, 170.0),
    "SRBM-depressed": (40.0, 170.0),
    "SRBM-pullup": (40.0, 170.0),
    "MRBM": (50.0, 140.0),
    "IRBM": (55.0, 120.0),
    "ICBM-lofted": (60.0, 110.0),
    "SLV": (165.0, 180.0),
}


def _radar(
    sid: str,
    name: str,
    lat: float,
    lon: float,
    *,
    sigma_m: float,
    sigma_deg: float,
    max_km: float,
    az: tuple[float, float] | None,
    period: float = 1.0,
    alt_m: float = 100.0,
) -> dict[str, Any]:
    fov: dict[str, float] = {"el_min_deg": 0.5, "el_max_deg": 85.0}
    if az is not None:
        fov |= {"az_from_deg": az[0], "az_to_deg": az[1]}
    return {
        "id": sid,
        "name": name,
        "type": "radar",
        "platform": "ground",
        "site": {"lat": lat, "lon": lon, "alt_m": alt_m},
        "sigma_range_m": sigma_m,
        "sigma_az_deg": sigma_deg,
        "sigma_el_deg": sigma_deg,
        "sigma_rr_mps": 2.0,
        "max_range_km": max_km,
        "field_of_regard": fov,
        "scan_period_s": period,
        "pd": 0.9,
        "clutter_per_scan": 0.3,
        "latency_s": 0.3,
        "jitter_s": 0.2,
    }


def _ship(sid: str, name: str, lat: float, lon: float, heading: float) -> dict[str, Any]:
    return {
        "id": sid,
        "name": name,
        "type": "radar",
        "platform": "ship",
        "course": {"start": {"lat": lat, "lon": lon}, "heading_deg": heading, "speed_mps": 8.0},
        "sigma_range_m": 15.0,
        "sigma_az_deg": 0.03,
        "sigma_el_deg": 0.03,
        "sigma_rr_mps": 1.0,
        "max_range_km": 1200.0,
        "field_of_regard": {"el_min_deg": 1.0, "el_max_deg": 88.0},
        "scan_period_s": 0.5,
        "pd": 0.95,
        "clutter_per_scan": 0.2,
        "latency_s": 0.2,
        "jitter_s": 0.1,
    }


SENSOR_POOL: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "JP",
        _radar(
            "JP-R1",
            "notional radar, Sado Island",
            38.05,
            138.30,
            sigma_m=25,
            sigma_deg=0.05,
            max_km=1500,
            az=(220.0, 80.0),
            alt_m=150.0,
        ),
    ),
    (
        "JP",
        _radar(
            "JP-R2",
            "notional radar, Okushiri Island",
            42.15,
            139.47,
            sigma_m=25,
            sigma_deg=0.05,
            max_km=1500,
            az=(180.0, 90.0),
            alt_m=120.0,
        ),
    ),
    (
        "JP",
        _radar(
            "JP-R3",
            "notional radar, Tsushima",
            34.45,
            129.33,
            sigma_m=25,
            sigma_deg=0.05,
            max_km=1500,
            az=(250.0, 80.0),
        ),
    ),
    (
        "JP",
        _radar(
            "JP-R4",
            "notional radar, Okinawa",
            26.50,
            127.95,
            sigma_m=25,
            sigma_deg=0.05,
            max_km=1500,
            az=(240.0, 60.0),
        ),
    ),
    ("JP", _ship("JP-S1", "notional destroyer, Sea of Japan (north)", 40.2, 134.5, 60.0)),
    ("JP", _ship("JP-S2", "notional destroyer, Sea of Japan (south)", 37.3, 133.0, 240.0)),
    ("JP", _ship("JP-S3", "notional destroyer, East China Sea", 29.5, 126.5, 30.0)),
    (
        "KR",
        _radar(
            "KR-R1",
            "notional radar, central Korea",
            36.95,
            127.55,
            sigma_m=40,
            sigma_deg=0.08,
            max_km=900,
            az=(270.0, 120.0),
            period=2.0,
            alt_m=300.0,
        ),
    ),
    (
        "KR",
        _radar(
            "KR-R2",
            "notional radar, east coast",
            37.75,
            128.90,
            sigma_m=40,
            sigma_deg=0.08,
            max_km=900,
            az=(300.0, 150.0),
            period=2.0,
            alt_m=400.0,
        ),
    ),
    (
        "KR",
        _radar(
            "KR-R3",
            "notional radar, west coast",
            36.00,
            126.60,
            sigma_m=40,
            sigma_deg=0.08,
            max_km=900,
            az=(230.0, 90.0),
            period=2.0,
        ),
    ),
    ("KR", _ship("KR-S1", "notional destroyer, East Sea", 38.5, 130.5, 20.0)),
    (
        "US",
        {
            "id": "US-S1",
            "name": "notional geostationary infrared sensor",
            "type": "ir-satellite",
            "position": {"lat": 0.0, "lon": 135.0, "alt_km": 35786.0},
            "sigma_los_rad": 2.0e-5,
            "pd": 0.95,
            "min_alt_km": 5.0,
        },
    ),
)
"""The notional sensors a Monte Carlo scenario draws from: (partner, sensor as
in a scenario file)."""


SENSOR_BIAS_LIMITS: dict[str, float] = {"range_m": 20.0, "az_deg": 0.025, "el_deg": 0.025, "rr_mps": 0.3}
"""Half-widths of the uniform ranges a Monte Carlo radar's registration bias
is drawn from (scenario ``bias:`` fields). The tracker's default consider term
for sensor bias (:class:`tocsin.fusion.config.TrackerConfig` ``bias_*``) is the
standard deviation of these ranges, ``limit / sqrt(3)``."""

_BIAS_STREAM = 0xB1A5


BIAS_LAWS = ("uniform", "normal")
"""How :func:`random_sensor_bias` draws: ``uniform`` within the limits (the
default: every Monte Carlo so far), or ``normal`` with the same standard
deviation (``limit / sqrt(3)``, the tracker's consider term's)."""


def random_sensor_bias(rng: np.random.Generator, law: str = "uniform") -> dict[str, float]:
    """One radar's registration bias (a scenario ``bias:`` mapping), each
    component uniform within +-:data:`SENSOR_BIAS_LIMITS`; with ``law``
    ``"normal"`` the same uniform draw mapped through the normal quantile to
    a normal of the same standard deviation (same stream, same signs and
    ranks, so the same flights otherwise; unbounded: 8 % beyond the
    limit). The tracker considers a normal of that standard deviation; a
    uniform never passes 1.73 of it, so a class whose ellipse the bias term
    dominates is covered more under the uniform law than the tracker's own
    (MC lofted ICBM #103, session 11: rv coverage 1.0 uniform, 0.826 normal)."""
    if law not in BIAS_LAWS:
        raise ValueError(f"bias law must be one of {BIAS_LAWS}, got {law!r}")
    out = {}
    for k, lim in SENSOR_BIAS_LIMITS.items():
        u = float(rng.uniform(-lim, lim))
        if law == "normal":
            q = min(max(0.5 * (u / lim + 1.0), 1e-12), 1.0 - 1e-12)
            u = NormalDist().inv_cdf(q) * lim / math.sqrt(3.0)
        out[k] = round(u, 6)
    return out


def _kepler_time(range_m: float, apogee_m: float) -> float:
    """Flight time of the vacuum Kepler arc from the surface with this range and
    apogee (spherical Earth), s."""
    r0 = WGS84_A
    ra = r0 + apogee_m
    c = math.cos(0.5 * range_m / r0)
    e = (ra - r0) / (ra - r0 * c)
    a = ra / (1.0 + e)
    nu = math.pi - 0.5 * range_m / r0  # true anomaly of the launch point (from periapsis)
    ecc = 2.0 * math.atan(math.sqrt((1.0 - e) / (1.0 + e)) * math.tan(0.5 * nu))
    mean = ecc - e * math.sin(ecc)
    return 2.0 * (math.pi - mean) / math.sqrt(GM / a**3)


def random_launch(
    flight_class: str, rng: np.random.Generator, *, launch_id: str = "M1", time_s: float = 30.0
) -> tuple[dict[str, Any], float]:
    """One launch of ``flight_class`` as a scenario ``launches`` entry, and the
    flight time to allow for it (s, generous)."""
    if flight_class not in FLIGHT_CLASSES:
        raise ValueError(f"unknown flight class {flight_class!r}; known: {', '.join(FLIGHT_CLASSES)}")
    lo, hi = _AZIMUTHS[flight_class]
    az = round(float(rng.uniform(lo, hi)), 3)
    if flight_class == "SLV":
        lat, lon = SOHAE
        orbit = round(float(rng.uniform(450.0, 550.0)), 1)
        slv: dict[str, Any] = {
            "id": launch_id,
            "class": "SLV",
            "site": {"lat": lat, "lon": lon},
            "azimuth_deg": az,
            "time_s": time_s,
            "orbit_km": orbit,
        }
        return slv, 1_200.0
    names = sorted(LAUNCH_AREAS)
    lat0, lon0 = LAUNCH_AREAS[names[int(rng.integers(len(names)))]]
    lat = round(lat0 + float(rng.uniform(-0.2, 0.2)), 4)
    lon = round(lon0 + float(rng.uniform(-0.2, 0.2)), 4)
    la: dict[str, Any] = {
        "id": launch_id,
        "site": {"lat": lat, "lon": lon},
        "azimuth_deg": az,
        "time_s": time_s,
    }
    if flight_class.startswith("SRBM"):
        depressed = flight_class != "SRBM"
        rng_km = float(rng.uniform(300.0, 700.0) if depressed else rng.uniform(250.0, 800.0))
        apo_m = depressed_apogee_m(rng_km * 1e3) if depressed else min_energy_apogee_m(rng_km * 1e3)
        if not depressed:
            apo_m *= float(rng.uniform(0.75, 1.25))
        la |= {"class": "SRBM", "range_km": round(rng_km, 1), "apogee_km": round(apo_m / 1e3, 2)}
        if flight_class == "SRBM-pullup":
            la["manoeuvre"] = {
                "type": "pull-up",
                "pullup_alt_km": round(float(rng.uniform(30.0, 40.0)), 1),
                "dive_alt_km": round(float(rng.uniform(15.0, 25.0)), 1),
                "lift_to_drag": round(float(rng.uniform(1.5, 2.5)), 2),
            }
    elif flight_class in ("MRBM", "IRBM"):
        rng_km = float(rng.uniform(1000.0, 1500.0) if flight_class == "MRBM" else rng.uniform(2500.0, 4500.0))
        apo_m = min_energy_apogee_m(rng_km * 1e3) * float(rng.uniform(0.75, 1.25))
        la |= {
            "class": flight_class,
            "range_km": round(rng_km, 1),
            "apogee_km": round(apo_m / 1e3, 2),
            "stages": [{}],  # the re-entry vehicle separates; the spent missile falls too
        }
    else:  # ICBM-lofted
        rng_km = float(rng.uniform(900.0, 1100.0))
        apo_km = float(rng.uniform(4000.0, 7700.0))
        la |= {
            "class": "ICBM-lofted",
            "range_km": round(rng_km, 1),
            "apogee_km": round(apo_km, 1),
            "stages": [{}, {}],
        }
        apo_m = apo_km * 1e3
    t = _kepler_time(rng_km * 1e3, apo_m)
    if flight_class == "SRBM-pullup":
        t *= 2.0  # the glide stretches the flight
    return la, 1.3 * t + 300.0


def random_partners(
    rng: np.random.Generator,
    *,
    n_sensors: tuple[int, int] = (2, 6),
    max_latency_s: float = 2.0,
    max_jitter_s: float = 1.0,
    max_loss: float = 0.05,
) -> list[dict[str, Any]]:
    """A random subset of :data:`SENSOR_POOL` (between ``n_sensors`` sensors,
    always at least one radar) grouped by partner, each partner's link with
    latency, jitter and loss drawn uniformly up to the maxima."""
    lo, hi = n_sensors
    if not 1 <= lo <= hi <= len(SENSOR_POOL):
        raise ValueError(f"n_sensors must be within 1..{len(SENSOR_POOL)}, low <= high")
    k = int(rng.integers(lo, hi + 1))
    while True:
        pick = sorted(int(i) for i in rng.choice(len(SENSOR_POOL), size=k, replace=False))
        if any(SENSOR_POOL[i][1]["type"] == "radar" for i in pick):
            break
    by: dict[str, list[dict[str, Any]]] = {}
    for i in pick:
        code, sensor = SENSOR_POOL[i]
        by.setdefault(code, []).append(dict(sensor))
    return [
        {
            "code": code,
            "link": {
                "latency_s": round(float(rng.uniform(0.0, max_latency_s)), 3),
                "jitter_s": round(float(rng.uniform(0.0, max_jitter_s)), 3),
                "loss": round(float(rng.uniform(0.0, max_loss)), 4),
            },
            "sensors": sensors,
        }
        for code, sensors in sorted(by.items())
    ]


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def random_scenario(
    seed: int,
    flight_class: str,
    *,
    index: int = 0,
    n_sensors: tuple[int, int] = (2, 6),
    max_latency_s: float = 2.0,
    max_jitter_s: float = 1.0,
    max_loss: float = 0.05,
    sensor_bias: bool = True,
    bias_law: str = "uniform",
) -> Scenario:
    """One scenario: a ``flight_class`` launch and random sensors and links,
    all drawn from ``default_rng([seed, index])`` (the simulator's own seed is
    derived from the same pair, so its draws differ per scenario too).
    ``sensor_bias``: every radar has a registration bias drawn by
    :func:`random_sensor_bias` from ``default_rng([seed, index, 0xB1A5])``
    (False: none; everything else the same), by ``bias_law`` (:data:`BIAS_LAWS`)."""
    rng = np.random.default_rng([seed, index])
    launch, flight_s = random_launch(flight_class, rng)
    partners = random_partners(
        rng, n_sensors=n_sensors, max_latency_s=max_latency_s, max_jitter_s=max_jitter_s, max_loss=max_loss
    )
    if sensor_bias:
        brng = np.random.default_rng([seed, index, _BIAS_STREAM])
        for partner in partners:
            for sensor in partner["sensors"]:
                if sensor["type"] == "radar":
                    sensor["bias"] = random_sensor_bias(brng, bias_law)
    start = _EPOCH + timedelta(hours=float(rng.integers(0, 24 * 365)))
    data = {
        "name": f"Monte Carlo {flight_class} #{index} (seed {seed})",
        "seed": int(rng.integers(0, 2**62)),
        "start": start.isoformat(),
        "duration_s": round(min(launch["time_s"] + flight_s, 86_000.0), 1),
        "tags": [flight_class],
        # the truth flies a day's air, never exactly the tracker's standard
        "atmosphere": "drawn",
        "launches": [launch],
        "partners": partners,
    }
    return scenario_from_data(data, f"<monte-carlo seed {seed} #{index} {flight_class}>")


def monte_carlo(
    seed: int, n: int, classes: tuple[str, ...] = FLIGHT_CLASSES, **kwargs: Any
) -> Iterator[Scenario]:
    """``n`` scenarios from :func:`random_scenario`, cycling through ``classes``
    (scenario ``i`` has class ``classes[i % len(classes)]``)."""
    for i in range(n):
        yield random_scenario(seed, classes[i % len(classes)], index=i, **kwargs)
