"""``tocsin replay``: re-run a journal's accepted inputs through fresh stages.

A replay can never issue an ``Actual`` alert: its warning engine runs in a
:class:`~tocsin.warning.mode.ReplayMode` with status ``Exercise``, a type whose
status cannot be ``Actual``. The stage set and the warning policy are the ones
the journal's start note recorded.

A journal recorded live (``tocsin serve --live``) holds ``Actual`` alerts. The
replay is compared with the recorded outputs read as their Exercise form
(:func:`exercise_form`: the alert's ``status``, and inside its CAP document the
``<status>``, the exercise ``<note>`` and the exercise tags and sentences of
every ``<info>``, exactly as the CAP renderer writes them for ``Exercise``);
everything else must be byte-identical. The written ``alerts.jsonl`` is the
Exercise form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

_CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def _q(tag: str) -> str:
    return f"{{{_CAP_NS}}}{tag}"


def _etree() -> Any:
    """lxml's etree, imported when needed (keeps ``tocsin --help`` fast)."""
    from lxml import etree  # type: ignore[import-untyped]

    return etree


@functools.cache
def _exercise_words() -> tuple[str, dict[str, tuple[str, str]]]:
    """The note and, per language, the (prefix, instruction suffix) an Exercise
    CAP document has and an Actual one lacks — taken from the CAP renderer
    itself, so they follow any change of wording."""
    from tocsin.warning.cap import CapMessage, render_cap
    from tocsin.warning.texts import Facts

    etree = _etree()

    def doc(status: str) -> Any:
        m = CapMessage(
            identifier="x",
            sender="x",
            sent=0.0,
            status=status,
            msg_type="Alert",
            facts=Facts("Alert", status, {}),
            areas=[],
        )
        return etree.fromstring(render_cap(m).encode("utf-8"))

    actual, exercise = doc("Actual"), doc("Exercise")
    note = exercise.findtext(_q("note"))
    if not note or actual.find(_q("note")) is not None:
        raise RuntimeError("cannot derive the exercise note from the CAP renderer")
    words: dict[str, tuple[str, str]] = {}
    for a, e in zip(actual.iter(_q("info")), exercise.iter(_q("info")), strict=True):
        lang = e.findtext(_q("language")) or ""
        ah, eh = a.findtext(_q("headline")) or "", e.findtext(_q("headline")) or ""
        ai, ei = a.findtext(_q("instruction")) or "", e.findtext(_q("instruction")) or ""
        if not (eh.endswith(ah) and ei.startswith(ai)):
            raise RuntimeError(f"cannot derive the exercise wording ({lang}) from the CAP renderer")
        words[lang] = (eh[: len(eh) - len(ah)], ei[len(ai) :])
    return note, words


def exercise_cap(cap: str) -> str:
    """The CAP document an ``Exercise`` run renders where ``cap`` (an ``Actual``
    one) was rendered: ``<status>Exercise``, the exercise ``<note>`` after
    ``<scope>``, and in each ``<info>`` the exercise tag before the headline and
    the description and the "not a real alert" sentence after the instruction."""
    etree = _etree()
    note, words = _exercise_words()
    root = etree.fromstring(cap.encode("utf-8"), etree.XMLParser(remove_blank_text=True))
    status = root.find(_q("status"))
    scope = root.find(_q("scope"))
    if status is None or status.text != "Actual" or scope is None:
        raise ValueError("not an Actual CAP document")
    status.text = "Exercise"
    el = etree.Element(_q("note"))
    el.text = note
    scope.addnext(el)
    for info in root.iter(_q("info")):
        tag, suffix = words.get(info.findtext(_q("language")) or "", ("", ""))
        for name in ("headline", "description"):
            f = info.find(_q(name))
            if f is not None:
                f.text = tag + (f.text or "")
        instr = info.find(_q("instruction"))
        if instr is not None:
            instr.text = (instr.text or "") + suffix
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data.decode("utf-8")


def exercise_form(payload: bytes) -> bytes:
    """One recorded output (compact JSON) with ``Actual`` read as ``Exercise``:
    an ``Actual`` alert gets status ``Exercise`` and :func:`exercise_cap` of its
    CAP document; every other output is returned unchanged."""
    import msgspec

    from tocsin.wire import AlertBody, decode_json, encode_json

    env = decode_json(payload, checked=True)  # (an output this node recorded)
    body = env.body
    if env.kind != "alert" or not isinstance(body, AlertBody) or body.status != "Actual":
        return payload
    body = msgspec.structs.replace(body, status="Exercise", cap=exercise_cap(body.cap) if body.cap else "")
    return encode_json(msgspec.structs.replace(env, body=body))


def register(app: typer.Typer) -> None:
    @app.command(
        "replay",
        epilog=(
            "Examples:\n\n"
            "    tocsin replay data/journal.db -o replayed/     (exit 1 on any difference)\n\n"
            "    tocsin replay data/journal.db -o replayed/ --archive /srv/tocsin-archive\n\n"
            "    tocsin serve --replay run/     (watch a drill's recording instead)\n\n"
            "More in docs/operations.md (Replay and recovery)."
        ),
    )
    def replay(
        journal: Path = typer.Argument(..., help="Journal database (data/journal.db)."),
        archive_dir: Path | None = typer.Option(
            None,
            "--archive",
            help="Where `tocsin journal archive` moved the oldest segments: needed once any were.",
        ),
        out: Path = typer.Option(..., "-o", "--out", help="Directory for tracks.jsonl and alerts.jsonl."),
        check: bool = typer.Option(
            True,
            "--check/--no-check",
            help="Compare with the outputs recorded live (exit 1 on a difference).",
        ),
        stages: str = typer.Option(
            "auto", "--stages", help="auto (as recorded by the live run), default (fusion + warning) or toy."
        ),
    ) -> None:
        """Reproduce the live tracks and alerts from the journal, byte for byte.

        Alerts are always Exercise: a journal recorded live is compared with its
        Actual alerts read as Exercise."""
        import msgspec

        from tocsin.errors import ConfigError, InputError
        from tocsin.journal import Journal
        from tocsin.runtime import (
            iter_recorded_outputs,
            iter_replay,
            recorded_instance,
            recorded_live_sender,
            recorded_mode,
            recorded_open,
            recorded_policy,
            recorded_stage_set,
            stages_by_name,
            write_outputs,
        )
        from tocsin.warning.mode import ReplayMode
        from tocsin.warning.policy import WarningConfig
        from tocsin.wire import Envelope, encode_json

        if stages not in ("auto", "default", "toy"):
            raise InputError("must be auto, default or toy", field="--stages")
        if not journal.is_file():
            raise InputError("no such journal", file=str(journal))

        with Journal(journal, readonly=True, archive=archive_dir) as j:
            res = j.verify()
            if res.ok and res.archived:
                # a replay starts from the first entry: the state the archived
                # entries built is not here
                raise InputError(
                    f"entries 1..{res.archived} were archived or pruned: replay with --archive DIR "
                    "(the directory `tocsin journal archive` moved them to)",
                    file=str(journal),
                )
            if not res.ok:
                typer.echo(f"{journal}: {res.summary()}", err=True)
                raise typer.Exit(1)
            name = (recorded_stage_set(j) or "default") if stages == "auto" else stages
            was_live = recorded_mode(j) == "live"
            pol = recorded_policy(j)
            try:
                cfg = msgspec.convert(pol, WarningConfig) if pol is not None else None
            except (msgspec.ValidationError, ValueError) as exc:
                raise ConfigError(f"{journal}: recorded warning policy: {exc}") from None
            sender = recorded_live_sender(j)
            if sender is not None:
                # live alerts went out under the authorisation's sender (below a
                # release's own): the replay renders them the same way
                cfg = msgspec.structs.replace(cfg or WarningConfig(), sender=sender)
            # a replay never issues Actual: ReplayMode's status cannot be Actual;
            # replayed and recorded outputs are compared as they stream by
            live = iter_recorded_outputs(j)
            cmp = _Compare()

            # (an open-mode run's alerts say so in their CAP note: the replay too)
            mode = ReplayMode(status="Exercise", open_inputs=recorded_open(j))
            replay_stages = stages_by_name(name, mode=mode, config=cfg, instance=recorded_instance(j))

            def checked() -> Iterator[Envelope]:
                for env in iter_replay(j, replay_stages):
                    if check:
                        want = next(live, None)
                        cmp.see(encode_json(env), want, exercise_form if was_live else None)
                    yield env

            counts = write_outputs(out, checked())
            if check:
                cmp.rest(sum(1 for _ in live))
        typer.echo(", ".join(f"{n} -> {out / name}" for name, n in counts.items()))
        if check:
            if cmp.first_diff is not None:
                typer.echo(
                    f"replay differs from the live outputs at output {cmp.first_diff} "
                    f"({cmp.replayed} replayed, {cmp.recorded} recorded"
                    f"{', Actual read as Exercise' if was_live else ''})",
                    err=True,
                )
                raise typer.Exit(1)
            if was_live:
                typer.echo(
                    f"identical to the {cmp.recorded} outputs recorded live, with status Actual read as "
                    f"Exercise ({cmp.actual} Actual alerts; a replay never issues Actual)"
                )
            else:
                typer.echo(f"identical to the {cmp.recorded} outputs recorded live")


class _Compare:
    """Replayed against recorded outputs, one pair at a time."""

    def __init__(self) -> None:
        self.replayed = 0
        self.recorded = 0
        self.actual = 0
        self.first_diff: int | None = None

    def see(self, got: bytes, want: bytes | None, form: Callable[[bytes], bytes] | None) -> None:
        self.replayed += 1
        if want is None:
            if self.first_diff is None:
                self.first_diff = self.replayed
            return
        self.recorded += 1
        if form is not None:
            w = form(want)
            self.actual += w != want
            want = w
        if got != want and self.first_diff is None:
            self.first_diff = self.replayed

    def rest(self, n: int) -> None:
        """``n`` recorded outputs the replay did not produce."""
        self.recorded += n
        if n and self.first_diff is None:
            self.first_diff = self.replayed + 1
