"""Exchange format v1: message Structs, JSON/MessagePack codecs, JSON Lines I/O.

See ``docs/exchange-format.md`` for the format in prose.
"""

from tocsin.wire.codec import (
    UnknownKind,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
    signing_bytes,
)
from tocsin.wire.jsonl import JsonlWriter, ReadStats, iter_jsonl, read_jsonl, write_jsonl
from tocsin.wire.messages import (
    BODY_TYPES,
    KINDS,
    MAX_BUNDLE,
    AlertBody,
    Body,
    BundleBody,
    Ellipse,
    Envelope,
    HeartbeatBody,
    ImpactPrediction,
    LaunchEstimate,
    PlatformPos,
    PlotBody,
    SensorBody,
    SourceStat,
    TrackBody,
    TruthBody,
    make,
)

__all__ = [
    "BODY_TYPES",
    "KINDS",
    "MAX_BUNDLE",
    "AlertBody",
    "Body",
    "BundleBody",
    "Ellipse",
    "Envelope",
    "HeartbeatBody",
    "ImpactPrediction",
    "JsonlWriter",
    "LaunchEstimate",
    "PlatformPos",
    "PlotBody",
    "ReadStats",
    "SensorBody",
    "SourceStat",
    "TrackBody",
    "TruthBody",
    "UnknownKind",
    "decode_json",
    "decode_msgpack",
    "encode_json",
    "encode_msgpack",
    "iter_jsonl",
    "make",
    "read_jsonl",
    "signing_bytes",
    "write_jsonl",
]
