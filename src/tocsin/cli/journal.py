"""``tocsin journal``: verify the hash chain, show the head, list entries."""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import InputError


def register(app: typer.Typer) -> None:
    jr = typer.Typer(help="Inspect and verify a hash-chained journal.", no_args_is_help=True)

    @jr.command("verify")
    def verify(
        path: Path = typer.Argument(..., help="Journal database (data/journal.db)."),
        expect_head: str | None = typer.Option(
            None, "--expect-head", help="Head hash (hex) recorded elsewhere: detects entries cut off the end."
        ),
        pub: Path | None = typer.Option(
            None,
            "--pub",
            help="The node's public key: check the signed checkpoints (detects a rewritten chain).",
        ),
        archive_dir: Path | None = typer.Option(
            None,
            "--archive",
            help="Also verify the segments `tocsin journal archive` moved there (the whole history).",
        ),
        strict: bool = typer.Option(
            False,
            "--strict",
            help="Also fail (exit 1) when any entry follows the last signed checkpoint (needs --pub).",
        ),
    ) -> None:
        """Walk the chain. Exit 0 when intact, 1 at the first altered, removed or
        reordered entry, 2 when the file is not a readable journal.

        Entries after the last signed checkpoint are counted: the chain alone
        cannot tell them from rows appended by someone who may write the file
        (only the node's key can sign a checkpoint). A node signs a checkpoint
        every few seconds and when it stops cleanly, so a stopped node's journal
        has none; --strict fails if it has any."""
        from tocsin.journal import Journal

        if strict and pub is None:
            raise InputError(
                "--strict needs --pub (the node's public key): without it a rewritten chain verifies",
                field="--strict",
            )

        head: bytes | None = None
        if expect_head is not None:
            try:
                head = bytes.fromhex(expect_head)
            except ValueError:
                raise InputError("not a hex hash", field="--expect-head") from None
        pk = None
        if pub is not None:
            from tocsin.exchange.signing import load_public_key

            pk = load_public_key(pub)
        with Journal(path, readonly=True, archive=archive_dir) as j:
            res = j.verify(expect_head=head, public_key=pk)
        typer.echo(f"{path}: {res.summary()}")
        if not res.ok:
            raise typer.Exit(1)
        if strict and res.after_checkpoint:
            typer.echo(
                f"{path}: --strict: {res.after_checkpoint} entries after the last signed checkpoint",
                err=True,
            )
            raise typer.Exit(1)

    @jr.command("audit")
    def audit(
        path: Path = typer.Argument(..., help="Journal database (data/journal.db)."),
        partners: Path = typer.Option(..., "--partners", help="The partner registry (their public keys)."),
        archive_dir: Path | None = typer.Option(
            None, "--archive", help="Also audit the segments `tocsin journal archive` moved there."
        ),
    ) -> None:
        """Check every partner's signature again from the journal alone: signed
        messages as they were received, signed bundles (kept as received) and
        the inputs that are their members. Exit 0 when all check out, 1 when
        one does not (its entry named), 2 when a file is unreadable.

        Example: tocsin journal audit data/journal.db --partners partners.yaml"""
        from tocsin.exchange.signing import PartnerRegistry, audit_entries
        from tocsin.journal import Journal

        registry = PartnerRegistry.load(partners)
        with Journal(path, readonly=True, archive=archive_dir) as j:
            rep = audit_entries(j.entries(kinds=("input", "received")), registry)
        typer.echo(f"{path}: {rep.summary()}")
        if not rep.ok:
            raise typer.Exit(1)

    @jr.command("head")
    def head(path: Path = typer.Argument(..., help="Journal database.")) -> None:
        """Print the last sequence number and head hash (keep it somewhere safe)."""
        from tocsin.journal import Journal

        with Journal(path, readonly=True) as j:
            typer.echo(f"{j.last_seq} {j.head.hex()}")

    @jr.command("show")
    def show(
        path: Path = typer.Argument(..., help="Journal database."),
        kind: str | None = typer.Option(None, "--kind", help="Only entries of this kind."),
        start: int = typer.Option(1, "--from", help="First entry."),
        limit: int = typer.Option(50, "--limit", help="At most this many entries."),
        epoch: bool = typer.Option(False, "--epoch", help="Times as Unix seconds instead of UTC."),
        full: bool = typer.Option(False, "--full", help="Whole payloads (default: the first 200 bytes)."),
    ) -> None:
        """Print entries as `seq time kind payload`, one per line, tab-separated.

        The time is when the entry was journalled, in UTC to the millisecond
        (`--epoch`: Unix seconds). Examples:

            tocsin journal show DATA/journal.db --kind note

            tocsin journal show DATA/journal.db --from 5000 --limit 20 --full
        """
        from datetime import UTC, datetime

        from tocsin.journal import Journal

        def when(ts: float) -> str:
            if epoch:
                return f"{ts:.3f}"
            return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        with Journal(path, readonly=True) as j:
            for i, e in enumerate(j.entries(start, kinds=[kind] if kind else None)):
                if i >= limit:
                    break
                text = (e.payload if full else e.payload[:200]).decode("utf-8", errors="replace")
                typer.echo(f"{e.seq}\t{when(e.ts)}\t{e.kind}\t{text}")

    @jr.command("archive")
    def archive(
        path: Path = typer.Argument(..., help="The live journal (DATA/journal.db)."),
        to: Path = typer.Option(..., "--to", help="Directory to move closed segments to (created)."),
        keep: int = typer.Option(
            24, "--keep", min=0, help="Closed segments to keep here (the newest), besides the live one."
        ),
        older_than_h: float | None = typer.Option(
            None, "--older-than-h", min=0.0, help="Only segments closed more than this many hours ago."
        ),
    ) -> None:
        """Move the oldest closed segments (and their start snapshots) to an archive.

        Each segment is checked (its chain continues the one before it), copied,
        compared byte for byte, recorded in journal.segments/archived.jsonl (its
        sequence numbers, head hash and SHA-256) and only then removed here. The
        live segment is never touched; a running node may go on writing.
        `tocsin journal verify` then checks what remains against the recorded
        heads, and with `--archive DIR` the archived segments too."""
        n, first, last = _remove_front(path, keep, older_than_h, to)
        if n:
            typer.echo(f"archived {n} segments (entries {first}..{last}) to {to}")
        else:
            typer.echo("nothing to archive")

    @jr.command("prune")
    def prune(
        path: Path = typer.Argument(..., help="The live journal (DATA/journal.db)."),
        keep: int = typer.Option(
            24, "--keep", min=0, help="Closed segments to keep (the newest), besides the live one."
        ),
        older_than_h: float | None = typer.Option(
            None, "--older-than-h", min=0.0, help="Only segments closed more than this many hours ago."
        ),
        yes: bool = typer.Option(False, "--yes", help="Really delete (the entries are gone for good)."),
    ) -> None:
        """Delete the oldest closed segments, keeping their heads in archived.jsonl.

        Like `archive` without the copy: what remains still verifies (it must
        continue the recorded heads), but the removed entries can no longer be
        replayed or shown. Needs --yes."""
        if not yes:
            raise InputError(
                "deletes journal segments for good: add --yes (or use `tocsin journal archive`)",
                field="--yes",
            )
        n, first, last = _remove_front(path, keep, older_than_h, None)
        typer.echo(f"pruned {n} segments (entries {first}..{last})" if n else "nothing to prune")

    @jr.command("export")
    def export(
        path: Path = typer.Argument(..., help="Journal (DATA/journal.db)."),
        out: Path = typer.Option(..., "-o", "--out", help="Directory for tracks.jsonl and alerts.jsonl."),
        archive_dir: Path | None = typer.Option(
            None, "--archive", help="Also read the segments archived there (the whole history)."
        ),
    ) -> None:
        """Write tracks.jsonl and alerts.jsonl from the outputs the journal recorded
        (streamed; what `serve --outputs-files` would have kept live)."""
        from tocsin.journal import Journal
        from tocsin.runtime import iter_recorded_outputs, write_outputs

        with Journal(path, readonly=True, archive=archive_dir) as j:
            counts = write_outputs(out, iter_recorded_outputs(j))
        typer.echo(", ".join(f"{n} -> {out / name}" for name, n in counts.items()))

    app.add_typer(jr, name="journal")


def _remove_front(path: Path, keep: int, older_than_h: float | None, to: Path | None) -> tuple[int, int, int]:
    """Archive (``to``) or prune the oldest closed segments; (count, first, last)."""
    import json
    import os
    import shutil
    import time

    from tocsin.journal import Journal
    from tocsin.journal.store import ZERO_HASH, segment_head

    with Journal(path, readonly=True) as j:
        closed = j.closed_segments()
        heads = j.archived_heads()
        segdir = j.segments_dir
    chosen = closed[: max(0, len(closed) - keep)]
    if older_than_h is not None:
        limit = time.time() - older_than_h * 3600
        cut = next((i for i, s in enumerate(chosen) if s.path.stat().st_mtime > limit), len(chosen))
        chosen = chosen[:cut]
    if not chosen:
        return 0, 0, 0
    prev_last = heads[-1].last if heads else 0
    prev_head = heads[-1].head if heads else ZERO_HASH
    snapdir = path.parent / "snapshots"
    if to is not None:
        to.mkdir(parents=True, exist_ok=True)
    for seg in chosen:
        if seg.first != prev_last + 1:
            raise InputError(f"segment {seg.path.name} does not follow entry {prev_last}", file=str(seg.path))
        head, problem = segment_head(seg.path, seg.first, prev_head)
        if problem:
            raise InputError(f"not archived: {problem}", file=str(seg.path))
        digest = _sha256(seg.path)
        start_snap = snapdir / f"snapshot-{seg.first - 1:012d}.zst"
        if to is not None:
            for src in (seg.path, start_snap):
                if not src.is_file():
                    continue
                dest = to / src.name
                tmp = dest.with_name(dest.name + ".tmp")
                shutil.copyfile(src, tmp)
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                if _sha256(tmp) != _sha256(src):
                    tmp.unlink()
                    raise InputError("copy differs from the original (disk?)", file=str(dest))
                os.replace(tmp, dest)
        rec = {
            "first": seg.first,
            "last": seg.last,
            "head": head.hex(),
            "sha256": digest,
            "file": seg.path.name,
            "where": str(to.resolve()) if to is not None else "pruned",
            "at": round(time.time(), 3),
        }
        with open(segdir / "archived.jsonl", "a") as fh:
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        seg.path.unlink()
        start_snap.unlink(missing_ok=True)
        prev_last, prev_head = seg.last, head
    return len(chosen), chosen[0].first, chosen[-1].last


def _sha256(p: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
