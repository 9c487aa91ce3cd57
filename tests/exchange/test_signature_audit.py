"""Partners' signatures can be checked again from the journal alone (issue 17
item 6): a signed bundle is journalled once as received, a signed message as
received (bounded), and ``tocsin journal audit`` re-verifies them; replays are
unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import (
    PartnerPolicy,
    PartnerRegistry,
    audit_entries,
    b64url_encode,
    generate_key,
    public_key_text,
    sign,
    sign_bundle,
)
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, recorded_outputs, replay_journal
from tocsin.wire import Envelope, encode_json
from tocsin.wire.jcs import canonicalize

T0 = 1_789_430_400.0
JP = generate_key()
REG = PartnerRegistry({"JP": PartnerPolicy("JP", JP.public_key(), ("JP-*",), ("plot",))})


def signed_with_extra(env: Envelope, **extra: object) -> bytes:
    """What a newer partner sends: a v2 message with an optional field this
    tocsin does not know, signed over all of it (a plain-Python signer)."""
    d = json.loads(encode_json(env))
    d.pop("sig", None)
    d.update(v=2, **extra)
    d["sig"] = b64url_encode(JP.sign(canonicalize(d)))
    return json.dumps(d, separators=(",", ":")).encode()


def journal_of(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    j = Journal(path, synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, ingress=Ingress(REG, max_skew_s=None, recorder=j))
    plots = [sample_plot(source="JP-R1", seq=i, sent=T0 + i) for i in range(1, 5)]
    first = sign(plots[0], JP)
    bundle = sign_bundle(plots[:3], JP, partner="JP", source="JP-R1", seq=100, sent=T0 + 3)
    newer = signed_with_extra(plots[3], note="a field from a newer version of the format")
    bloated = signed_with_extra(
        sample_plot(source="JP-R2", seq=1, sent=T0 + 5), note="x" * 2000
    )  # accepted, but kept re-encoded: a sender cannot make the journal grow by 2 KB a message
    vs = pipe.submit_batch([encode_json(first), encode_json(bundle), newer, bloated])
    assert vs[0].ok
    assert [p.ok for p in vs[1].parts] == [False, True, True]  # plot 1 came alone before: a duplicate
    assert vs[2].ok
    assert vs[3].ok
    pipe.close()
    return path


def test_signatures_are_checked_again_from_the_journal(tmp_path: Path) -> None:
    path = journal_of(tmp_path)
    with Journal(path, readonly=True) as j:
        entries = list(j.entries(kinds=("input", "received")))
        kinds = [e.kind for e in entries]
        rep = audit_entries(entries, REG)
        # replay reads the same inputs: the kept bytes decode to the same envelopes
        assert [encode_json(o) for o in replay_journal(j, toy_stages())] == recorded_outputs(j)
    assert kinds == ["input", "received", "input", "input", "input", "input"]
    assert rep.bundles_verified == 1
    assert rep.members_covered == 2
    assert rep.messages_verified == 2  # the first plot, and the one with the unknown field
    # the bloated one was journalled re-encoded (bounded), so it no longer verifies: named
    assert [why for _, why in rep.problems] == ["signature of JP does not verify over the journalled bytes"]
    assert rep.problems[0][0] == entries[-1].seq
    assert len(entries[-1].payload) < 1000


def test_audit_names_a_member_that_is_not_in_its_bundle(tmp_path: Path) -> None:
    path = journal_of(tmp_path)
    with Journal(path, readonly=True) as j:
        entries = list(j.entries(kinds=("input", "received")))
    # an input after the bundle whose content differs from the signed member
    forged = entries[2]
    d = json.loads(forged.payload)
    d["body"]["range_m"] += 1000.0
    altered = dataclasses.replace(forged, payload=json.dumps(d).encode())
    rep = audit_entries([*entries[:2], altered, *entries[3:]], REG)
    assert (forged.seq, "input differs from the bundle member it claims to be") in rep.problems
    # another partner's key does not verify the bundle
    other = PartnerRegistry({"JP": PartnerPolicy("JP", generate_key().public_key(), ("JP-*",), ("plot",))})
    rep = audit_entries(entries, other)
    assert (entries[1].seq, "bundle signature does not verify for JP") in rep.problems


def test_journal_audit_cli(tmp_path: Path) -> None:
    path = journal_of(tmp_path)
    reg = tmp_path / "partners.json"
    reg.write_text(json.dumps({"partners": {"JP": {"public_key": public_key_text(JP.public_key())}}}))
    r = CliRunner().invoke(app, ["journal", "audit", str(path), "--partners", str(reg)])
    assert r.exit_code == 1  # the bloated message
    assert "2 signed messages and 1 bundles (2 members) verify" in r.stdout
    assert "do not, the first at entry" in r.stdout
