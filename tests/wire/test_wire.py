"""Exchange format v1: codecs, validation errors that name the field, and the
JSON Lines stream that never stops on a bad line."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.errors import WireError
from tocsin.wire import (
    AlertBody,
    DuplicateName,
    Ellipse,
    Envelope,
    HeartbeatBody,
    ImpactPoint,
    ImpactPrediction,
    JsonlWriter,
    LaunchEstimate,
    PlotBody,
    ReadStats,
    SensorBody,
    SourceStat,
    TrackBody,
    TruthBody,
    UnknownKind,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
    iter_jsonl,
    make,
    read_jsonl,
    signing_bytes,
    write_jsonl,
)

T0 = 1789430400.0

# Examples straight from the published contract (shared/exchange-format.md).
CONTRACT_EXAMPLES = [
    {
        "v": 1,
        "kind": "sensor",
        "partner": "JP",
        "source": "JP-R1",
        "seq": 1,
        "sent": T0,
        "body": {
            "id": "JP-R1",
            "type": "radar",
            "platform": "ground",
            "lat": 38.1,
            "lon": 138.4,
            "alt_m": 120.0,
            "sigma_range_m": 30.0,
            "sigma_az_deg": 0.05,
            "sigma_el_deg": 0.05,
            "sigma_rr_mps": 2.0,
            "max_range_m": 1.0e6,
            "scan_period_s": 1.0,
        },
    },
    {
        "v": 1,
        "kind": "plot",
        "partner": "JP",
        "source": "JP-R1",
        "seq": 42,
        "sent": 1789430400.125,
        "body": {
            "sensor": "JP-R1",
            "t": 1789430399.9,
            "range_m": 512345.0,
            "az_deg": 271.5,
            "el_deg": 12.25,
            "rr_mps": -1520.0,
            "sigma_range_m": 30.0,
            "sigma_az_deg": 0.05,
            "sigma_el_deg": 0.05,
            "sigma_rr_mps": 2.0,
            "platform": {"lat": 39.2, "lon": 134.0, "alt_m": 20.0},
        },
    },
    {
        "v": 1,
        "kind": "plot",
        "partner": "US",
        "source": "US-S1",
        "seq": 7,
        "sent": T0,
        "body": {
            "sensor": "US-S1",
            "t": 1789430390.0,
            "observer_ecef": [-2.0e7, 3.5e7, 0.0],
            "los_ecef": [0.6, -0.8, 0.0],
            "sigma_los_rad": 5e-5,
            "intensity": 3.2,
        },
    },
    {
        "v": 1,
        "kind": "track",
        "partner": "JP",
        "source": "tocsin-fusion",
        "seq": 3,
        "sent": T0,
        "body": {
            "id": "F-17",
            "t": T0,
            "state_ecef": [-3.1e6, 4.1e6, 3.9e6, 1000.0, 2000.0, 500.0],
            "cov": [float(i == j) for i in range(6) for j in range(6)],
            "status": "confirmed",
            "class": "ballistic",
            "sources": ["JP-R1", "US-S1"],
            "partners": ["JP", "US"],
            "launch": {"t": T0 - 300, "lat": 39.0, "lon": 125.7, "sigma_m": 2000.0},
            "impact": {
                "t": T0 + 400,
                "lat": 42.0,
                "lon": 150.0,
                "sigma_t_s": 5.0,
                "ellipse": {
                    "semi_major_m": 20000.0,
                    "semi_minor_m": 5000.0,
                    "bearing_deg": 80.0,
                    "confidence": 0.95,
                },
            },
        },
    },
    {
        "v": 1,
        "kind": "alert",
        "partner": "JP",
        "source": "tocsin-warning",
        "seq": 1,
        "sent": T0,
        "body": {
            "id": "A-F-17-1",
            "t": T0,
            "msg_type": "Alert",
            "status": "Exercise",
            "tracks": ["F-17"],
            "areas": ["JP-01", "JP-02", "sea:JP-EEZ-N"],
            "onset": T0 + 300,
            "expires": T0 + 1200,
            "references": [],
            "cap": "<alert/>",
        },
    },
    {
        "v": 1,
        "kind": "heartbeat",
        "partner": "JP",
        "source": "JP-node-1",
        "seq": 9,
        "sent": T0,
        "body": {"node": "JP-node-1", "t": T0, "sources": {"JP-R1": {"last_t": T0 - 1, "plots": 1234}}},
    },
    {
        "v": 1,
        "kind": "truth",
        "partner": "US",
        "source": "drill",
        "seq": 1,
        "sent": T0,
        "body": {
            "object": "M1",
            "t": T0,
            "state_ecef": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "phase": "boost",
            "class": "ballistic",
        },
    },
    {
        "v": 1,
        "kind": "truth",
        "partner": "US",
        "source": "drill",
        "seq": 2,
        "sent": T0,
        "body": {
            "object": "M1",
            "t": T0 + 800,
            "phase": "impact",
            "class": "ballistic",
            "lat": 41.0,
            "lon": 149.5,
        },
    },
]


def _drop_empty_lists(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _drop_empty_lists(v) for k, v in obj.items() if v != []}
    return obj


@pytest.mark.parametrize("msg", CONTRACT_EXAMPLES, ids=lambda m: m["kind"])
def test_contract_examples_round_trip(msg: dict[str, object]) -> None:
    raw = json.dumps(msg).encode()
    env = decode_json(raw)
    assert env.kind == msg["kind"]
    # JSON re-encoding keeps every field the contract names, with its value;
    # only empty lists (e.g. an Alert's `references`) are left out, which readers
    # take as empty (docs/exchange-format.md)
    assert json.loads(encode_json(env)) == _drop_empty_lists(msg)
    assert decode_msgpack(encode_msgpack(env)) == env


def test_track_class_field_is_named_class_on_the_wire() -> None:
    env = decode_json(json.dumps(CONTRACT_EXAMPLES[3]).encode())
    assert isinstance(env.body, TrackBody)
    assert env.body.class_ == "ballistic"
    assert b'"class":"ballistic"' in encode_json(env)


def _bad(msg: dict[str, object], path: list[str | int], value: object) -> bytes:
    m = json.loads(json.dumps(msg))
    node = m
    for p in path[:-1]:
        node = node[p]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(m).encode()


@pytest.mark.parametrize(
    ("idx", "path", "value", "field"),
    [
        (1, ["body", "az_deg"], "west", "$.body.az_deg"),
        (1, ["body", "el_deg"], 95.0, "$.body.el_deg"),
        (1, ["body", "range_m"], -5.0, "$.body.range_m"),
        (1, ["body", "range_m"], KeyError, "$.body.range_m"),
        (1, ["body", "platform", "lat"], 95.0, "$.body.platform.lat"),
        (1, ["body", "sigma_az_deg"], 0.0, "$.body.sigma_az_deg"),
        (1, ["partner"], "Japan", "$.partner"),
        (1, ["seq"], -1, "$.seq"),
        (1, ["v"], 3, "$.v"),
        (2, ["body", "los_ecef"], [1.0, 1.0, 0.0], "$.body.los_ecef"),
        (2, ["body", "los_ecef"], [1.0, 0.0], "$.body.los_ecef"),
        (3, ["body", "cov"], [1.0] * 35, "$.body.cov"),
        (3, ["body", "status"], "vanished", "$.body.status"),
        (3, ["body", "class"], "missile", "$.body.class"),
        (3, ["body", "impact", "ellipse", "confidence"], 1.5, "$.body.impact.ellipse.confidence"),
        (
            3,
            ["body", "impact", "most_likely"],
            {"t": T0, "lat": 95.0, "lon": 0.0},
            "$.body.impact.most_likely.lat",
        ),
        (
            3,
            ["body", "impact", "most_likely"],
            {"t": T0, "lat": 40.0, "lon": 181.0},
            "$.body.impact.most_likely.lon",
        ),
        (
            3,
            ["body", "impact", "most_likely"],
            {"t": -1.0, "lat": 40.0, "lon": 139.0},
            "$.body.impact.most_likely.t",
        ),
        (3, ["body", "impact", "most_likely"], {"lat": 40.0, "lon": 139.0}, "$.body.impact.most_likely.t"),
        (3, ["body", "impact", "most_likely"], [40.0, 139.0], "$.body.impact.most_likely"),
        (
            3,
            ["body", "impact", "most_likely"],
            {"t": T0, "lat": 40.0, "lon": 139.0, "sigma_t_s": -1.0},
            "$.body.impact.most_likely.sigma_t_s",
        ),
        (
            3,
            ["body", "impact", "most_likely"],
            {
                "t": T0,
                "lat": 40.0,
                "lon": 139.0,
                "ellipse": {"semi_major_m": -5.0, "semi_minor_m": 1.0, "bearing_deg": 0.0},
            },
            "$.body.impact.most_likely.ellipse.semi_major_m",
        ),
        (4, ["body", "status"], "Real", "$.body.status"),
        (7, ["body", "lat"], KeyError, "$.body.lat"),
    ],
)
def test_invalid_values_name_the_field(idx: int, path: list[str | int], value: object, field: str) -> None:
    with pytest.raises(WireError) as ei:
        decode_json(_bad(CONTRACT_EXAMPLES[idx], path, value))
    assert ei.value.field == field
    assert field in str(ei.value)


def test_nan_is_rejected() -> None:
    raw = json.dumps(CONTRACT_EXAMPLES[1]).replace("512345.0", "NaN").encode()
    with pytest.raises(WireError):
        decode_json(raw)


def test_unknown_kind_is_its_own_error() -> None:
    raw = _bad(CONTRACT_EXAMPLES[1], ["kind"], "weather")
    with pytest.raises(UnknownKind) as ei:
        decode_json(raw)
    assert ei.value.kind == "weather"


def test_unknown_optional_fields_from_newer_partners_are_ignored() -> None:
    raw = _bad(CONTRACT_EXAMPLES[1], ["body", "snr_db"], 17.5)
    env = decode_json(raw)
    assert isinstance(env.body, PlotBody)
    assert env.body.range_m == 512345.0


class _OldEllipse(msgspec.Struct):
    semi_major_m: float
    semi_minor_m: float
    bearing_deg: float
    confidence: float = 0.95


class _OldImpact(msgspec.Struct):
    """The impact as the contract names it (a reader built before ``most_likely``)."""

    t: float
    lat: float
    lon: float
    sigma_t_s: float
    ellipse: _OldEllipse | None = None


def test_most_likely_impact_point_is_optional_and_old_readers_ignore_it() -> None:
    """``impact.most_likely`` (tocsin, optional): a reader that knows it gets
    the point; one built before it (the impact as the contract names it)
    decodes the same message and keeps the ellipse's centre; absent, it is
    not written."""
    msg = json.loads(json.dumps(CONTRACT_EXAMPLES[3]))
    imp = msg["body"]["impact"]
    imp["most_likely"] = {"t": imp["t"] - 60.0, "lat": imp["lat"] - 0.5, "lon": imp["lon"]}
    env = decode_json(json.dumps(msg).encode())
    assert isinstance(env.body, TrackBody)
    assert env.body.impact is not None
    assert env.body.impact.most_likely == ImpactPoint(imp["t"] - 60.0, imp["lat"] - 0.5, imp["lon"])
    assert (env.body.impact.lat, env.body.impact.lon) == (imp["lat"], imp["lon"])

    old = msgspec.json.decode(json.dumps(imp).encode(), type=_OldImpact)
    assert (old.lat, old.lon, old.t) == (imp["lat"], imp["lon"], imp["t"])
    bare = decode_json(json.dumps(CONTRACT_EXAMPLES[3]).encode())
    assert b"most_likely" not in encode_json(bare)


def test_make_checks_kind_matches_body() -> None:
    body = HeartbeatBody(node="n", t=T0, sources={"JP-R1": SourceStat(last_t=T0, plots=3)})
    env = make("heartbeat", body, partner="JP", source="n", seq=1, sent=T0)
    assert decode_json(encode_json(env)) == env
    with pytest.raises(TypeError):
        make("plot", body, partner="JP", source="n", seq=1, sent=T0)


def test_signing_bytes_exclude_signature() -> None:
    env = decode_json(json.dumps(CONTRACT_EXAMPLES[1]).encode())
    signed = msgspec.structs.replace(env, sig="abc")
    assert signing_bytes(signed) == signing_bytes(env) == encode_json(env)
    assert b"sig" in encode_json(signed)


# --- JSON Lines -----------------------------------------------------------------


def _lines() -> list[bytes]:
    return [json.dumps(m).encode() for m in CONTRACT_EXAMPLES]


def test_stream_skips_bad_lines_and_names_file_line_field(tmp_path: Path) -> None:
    lines = _lines()
    lines.insert(2, b'{"v": 1, "kind": "plot", "partner": "JP"')  # truncated JSON: line 3
    lines.insert(4, _bad(CONTRACT_EXAMPLES[1], ["body", "el_deg"], 120.0))  # line 5
    lines.insert(5, _bad(CONTRACT_EXAMPLES[1], ["kind"], "weather"))  # unknown kind: line 6
    lines.insert(6, b"")
    p = tmp_path / "in.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    msgs, stats = read_jsonl(p)
    assert [m.kind for m in msgs] == [m["kind"] for m in CONTRACT_EXAMPLES]
    assert stats.unknown_kinds == {"weather": 1}
    assert [(e.line, e.field) for e in stats.errors] == [(3, None), (5, "$.body.el_deg")]
    assert all(e.file == str(p) for e in stats.errors)
    assert str(stats.errors[1]).startswith(f"{p}:5: $.body.el_deg: ")
    assert "rejected" in stats.summary()


def test_writer_is_atomic(tmp_path: Path) -> None:
    envs = [decode_json(line) for line in _lines()]
    out = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl(out, envs) == len(envs)
    assert [e for e in iter_jsonl(out)] == envs
    # an error while writing leaves neither the file nor a temporary behind
    out2 = tmp_path / "broken.jsonl"

    def write_then_fail() -> None:
        with JsonlWriter(out2) as w:
            w.write(envs[0])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert not out2.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["sub"]


# --- properties -------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
lat = st.floats(min_value=-90, max_value=90)
lon = st.floats(min_value=-180, max_value=180)
pos = st.floats(min_value=1e-6, max_value=1e6)
ellipses = st.one_of(
    st.none(), st.builds(Ellipse, semi_major_m=pos, semi_minor_m=pos, bearing_deg=st.floats(0, 180))
)
ident = st.text(st.characters(codec="utf-8", categories=["L", "N", "Pd"]), min_size=1, max_size=20)

radar_plots = st.builds(
    PlotBody,
    sensor=ident,
    t=st.floats(min_value=0, max_value=4e9),
    range_m=st.floats(min_value=0, max_value=1e8),
    az_deg=st.floats(min_value=0, max_value=360),
    el_deg=st.floats(min_value=-90, max_value=90),
    rr_mps=st.one_of(st.none(), finite),
    sigma_range_m=st.one_of(st.none(), pos),
)
tracks = st.builds(
    TrackBody,
    id=ident,
    t=st.floats(min_value=0, max_value=4e9),
    state_ecef=st.lists(finite, min_size=6, max_size=6),
    cov=st.lists(finite, min_size=36, max_size=36),
    status=st.sampled_from(["tentative", "confirmed", "coasting", "deleted"]),
    class_=st.sampled_from(["ballistic", "air", "unknown"]),
    sources=st.lists(ident, max_size=3),
    launch=st.one_of(
        st.none(), st.builds(LaunchEstimate, t=st.floats(0, 4e9), lat=lat, lon=lon, sigma_m=pos)
    ),
    impact=st.one_of(
        st.none(),
        st.builds(
            ImpactPrediction,
            t=st.floats(0, 4e9),
            lat=lat,
            lon=lon,
            sigma_t_s=pos,
            ellipse=ellipses,
            most_likely=st.one_of(
                st.none(),
                st.builds(
                    ImpactPoint,
                    t=st.floats(0, 4e9),
                    lat=lat,
                    lon=lon,
                    sigma_t_s=st.one_of(st.none(), pos),
                    ellipse=ellipses,
                ),
            ),
        ),
    ),
)
alerts = st.builds(
    AlertBody,
    id=ident,
    t=st.floats(0, 4e9),
    msg_type=st.sampled_from(["Alert", "Update", "Cancel"]),
    status=st.sampled_from(["Actual", "Exercise", "Test"]),
    tracks=st.lists(ident, max_size=3),
    areas=st.lists(ident, max_size=5),
    cap=st.text(max_size=50),
)
sensors = st.builds(
    SensorBody, id=ident, type=st.sampled_from(["radar", "ir-satellite"]), platform=st.just("space")
)
bodies = st.one_of(
    radar_plots.map(lambda b: ("plot", b)),
    tracks.map(lambda b: ("track", b)),
    alerts.map(lambda b: ("alert", b)),
    sensors.map(lambda b: ("sensor", b)),
    st.builds(
        lambda b: ("truth", b),
        st.builds(
            TruthBody,
            object=ident,
            t=st.floats(0, 4e9),
            phase=st.just("impact"),
            class_=st.just("air"),
            lat=lat,
            lon=lon,
        ),
    ),
)
envelopes = st.builds(
    lambda kb, partner, source, seq, sent: make(
        kb[0], kb[1], partner=partner, source=source, seq=seq, sent=sent
    ),
    bodies,
    st.sampled_from(["JP", "KR", "US"]),
    ident,
    st.integers(min_value=0, max_value=2**53 - 1),  # tocsin.wire.MAX_SEQ
    st.floats(min_value=0, max_value=4e9),
)


@settings(max_examples=150, deadline=None)
@given(envelopes)
def test_any_valid_message_round_trips(env: Envelope) -> None:
    assert decode_json(encode_json(env)) == env
    assert decode_msgpack(encode_msgpack(env)) == env


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(envelopes.map(encode_json), st.binary(max_size=80)), max_size=12))
def test_stream_never_stops_and_loses_no_valid_line(lines: list[bytes]) -> None:
    import io

    data = b"\n".join(x.replace(b"\n", b" ") for x in lines) + b"\n"
    stats = ReadStats()
    got = list(iter_jsonl(io.BytesIO(data), stats=stats, name="mem"))
    # every line is accounted for: a message, an unknown kind, a rejection, or blank
    nonblank = sum(1 for x in data.split(b"\n")[:-1] if x.strip())
    assert stats.messages + sum(stats.unknown_kinds.values()) + len(stats.errors) == nonblank
    assert len(got) == stats.messages
    for e in stats.errors:
        assert e.file == "mem"
        assert e.line is not None


@pytest.mark.parametrize(
    ("line", "field", "says"),
    [
        # valid JSON, wrong shape: the message is named, or the missing field itself
        (b'{"v": 1}', "$.kind", "missing required field"),
        (b"[1, 2]", "$", "Expected `object`"),
        (b'{"v": 1, "kind": "plot", "partner": "JP", "source": "r", "seq": 1, "sent": 0}', "$.body", "body"),
        # not JSON at all: no field, and words a person reads
        (b'{"v": 1, "kind": "plot"', None, "JSON is malformed: the line ends before the message does"),
        (b"not json", None, "JSON is malformed"),
    ],
)
def test_schema_errors_name_a_field_and_json_errors_say_malformed(
    line: bytes, field: str | None, says: str
) -> None:
    """`tocsin track` counts rejected lines by field ("json" only for lines that
    are not JSON): a line that is JSON but misses `kind` is a schema error."""
    with pytest.raises(WireError) as err:
        decode_json(line)
    assert err.value.field == field
    assert says in str(err.value)


def _repeat(raw: bytes, where: str, name: str, before: bool, same: bool) -> bytes:
    """``raw`` with the member ``name`` of the envelope (``where="$"``) or of
    its body written once more, before or after it, with the same value or
    another one."""
    d = json.loads(raw)
    obj = d if where == "$" else d["body"]
    members = [json.dumps(k) + ":" + json.dumps(v) for k, v in obj.items()]
    i = list(obj).index(name)
    extra = json.dumps(name) + ":" + json.dumps(obj[name] if same else 0 if obj[name] != 0 else 1)
    members.insert(i if before else i + 1, extra)
    text = "{" + ",".join(members) + "}"
    if where == "$":
        return text.encode()
    d["body"] = "@BODY@"
    return json.dumps(d).replace('"@BODY@"', text).encode()


@settings(max_examples=150, deadline=None)
@given(envelopes, st.sampled_from(["$", "$.body"]), st.data(), st.booleans(), st.booleans())
def test_a_repeated_member_name_is_refused_wherever_it_is(
    env: Envelope, where: str, data: st.DataObject, before: bool, same: bool
) -> None:
    """I-JSON (RFC 7493 §2.3): an object that repeats a name is refused by the
    message decoder (the file reader, HTTP, NATS and the CLI read through it),
    the field naming the repeated member, even when both say the same."""
    raw = encode_json(env)
    obj = json.loads(raw) if where == "$" else json.loads(raw)["body"]
    name = data.draw(st.sampled_from(sorted(obj)))
    bad = _repeat(raw, where, name, before, same)
    with pytest.raises(DuplicateName) as err:
        decode_json(bad)
    assert err.value.field == f"{where}.{name}"
    stats = ReadStats()
    import io

    assert list(iter_jsonl(io.BytesIO(raw + b"\n" + bad + b"\n"), stats=stats, name="mem")) == [env]
    assert [(e.line, e.field) for e in stats.errors] == [(2, f"{where}.{name}")]


def test_a_member_the_schema_skips_must_still_be_json_the_check_can_read() -> None:
    """A number out of a double's range in a member this version does not read:
    the typed decoder skips it, the names check cannot parse it. Refused (it
    was accepted unchecked for a moment in session 14's first form)."""
    hb = make("heartbeat", HeartbeatBody(node="n1", t=1.0), partner="JP", source="s", seq=1, sent=0)
    raw = encode_json(hb)
    decode_json(raw[:-1] + b',"x":1e300}')
    with pytest.raises(WireError, match="Number out of range") as err:
        decode_json(raw[:-1] + b',"x":1e400}')
    assert err.value.field == "$"
