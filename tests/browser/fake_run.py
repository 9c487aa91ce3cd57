"""A small, deterministic drill output directory for the dashboard tests: two
sensors, one ballistic track over the Sea of Japan (launch estimate, shrinking
impact ellipse, predicted ground path), one aircraft, and an Exercise alert
that is updated and then cancelled, each with a three-language CAP document."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tocsin.geo import geodetic_to_ecef
from tocsin.wire import AlertBody, Envelope, HeartbeatBody, SensorBody, TrackBody, make, write_jsonl
from tocsin.wire.messages import Ellipse, ImpactPrediction, LaunchEstimate

T0 = 1_789_430_400.0
LAUNCH = (39.0, 125.7)
IMPACT = (41.2, 146.5)
FLIGHT_S = 600.0

CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<identifier>{id}</identifier><sender>tocsin-test</sender><sent>2026-09-15T00:00:00-00:00</sent>
<status>Exercise</status><msgType>{msg_type}</msgType><scope>Public</scope>
<info><language>ja-JP</language><category>Safety</category><event>ミサイル発射（訓練）</event>
<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Likely</certainty>
<headline>【訓練】ミサイル発射。ミサイル発射。</headline>
<description>【訓練】北朝鮮からミサイルが発射されたものとみられます。</description>
<instruction>頑丈な建物や地下に避難してください。これは訓練です。</instruction>
<area><areaDesc>北海道</areaDesc></area></info>
<info><language>ko-KR</language><category>Safety</category><event>미사일 발사 (훈련)</event>
<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Likely</certainty>
<headline>[훈련] 미사일 발사</headline>
<description>[훈련] 북한에서 미사일이 발사된 것으로 보입니다.</description>
<instruction>튼튼한 건물이나 지하로 대피하십시오. 이것은 훈련입니다.</instruction>
<area><areaDesc>홋카이도</areaDesc></area></info>
<info><language>en-US</language><category>Safety</category><event>Missile launch (exercise)</event>
<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Likely</certainty>
<headline>[EXERCISE] Missile launch</headline>
<description>[EXERCISE] A missile appears to have been launched from North Korea.</description>
<instruction>Take shelter in a sturdy building or underground. This is not a real alert.</instruction>
<area><areaDesc>Hokkaido</areaDesc></area></info>
</alert>"""


def _ballistic(s: float) -> tuple[float, float, float]:
    """Position at flight fraction s in [0, 1]: lat/lon linear, 550 km apogee."""
    lat = LAUNCH[0] + (IMPACT[0] - LAUNCH[0]) * s
    lon = LAUNCH[1] + (IMPACT[1] - LAUNCH[1]) * s
    return lat, lon, 4 * 550_000.0 * s * (1 - s)


def _state(pos: tuple[float, float, float], nxt: tuple[float, float, float], dt: float) -> list[float]:
    a = geodetic_to_ecef(*pos)
    b = geodetic_to_ecef(*nxt)
    return [float(x) for x in np.concatenate([a, (b - a) / dt])]


COV = [1.0e4 if i % 7 == 0 else 0.0 for i in range(36)]


def messages() -> list[Envelope]:
    out: list[Envelope] = []
    seq = {"s": 0}

    def env(kind: str, body: object, t: float, source: str = "fusion") -> Envelope:
        seq["s"] += 1
        return make(kind, body, partner="XX", source=source, seq=seq["s"], sent=t)  # type: ignore[arg-type]

    out.append(
        make("sensor", SensorBody(id="JP-R1", type="radar", platform="ground", lat=38.05, lon=138.3,
             max_range_m=1.0e6), partner="JP", source="JP-R1", seq=0, sent=T0)
    )  # fmt: skip
    out.append(
        make("sensor", SensorBody(id="KR-R1", type="radar", platform="ground", lat=37.45, lon=129.1,
             max_range_m=8.0e5), partner="KR", source="KR-R1", seq=0, sent=T0)
    )  # fmt: skip
    n = 61
    for i in range(n):
        s = i / (n - 1) * 0.98 + 0.01
        t = T0 + s * FLIGHT_S
        pos = _ballistic(s)
        nxt = _ballistic(min(s + 0.001, 1.0))
        kw: dict[str, object] = {}
        if i >= 4:
            kw["launch"] = LaunchEstimate(t=T0, lat=LAUNCH[0], lon=LAUNCH[1], sigma_m=5000.0)
        if i >= 6:
            semi = 200_000.0 * math.exp(-i / 12) + 8_000.0  # firms up
            kw["impact"] = ImpactPrediction(
                t=T0 + FLIGHT_S, lat=IMPACT[0], lon=IMPACT[1], sigma_t_s=10.0,
                ellipse=Ellipse(semi_major_m=semi, semi_minor_m=semi / 3, bearing_deg=80.0),
            )  # fmt: skip
            ahead = [_ballistic(float(x)) for x in np.linspace(s, 1.0, 12)]
            kw["path"] = [
                [p[0], p[1], float(T0 + x * FLIGHT_S)]
                for p, x in zip(ahead, np.linspace(s, 1, 12), strict=True)
            ]
        body = TrackBody(
            id="F-1", t=t, state_ecef=_state(pos, nxt, 0.001 * FLIGHT_S), cov=COV,
            status="confirmed" if i >= 2 else "tentative", class_="ballistic" if i >= 3 else "unknown",
            sources=["JP-R1", "KR-R1"], partners=["JP", "KR"], **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        out.append(env("track", body, t))
        if i % 3 == 0:
            lat, lon = 36.0 + i * 0.01, 130.0 + i * 0.03
            a = geodetic_to_ecef(lat, lon, 9000.0)
            b = geodetic_to_ecef(lat + 0.01, lon + 0.03, 9000.0)
            st = [float(x) for x in np.concatenate([a, (b - a) / 30.0])]
            air = TrackBody(
                id="A-7", t=t, state_ecef=st, cov=COV, status="confirmed", class_="air",
                sources=["KR-R1"], partners=["KR"],
            )  # fmt: skip
            out.append(env("track", air, t))
    alerts = [
        ("JP.F-1.1.1", "Alert", T0 + 120.0, ["JP-01", "JP-02"], []),
        ("JP.F-1.1.2", "Update", T0 + 300.0, ["JP-01"], ["JP.F-1.1.1"]),
        ("JP.F-1.1.3", "Cancel", T0 + 620.0, ["JP-01"], ["JP.F-1.1.2"]),
    ]
    for aid, mt, t, areas, refs in alerts:
        body = AlertBody(
            id=aid, t=t, msg_type=mt, status="Exercise", tracks=["F-1"], areas=areas,  # type: ignore[arg-type]
            onset=t, expires=t + 1800, references=refs, cap=CAP.format(id=aid, msg_type=mt),
        )  # fmt: skip
        out.append(env("alert", body, t, source="warning"))
    return out


#: the KR node's link is down from T0+250 to T0+350
KR_OUTAGE = (250.0, 350.0)


def heartbeats() -> list[Envelope]:
    """JP and KR node heartbeats every 5 s from T0 to T0+620, none from KR during
    its outage."""
    out = []
    for i, rel in enumerate(range(0, 621, 5)):
        for code in ("JP", "KR"):
            if code == "KR" and KR_OUTAGE[0] <= rel < KR_OUTAGE[1]:
                continue
            node = f"{code}-node"
            hb = HeartbeatBody(node=node, t=T0 + rel)
            out.append(make("heartbeat", hb, partner=code, source=node, seq=i + 1, sent=T0 + rel + 0.2))
    return out


def write_fake_run(directory: Path) -> Path:
    """plots.jsonl (sensor descriptors, node heartbeats), tracks.jsonl, alerts.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    msgs = messages()
    write_jsonl(directory / "plots.jsonl", [m for m in msgs if m.kind == "sensor"] + heartbeats())
    write_jsonl(directory / "tracks.jsonl", [m for m in msgs if m.kind == "track"])
    write_jsonl(directory / "alerts.jsonl", [m for m in msgs if m.kind == "alert"])
    return directory
