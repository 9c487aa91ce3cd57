"""Fuzz every input path of tocsin (issue 14 item 3): prints JSON, exit 1 on a crash.

::

    .venv/bin/python benchmarks/fuzz.py                    # 1,000,000 inputs (minutes)
    .venv/bin/python benchmarks/fuzz.py --inputs 20000     # a quick look
    .venv/bin/python benchmarks/fuzz.py --targets wire-json,ingress --seed 7

A seeded mutation fuzzer (no coverage guidance: reproducible from ``--seed``
alone, and no native dependency). For each target a corpus of valid inputs
(messages of every kind in JSON and MessagePack, signed and unsigned, shipped
scenarios, a policy, a live authorisation, a registry, an operator file, CAP
documents) is mutated by 1-4 of: bit flips, random bytes, deletions,
duplications, splices with other seeds, "interesting" tokens (huge and
negative numbers, ``2**64``, ``1e999``, NaN, long strings, NUL, bad UTF-8, YAML
anchors/aliases, XML entities), wrapping a span in up to 3,000 brackets, and
replacing a JSON field's value (numbers at the edges of every range, deep
nests, wrong types).

A **crash** is any exception a target does not document (decoders raise
``WireError``; ingress and the CAP validator never raise; file loaders raise
``InputError`` or ``ConfigError``) — RecursionError, MemoryError, TypeError,
... — or a call slower than ``--slow-s`` (a hang; reported as ``slow``).

Targets and their share of ``--inputs``:

==============  =====  =========================================================
wire-json       38 %   ``tocsin.wire.decode_json``
wire-msgpack    18 %   ``tocsin.wire.decode_msgpack``
ingress         30 %   ``Ingress.check_bytes`` with a registry (JSON and MessagePack)
jsonl            4 %   ``tocsin.wire.iter_jsonl`` (message files, ``--tail``)
scenario         2 %   ``tocsin.drill.scenario.parse_scenario``
policy         1.5 %   ``tocsin.warning.policy.load_config`` (TOML and YAML files)
live           0.5 %   ``load_live_authorisation``
registry       1.5 %   ``PartnerRegistry.load`` (YAML and JSON files)
operators        1 %   ``tocsin.web.auth.OperatorStore`` (the accounts file)
cap              2 %   ``tocsin.warning.cap.validate_cap`` (``tocsin cap validate``)
==============  =====  =========================================================

(The file loaders are 100-1,000 times slower per input than the decoders: a
file is written and parsed for each; their shares keep a 10**6 run to minutes.)

Output: ``inputs``, ``seconds``, ``inputs_per_s``, ``crashes``, ``slow`` and per
target the same with up to five examples (the exception and the input's first
bytes, base64). CI runs a small seeded slice (tests/security/test_security_fuzz.py).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SHARES = {
    "wire-json": 0.38,
    "wire-msgpack": 0.18,
    "ingress": 0.30,
    "jsonl": 0.04,
    "scenario": 0.02,
    "policy": 0.015,
    "live": 0.005,
    "registry": 0.015,
    "operators": 0.01,
    "cap": 0.02,
}

INTERESTING = [
    b"[", b"]", b"{", b"}", b'"', b"\\", b",", b":", b"\x00", b"\xff", b"\xc0\x80", b"\xed\xa0\x80",
    b"-0", b"0e", b"1e999", b"-1e999", b"NaN", b"Infinity", b"1e-400", b"9007199254740993",
    b"18446744073709551616", b"-9223372036854775809", b"340282366920938463463374607431768211456",
    b"true", b"null", b'"\\ud800"', b'"\\u0000"', b"9" * 400, b"a" * 5000, b"\n", b"\r\n",
    b"&a", b"*a", b"&a [*a,*a,*a,*a,*a,*a,*a,*a,*a]", b"!!python/object:os.system", b"<<: *a",
    b"<!ENTITY x SYSTEM 'file:///etc/passwd'>", b"&x;", b"<![CDATA[", b"]]>", b"<?xml", b"\t",
    b"\x91", b"\xdd\xff\xff\xff\xff", b"\xdf\x00\x00\x00\x10", b"\xc1", b"\xd9\xff", b"\xcb",
]  # fmt: skip
VALUES: list[Any] = [
    0, -1, 1, 2**31, 2**53, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1e308, -1e308, 1e-320,
    0.5, -0.0, "", "x" * 10_000, "\u0000", "\ud7ff", None, True, [], {}, [[[]]], {"a": {"b": {}}},
    "JP", "ZZ", "JP-R1", "plot", "bundle", "truth", "alert", 1_789_430_400.0, 1e11 + 1,
]  # fmt: skip


# ---------------------------------------------------------------- corpus


def _messages() -> list[Any]:
    """One envelope of every kind (as objects)."""
    from tocsin.exchange.samples import sample_heartbeat, sample_plot
    from tocsin.wire import (
        AlertBody,
        Ellipse,
        ImpactPrediction,
        LaunchEstimate,
        PlatformPos,
        PlotBody,
        SensorBody,
        TrackBody,
        TruthBody,
        make,
    )

    t = 1_789_430_400.0
    track = TrackBody(
        id="T-1", t=t, state_ecef=[-3.9e6, 3.4e6, 3.7e6, 1e3, 2e3, 1e3],
        cov=[100.0 if i % 7 == 0 else 0.0 for i in range(36)], status="confirmed", class_="ballistic",
        sources=["JP-R1"], partners=["JP"], launch=LaunchEstimate(t=t - 60, lat=39.0, lon=125.0, sigma_m=500),
        impact=ImpactPrediction(t=t + 300, lat=40.0, lon=139.0, sigma_t_s=5,
                                ellipse=Ellipse(semi_major_m=5e3, semi_minor_m=2e3, bearing_deg=80)),
        phase="ballistic", quality=0.9, path=[[39.5, 130.0, t + 10], [40.0, 139.0, t + 300]],
    )  # fmt: skip
    return [
        sample_plot(seq=1, sent=t),
        make("plot", PlotBody(sensor="JP-S1", t=t, observer_ecef=[4e7, 0.0, 0.0], los_ecef=[-1.0, 0.0, 0.0],
                              sigma_los_rad=1e-4), partner="JP", source="JP-S1", seq=2, sent=t),
        make("plot", PlotBody(sensor="JP-R3", t=t, range_m=5e5, az_deg=10, el_deg=5,
                              platform=PlatformPos(lat=39, lon=134)),
             partner="JP", source="JP-R3", seq=3, sent=t),
        make("sensor", SensorBody(id="JP-R1", type="radar", platform="ground", lat=38, lon=138,
                                  max_range_m=1.5e6), partner="JP", source="JP-R1", seq=0, sent=t),
        make("track", track, partner="JP", source="JP-C2", seq=4, sent=t),
        sample_heartbeat(),
        make("alert", AlertBody(id="A-1", t=t, msg_type="Alert", status="Exercise", tracks=["T-1"],
                                areas=["JP-01"], cap="<alert/>"), partner="JP", source="w", seq=5, sent=t),
        make("truth", TruthBody(object="M-1", t=t, phase="impact", class_="ballistic", lat=40, lon=139),
             partner="JP", source="sim", seq=6, sent=t),
    ]  # fmt: skip


@dataclass
class Corpus:
    json_msgs: list[bytes]
    mp_msgs: list[bytes]
    signed_json: list[bytes]
    signed_mp: list[bytes]
    scenarios: list[bytes]
    policies: list[tuple[str, bytes]]
    lives: list[bytes]
    registries: list[tuple[str, bytes]]
    operators: list[bytes]
    caps: list[bytes]
    registry: Any = None


def build_corpus() -> Corpus:
    import msgspec

    from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, public_key_text, sign
    from tocsin.wire import BundleBody, encode_json, encode_msgpack, make

    msgs = _messages()
    jp = generate_key()  # (a fresh key: signatures need only be valid within this run)
    signed = [sign(m, jp) for m in msgs]
    bundle = sign(
        make("bundle", BundleBody(messages=[msgspec.Raw(encode_json(m)) for m in msgs[:3]]),
             partner="JP", source="JP-B", seq=9, sent=msgs[0].sent),
        jp,
    )  # fmt: skip
    reg = PartnerRegistry(
        {"JP": PartnerPolicy("JP", jp.public_key(), ("JP-*",), ("plot", "sensor", "track"))}
    )
    # the smallest shipped scenarios (parsing cost grows with size; mutations do not need more)
    scen = sorted((p.read_bytes() for p in (ROOT / "scenarios").rglob("*.yaml")), key=len)[:3]
    pub = public_key_text(jp)
    policies = [
        ("toml", b'sender = "w@jp.example"\noperators = ["a", "b"]\n[thresholds]\nmin_quality = 0.6\n'
                 b'trusted_track_partners = ["US"]\n[[releases]]\npartner = "JP"\ncountries = ["JP"]\n'
                 b"[lifecycle]\nmin_update_interval_s = 10\n"),
        ("yaml", b"sender: w@jp.example\nthresholds: {min_quality: 0.7}\nreleases:\n"
                 b"  - {partner: JP, countries: [JP]}\n"
                 b"  - {partner: KR, countries: [KR], international: false}\n"),
    ]  # fmt: skip
    lives = [b'live = true\nauthorised_by = "Director"\nreference = "order 1"\nsender = "w@jp.example"\n']
    registries = [
        ("yaml",
         f"partners:\n  JP: {{public_key: '{pub}', sources: ['JP-*'], kinds: [plot, sensor]}}\n".encode()),
        ("json", json.dumps({"partners": {"JP": {"public_key": pub}, "KR": {"public_key": pub}}}).encode()),
    ]  # fmt: skip
    operators = [
        json.dumps(
            {"format": "tocsin-operators-1", "operators": {"alice": {
                "role": "operator", "kdf": "scrypt", "n": 2, "r": 1, "p": 1,
                "salt": base64.b64encode(b"s" * 16).decode(), "hash": base64.b64encode(b"h" * 32).decode(),
                "created": 1.0}}}
        ).encode()
    ]  # fmt: skip
    cap = _cap_document()
    doctype = b'<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY y "yy">]>\n'
    caps = [
        cap,
        cap.replace(b"<alert ", doctype + b"<alert ").replace(b"T-1</incidents>", b"&x;&y;</incidents>"),
    ]
    return Corpus(
        json_msgs=[encode_json(m) for m in msgs],
        mp_msgs=[encode_msgpack(m) for m in msgs],
        signed_json=[encode_json(m) for m in [*signed, bundle]],
        signed_mp=[encode_msgpack(m) for m in signed],
        scenarios=scen,
        policies=policies,
        lives=lives,
        registries=registries,
        operators=operators,
        caps=caps,
        registry=reg,
    )


def _cap_document() -> bytes:
    """A CAP 1.2 document of the shape the warning engine writes."""
    return """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<identifier>JP.T-1.1.0</identifier><sender>warning@jp.tocsin.example</sender>
<sent>2026-09-14T00:00:00-00:00</sent><status>Exercise</status><msgType>Update</msgType>
<source>tocsin warning engine</source><scope>Public</scope>
<note>EXERCISE - EXERCISE - EXERCISE. This is a drill message, not a real alert.</note>
<references>warning@jp.tocsin.example,JP.T-1.0.0,2026-09-13T23:59:00-00:00</references>
<incidents>T-1</incidents>
<info><language>ja-JP</language><category>Security</category><event>ミサイル発射情報</event>
<responseType>Shelter</responseType><urgency>Immediate</urgency><severity>Extreme</severity>
<certainty>Likely</certainty><onset>2026-09-14T00:01:00-00:00</onset>
<expires>2026-09-14T00:31:00-00:00</expires><senderName>tocsin</senderName>
<headline>【訓練】ミサイル通過</headline><description>北海道</description><instruction>避難</instruction>
<area><areaDesc>北海道</areaDesc><polygon>43.0,141.0 43.5,141.5 43.0,142.0 43.0,141.0</polygon>
<geocode><valueName>ISO3166-2</valueName><value>JP-01</value></geocode></area></info>
</alert>
""".encode()


# ---------------------------------------------------------------- mutation


def mutate(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """1-4 random mutations of ``data`` (module doc)."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(11)
        n = len(b)
        if op == 0 and n:  # flip a bit
            i = rnd.randrange(n)
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and n:  # random byte
            b[rnd.randrange(n)] = rnd.randrange(256)
        elif op == 2:  # insert random bytes
            i = rnd.randint(0, n)
            b[i:i] = rnd.randbytes(rnd.randint(1, 8))
        elif op == 3 and n:  # delete a range
            i = rnd.randrange(n)
            del b[i : i + rnd.randint(1, 32)]
        elif op == 4 and n:  # duplicate a range
            i = rnd.randrange(n)
            j = min(n, i + rnd.randint(1, 64))
            b[j:j] = b[i:j] * rnd.randint(1, 4)
        elif op == 5:  # splice with another seed
            other = rnd.choice(pool)
            i, j = rnd.randint(0, n), rnd.randint(0, len(other))
            b = b[:i] + other[j:]
        elif op in (6, 7):  # an interesting token
            i = rnd.randint(0, n)
            b[i:i] = rnd.choice(INTERESTING)
        elif op == 8 and n:  # wrap a span in brackets, deep
            i = rnd.randrange(n)
            j = rnd.randint(i, n)
            k = rnd.choice((1, 2, 10, 31, 32, 33, 100, 1000, 3000))
            o, c = rnd.choice(
                ((b"[", b"]"), (b'{"a":', b"}"), (b"\x91", b""), (b"- ", b""), (b"<a>", b"</a>"))
            )
            b = b[:i] + o * k + b[i:j] + c * k + b[j:]
        elif op == 9:  # truncate
            b = b[: rnd.randint(0, n)]
        else:  # replace a JSON value
            b = bytearray(_replace_value(rnd, bytes(b)))
    return bytes(b)


def _replace_value(rnd: random.Random, data: bytes) -> bytes:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return data
    paths: list[tuple[Any, Any]] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k in v:
                paths.append((v, k))
                walk(v[k])
        elif isinstance(v, list):
            for i in range(len(v)):
                paths.append((v, i))
                walk(v[i])

    walk(doc)
    if not paths:
        return data
    parent, key = rnd.choice(paths)
    parent[key] = rnd.choice(VALUES)
    if rnd.random() < 0.1 and isinstance(parent, dict):
        parent[rnd.choice(["extra", "sig", "v", "kind", "body"])] = rnd.choice(VALUES)
    try:
        return json.dumps(doc, allow_nan=True).encode()
    except (ValueError, TypeError):
        return data


# ---------------------------------------------------------------- targets


@dataclass
class Result:
    inputs: int = 0
    seconds: float = 0.0
    crashes: int = 0
    slow: int = 0
    slowest_ms: float = 0.0
    examples: list[dict[str, str]] = field(default_factory=list)


def _targets(
    corpus: Corpus, tmp: Path
) -> dict[str, tuple[list[bytes], Callable[[bytes], object], tuple[type, ...]]]:
    from tocsin.drill.scenario import parse_scenario
    from tocsin.errors import ConfigError, InputError
    from tocsin.exchange.ingress import Ingress
    from tocsin.exchange.signing import PartnerRegistry
    from tocsin.warning.cap import validate_cap
    from tocsin.warning.policy import load_config, load_live_authorisation
    from tocsin.web.auth import OperatorStore
    from tocsin.wire import decode_json, decode_msgpack, iter_jsonl

    ing = Ingress(corpus.registry, max_skew_s=None, max_sources=4096)

    def ingress(data: bytes) -> object:
        if len(ing.windows) > 4000:
            ing.windows.clear()
        fmt = "msgpack" if data[:1] and (0x80 <= data[0] <= 0x8F or data[0] in (0xDE, 0xDF)) else "json"
        return ing.check_bytes(data, fmt=fmt)

    def jsonl(data: bytes) -> object:
        return sum(1 for _ in iter_jsonl(io.BytesIO(data)))

    def scenario(data: bytes) -> object:
        return parse_scenario(data.decode("utf-8", "replace"), "fuzz.yaml")

    def file_target(name: str, load: Callable[[Path], object]) -> Callable[[bytes], object]:
        def run(data: bytes) -> object:
            suffix, _, body = data.partition(b"\n")
            ext = "".join(c for c in suffix.decode("ascii", "replace")[:8] if c.isalpha()) or "yaml"
            p = tmp / f"{name}.{ext}"  # (the mutated suffix picks the parser: .toml, .json, else YAML)
            p.write_bytes(body)
            return load(p)

        return run

    tagged = {
        "policy": [s.encode() + b"\n" + d for s, d in corpus.policies],
        "registry": [s.encode() + b"\n" + d for s, d in corpus.registries],
        "live": [b"toml\n" + d for d in corpus.lives],
        "operators": [b"json\n" + d for d in corpus.operators],
    }
    files = (InputError, ConfigError)
    return {
        "wire-json": (corpus.json_msgs + corpus.signed_json, decode_json, (InputError,)),
        "wire-msgpack": (corpus.mp_msgs + corpus.signed_mp, decode_msgpack, (InputError,)),
        "ingress": (corpus.signed_json + corpus.signed_mp, ingress, ()),
        "jsonl": ([b"\n".join(corpus.json_msgs)], jsonl, ()),
        "scenario": (corpus.scenarios, scenario, (InputError,)),
        "policy": (tagged["policy"], file_target("policy", load_config), files),
        "live": (tagged["live"], file_target("live", load_live_authorisation), files),
        "registry": (tagged["registry"], file_target("registry", PartnerRegistry.load), files),
        "operators": (tagged["operators"], file_target("operators", OperatorStore), files),
        "cap": (corpus.caps, validate_cap, ()),
    }


def run(inputs: int, seed: int = 1, targets: list[str] | None = None, slow_s: float = 2.0) -> dict[str, Any]:
    """Fuzz ``inputs`` inputs split over ``targets`` (module doc); the report."""
    names = targets or list(SHARES)
    unknown = [n for n in names if n not in SHARES]
    if unknown:
        raise SystemExit(f"fuzz.py: unknown target(s) {unknown}; known: {', '.join(SHARES)}")
    total_share = sum(SHARES[n] for n in names)
    corpus = build_corpus()
    results: dict[str, Result] = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tocsin-fuzz-") as d:
        tmp = Path(d)
        table = _targets(corpus, tmp)
        for name in names:
            seeds, fn, allowed = table[name]
            n = max(1, round(inputs * SHARES[name] / total_share))
            rnd = random.Random(f"{seed}:{name}")
            res = results[name] = Result()
            t0 = time.perf_counter()
            for i in range(n):
                data = rnd.choice(seeds) if i < len(seeds) else mutate(rnd, rnd.choice(seeds), seeds)
                c0 = time.perf_counter()
                try:
                    fn(data)
                except allowed:
                    pass
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    res.crashes += 1
                    if len(res.examples) < 5:
                        res.examples.append(_example(data, exc))
                dt = time.perf_counter() - c0
                res.slowest_ms = max(res.slowest_ms, dt * 1000)
                if dt > slow_s:
                    res.slow += 1
                    if len(res.examples) < 5:
                        res.examples.append({"slow_s": f"{dt:.2f}", "input_b64": _b64(data)})
            res.inputs = n
            res.seconds = time.perf_counter() - t0
    secs = time.perf_counter() - t_start
    n_all = sum(r.inputs for r in results.values())
    return {
        "seed": seed,
        "inputs": n_all,
        "seconds": round(secs, 1),
        "inputs_per_s": round(n_all / secs) if secs > 0 else None,
        "crashes": sum(r.crashes for r in results.values()),
        "slow": sum(r.slow for r in results.values()),
        "slow_limit_s": slow_s,
        "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "targets": {
            k: {
                "inputs": r.inputs,
                "inputs_per_s": round(r.inputs / r.seconds) if r.seconds > 0 else None,
                "crashes": r.crashes,
                "slow": r.slow,
                "slowest_ms": round(r.slowest_ms, 1),
                **({"examples": r.examples} if r.examples else {}),
            }
            for k, r in results.items()
        },
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data[:300]).decode()


def _example(data: bytes, exc: BaseException) -> dict[str, str]:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    return {"error": f"{type(exc).__name__}: {str(exc)[:200]}", "where": where, "input_b64": _b64(data)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=1_000_000, help="total inputs (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--targets", default="", help=f"comma list of {', '.join(SHARES)} (default: all)")
    ap.add_argument("--slow-s", type=float, default=2.0, help="a call slower than this is reported (hang)")
    a = ap.parse_args()
    targets = [t.strip() for t in a.targets.split(",") if t.strip()] or None
    report = run(a.inputs, a.seed, targets, a.slow_s)
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["crashes"] else 0)


if __name__ == "__main__":
    main()
