"""Manual public alerts under the two-person rule.

The Hawaii false alert of 13 January 2018 went out because one person could
send a live alert with one confirmation prompt, and took 38 minutes to retract.
Here:

* an operator **proposes** an alert (areas + text): a *pending* alert, nothing
  is sent. The text is the operators' own, per language (the public's own
  language at least), or a pre-scripted three-language template
  (:data:`TEMPLATES`): a language without a text is left out of the CAP
  document, never filled with another language's words;
* a **different** authorised operator **confirms** it: only then is the alert
  issued — with the status of the book's mode, so only a book built with a
  :class:`~tocsin.warning.mode.LiveMode` can ever issue ``Actual``;
* **cancel**: a pending proposal can be withdrawn, and an issued alert
  cancelled (CAP ``Cancel`` referencing it), by *one* authorised operator — a
  retraction must take seconds, not a second signature;
* the same operator confirming their own proposal, an unknown operator, an
  unknown area, an empty text: refused, and the refusal is recorded too.

Who the operator is, is checked where the step comes in (the ``tocsin alert``
command line with the operator's password, TOTP code or own key; the
dashboard with its login session): the book records how (``auth`` in each
step's detail, a key's signature included) and an authentication failure as a
refusal (:meth:`ManualAlertBook.refuse`). ``totp_steps`` keeps the last TOTP
step accepted per operator so a code works once.

Every step returns an :class:`AuditRecord`; records form a hash chain
(``hash = sha256(prev_hash || canonical JSON of the record)``) so an edited or
deleted entry is detected when the book is loaded (:meth:`ManualAlertBook.verify`).

:class:`ManualAlertBook` is in-memory and clock-free (times are arguments);
:class:`ManualAlertStore` keeps one in a directory (``book.json``, written
atomically under an exclusive lock) for the ``tocsin alert`` command.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from tocsin.errors import ConfigError
from tocsin.warning.cap import CapArea, CapMessage, CapReference, area_name, render_cap
from tocsin.warning.lifecycle import Instruction
from tocsin.warning.mode import DrillMode, Mode, check_status, live_sender, mode_note
from tocsin.warning.policy import Release, WarningConfig
from tocsin.warning.texts import HOME_LANG, LANGS, Facts, Lang, area_list, langs_for
from tocsin.wire.messages import AlertBody, Envelope, make

Action = Literal["propose", "confirm", "cancel", "refuse"]
MAX_TEXT = 2000
#: a text given as Japanese or Korean must be written in that script (kana/kanji, hangul)
_SCRIPT = {
    "ja-JP": ("Japanese (kana or kanji)", re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")),
    "ko-KR": ("Korean (hangul)", re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")),
}


@dataclass(frozen=True, slots=True)
class Template:
    """A pre-scripted manual alert in the three languages (``{areas}``: the
    alert's area names in that language)."""

    instruction: Instruction
    headline: dict[Lang, str]
    description: dict[Lang, str]


#: pre-scripted manual alerts (Hawaii 2018: pre-scripted messages, chosen, not typed)
TEMPLATES: dict[str, Template] = {
    "missile-launch": Template(
        "shelter",
        {
            "ja-JP": "ミサイル発射。ミサイル発射。",
            "ko-KR": "[경계경보] 탄도미사일 발사, 즉시 대피",
            "en-US": "Missile launch: take shelter now",
        },
        {
            "ja-JP": "ミサイルが発射されたものとみられます。{areas}の上空を通過する可能性があります。",
            "ko-KR": "탄도미사일이 발사된 것으로 보입니다. {areas} 상공을 통과할 가능성이 있습니다.",
            "en-US": "A ballistic missile appears to have been launched. It may pass over {areas}.",
        },
    ),
    "missile-fall": Template(
        "fall",
        {
            "ja-JP": "直ちに避難。直ちに避難。",
            "ko-KR": "[공습경보] 미사일 낙하 가능, 즉시 대피",
            "en-US": "Missile may come down here: take shelter immediately",
        },
        {
            "ja-JP": "ミサイルが{areas}に落下する可能性があります。",
            "ko-KR": "미사일이 {areas}에 낙하할 가능성이 있습니다.",
            "en-US": "A missile may come down in {areas}.",
        },
    ),
}


class ManualAlertError(Exception):
    """A refused step; ``record`` is the audit entry of the refusal."""

    def __init__(self, message: str, record: AuditRecord) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    t: float
    action: Action
    operator: str
    target: str  # pending or alert id ("" when none)
    detail: str
    status: str  # the mode's status: what an issued alert carries
    prev: str
    hash: str

    def line(self) -> str:
        return (
            f"#{self.seq} t={self.t:.3f} {self.action} by {self.operator}"
            f"{' ' + self.target if self.target else ''}: {self.detail}"
        )


def _digest(prev: str, fields: dict[str, Any]) -> str:
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + blob).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    proposed_by: str
    t: float
    areas: tuple[str, ...]
    text: str  # the public's own language's text (or the template's name): for display
    #: the operators' text per language (empty with a template)
    texts: tuple[tuple[str, str], ...] = ()
    template: str = ""


@dataclass(frozen=True, slots=True)
class Issued:
    id: str
    pending: str
    proposed_by: str
    confirmed_by: str
    t: float
    areas: tuple[str, ...]
    status: str
    cancelled: bool = False


class ManualAlertBook:
    """Proposals, confirmations and cancellations of manual alerts (module doc)."""

    def __init__(
        self,
        operators: Iterable[str],
        mode: Mode | None = None,
        *,
        config: WarningConfig | None = None,
        area: Callable[[str], CapArea] | None = None,
        partner: str | None = None,
        instance: str = "local",
    ) -> None:
        self.operators = frozenset(operators)
        self.mode: Mode = mode if mode is not None else DrillMode()
        self.config = config or WarningConfig()
        self._area = area
        self.partner = partner or self.config.releases[0].partner
        #: the book's identity in its alert ids (a stored book keeps the one it was created with)
        self.instance = instance
        self.pending: dict[str, Pending] = {}
        self.issued: dict[str, Issued] = {}
        self.audit: list[AuditRecord] = []
        self.alerts: list[Envelope] = []
        self._n = 0
        self._seq = 0
        #: last TOTP time step accepted per operator (a one-time code works once)
        self.totp_steps: dict[str, int] = {}

    # ------------------------------------------------------------ areas

    def area(self, code: str) -> CapArea:
        if self._area is None:
            from tocsin.warning.areas import AreaRegistry

            self._area = AreaRegistry.default().get
        return self._area(code)

    # ------------------------------------------------------------ audit

    def _record(self, t: float, action: Action, operator: str, target: str, detail: str) -> AuditRecord:
        prev = self.audit[-1].hash if self.audit else ""
        fields = {
            "seq": len(self.audit),
            "t": t,
            "action": action,
            "operator": operator,
            "target": target,
            "detail": detail,
            "status": self.mode.status,
            "prev": prev,
        }
        rec = AuditRecord(**fields, hash=_digest(prev, fields))  # type: ignore[arg-type]
        self.audit.append(rec)
        return rec

    def _refuse(self, t: float, operator: str, target: str, why: str) -> ManualAlertError:
        rec = self._record(t, "refuse", operator, target, why)
        return ManualAlertError(why, rec)

    def refuse(self, t: float, operator: str, target: str, why: str) -> ManualAlertError:
        """Record a refusal decided outside the book (e.g. authentication failed)
        and return the error to raise."""
        return self._refuse(t, operator, target, why)

    @staticmethod
    def _auth(detail: str, auth: str) -> str:
        return f"{detail}; auth {auth}" if auth else detail

    def verify(self) -> None:
        """Raise :class:`ConfigError` if the audit chain was altered."""
        prev = ""
        for i, r in enumerate(self.audit):
            fields = {k: v for k, v in asdict(r).items() if k != "hash"}
            if r.seq != i or r.prev != prev or _digest(prev, fields) != r.hash:
                raise ConfigError(f"manual-alert audit log altered at entry {i}")
            prev = r.hash

    def _authorised(self, operator: str, t: float, target: str) -> None:
        if operator not in self.operators:
            raise self._refuse(t, operator, target, f"operator {operator!r} is not authorised")

    # ------------------------------------------------------------ steps

    @property
    def home(self) -> Lang:
        """The public's own language."""
        return HOME_LANG.get(self.partner, "en-US")

    def propose(
        self,
        operator: str,
        areas: Sequence[str],
        text: str | Mapping[str, str],
        t: float,
        *,
        lang: str | None = None,
        template: str | None = None,
        auth: str = "",
    ) -> tuple[Pending, AuditRecord]:
        """A pending alert; nothing is sent until another operator confirms.

        ``text``: the operators' text in ``lang`` (default: the public's own
        language), or a mapping language -> text; or ``template``, the name of a
        three-language :data:`TEMPLATES` entry (then no text). The public's own
        language must have a text."""
        self._authorised(operator, t, "")
        codes = tuple(sorted(set(areas)))
        if not codes:
            raise self._refuse(t, operator, "", "a manual alert needs at least one area")
        for c in codes:
            try:
                self.area(c)
            except KeyError:
                raise self._refuse(t, operator, "", f"unknown area {c!r}") from None
        texts: dict[str, str] = {}
        if template:
            if template not in TEMPLATES:
                raise self._refuse(
                    t, operator, "", f"unknown template {template!r} (have {', '.join(sorted(TEMPLATES))})"
                )
            if text if isinstance(text, str) else any(text.values()):
                raise self._refuse(t, operator, "", "a template alert takes no text of its own")
        else:
            given = dict(text) if not isinstance(text, str) else {lang or self.home: text}
            for lg, tx in given.items():
                if lg not in LANGS:
                    raise self._refuse(
                        t, operator, "", f"no language {lg!r} for the text (have {', '.join(LANGS)})"
                    )
                clean = " ".join(tx.split())
                if clean:
                    if len(clean) > MAX_TEXT:
                        raise self._refuse(t, operator, "", f"the text must be 1..{MAX_TEXT} characters")
                    script = _SCRIPT.get(lg)
                    if script is not None and not script[1].search(clean):
                        raise self._refuse(
                            t,
                            operator,
                            "",
                            f"the {lg} text has no {script[0]} in it: write it in that language "
                            "or choose a template (never another language's words)",
                        )
                    texts[lg] = clean
            if self.home not in texts:
                raise self._refuse(
                    t,
                    operator,
                    "",
                    f"the text must be 1..{MAX_TEXT} characters in the public's own language ({self.home}), "
                    "or choose a template",
                )
        self._n += 1
        shown = f"template {template}" if template else texts[self.home]
        p = Pending(
            id=f"P{self._n}",
            proposed_by=operator,
            t=t,
            areas=codes,
            text=shown,
            texts=tuple(sorted(texts.items())),
            template=template or "",
        )
        self.pending[p.id] = p
        detail = f"areas {' '.join(codes)}; " + (
            f"template {template!r}"
            if template
            else "; ".join(f"{k} {v!r}" for k, v in sorted(texts.items()))
        )
        rec = self._record(t, "propose", operator, p.id, self._auth(detail, auth))
        return p, rec

    def confirm(
        self, pending_id: str, operator: str, t: float, *, auth: str = ""
    ) -> tuple[Envelope, AuditRecord]:
        """Issue a pending alert; the confirming operator must differ from the proposer."""
        self._authorised(operator, t, pending_id)
        p = self.pending.get(pending_id)
        if p is None:
            raise self._refuse(t, operator, pending_id, f"no pending alert {pending_id!r}")
        if p.proposed_by == operator:
            raise self._refuse(t, operator, pending_id, "two-person rule: the proposer cannot confirm")
        status = check_status(self.mode, self.mode.status)
        ident = f"{self.instance}.{self.partner}.manual-{pending_id[1:]}.1.0"
        env = self._alert(ident, "Alert", t, p.areas, p, [])
        del self.pending[pending_id]
        self.issued[ident] = Issued(ident, pending_id, p.proposed_by, operator, t, p.areas, status)
        rec = self._record(t, "confirm", operator, pending_id, self._auth(f"issued {ident} ({status})", auth))
        return env, rec

    def cancel(
        self, target: str, operator: str, t: float, *, auth: str = ""
    ) -> tuple[Envelope | None, AuditRecord]:
        """Withdraw a pending proposal, or cancel an issued alert (one operator)."""
        self._authorised(operator, t, target)
        if target in self.pending:
            del self.pending[target]
            return None, self._record(t, "cancel", operator, target, self._auth("proposal withdrawn", auth))
        iss = self.issued.get(target)
        if iss is None or iss.cancelled:
            raise self._refuse(t, operator, target, f"nothing to cancel under {target!r}")
        ident = target.rsplit(".", 1)[0] + ".1"
        env = self._alert(ident, "Cancel", t, iss.areas, None, [(target, iss.t)])
        self.issued[target] = Issued(**{**asdict(iss), "cancelled": True})
        return env, self._record(t, "cancel", operator, target, self._auth(f"cancelled by {ident}", auth))

    # ------------------------------------------------------------ output

    def _release(self) -> Release:
        rel = next((r for r in self.config.releases if r.partner == self.partner), None)
        return rel or Release(partner=self.partner, countries=[self.partner])

    def _alert(
        self,
        ident: str,
        msg_type: Literal["Alert", "Cancel"],
        t: float,
        codes: Sequence[str],
        p: Pending | None,
        refs: list[tuple[str, float]],
    ) -> Envelope:
        """An issued manual Alert (``p``: what was proposed) or the Cancel of one."""
        status = check_status(self.mode, self.mode.status)
        areas = [self.area(c) for c in codes]
        names: dict[Lang, list[str]] = {lang: [area_name(a, lang) for a in areas] for lang in LANGS}
        expires = t + self.config.lifecycle.default_expires_s
        manual: dict[Lang, str] | None = None
        headline: dict[Lang, str] | None = None
        instruction: Instruction = "shelter"
        langs = langs_for(self.partner)
        if p is not None:
            tpl = TEMPLATES.get(p.template) if p.template else None
            if tpl is not None:
                manual = {lg: tpl.description[lg].format(areas=area_list(names[lg], lg)) for lg in LANGS}
                headline = dict(tpl.headline)
                instruction = tpl.instruction
            else:
                manual = {lg: tx for lg, tx in p.texts if lg in LANGS}
                if not manual:  # a book saved before per-language texts
                    manual = {self.home: p.text}
            langs = tuple(lg for lg in langs if lg in manual)
        facts = Facts(
            msg_type=msg_type,
            status=status,
            area_names=names,
            instruction=instruction,
            close="manual" if msg_type == "Cancel" else None,
            onset=t,
            area_kinds=frozenset(a.kind for a in areas) or frozenset({"land"}),
            manual=manual,
            manual_headline=headline,
        )
        sender = self.config.sender_for(self._release(), live_sender(self.mode))
        cap = render_cap(
            CapMessage(
                identifier=ident,
                sender=sender,
                sent=t,
                status=status,
                msg_type=msg_type,
                facts=facts,
                areas=areas,
                onset=t if msg_type == "Alert" else None,
                expires=expires if msg_type == "Alert" else t,
                references=[CapReference(sender, i, s) for i, s in refs],
                source="tocsin manual alert (two-person rule)",
                max_polygon_points=self.config.max_polygon_points,
                languages=langs,
                extra_note=mode_note(self.mode),
            )
        )
        body = AlertBody(
            id=ident,
            t=t,
            msg_type=msg_type,
            status=status,
            tracks=[],
            areas=list(codes) if msg_type == "Alert" else [],
            onset=t if msg_type == "Alert" else None,
            expires=expires if msg_type == "Alert" else t,
            references=[i for i, _ in refs],
            cap=cap,
            closes=list(codes) if msg_type == "Cancel" else [],
            close="manual" if msg_type == "Cancel" else None,
        )
        self._seq += 1
        env = make(
            "alert", body, partner=self.partner, source=f"{self.config.source}-manual", seq=self._seq, sent=t
        )
        self.alerts.append(env)
        return env

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        from tocsin.wire import encode_json

        return {
            "format": "tocsin-manual-alerts/1",
            "instance": self.instance,
            "mode": self.mode.name,
            "status": self.mode.status,
            "n": self._n,
            "seq": self._seq,
            "totp_steps": dict(sorted(self.totp_steps.items())),
            "pending": [asdict(p) for p in self.pending.values()],
            "issued": [asdict(i) for i in self.issued.values()],
            "audit": [asdict(r) for r in self.audit],
            "alerts": [json.loads(encode_json(e)) for e in self.alerts],
        }

    def load_dict(self, d: dict[str, Any]) -> None:
        from tocsin.wire import decode_json

        if d.get("format") != "tocsin-manual-alerts/1":
            raise ConfigError("not a tocsin manual-alert book (format)")
        if d.get("status") != self.mode.status:
            raise ConfigError(
                f"this book was kept in {d.get('mode')} mode ({d.get('status')}); "
                f"it cannot be used in {self.mode.name} mode ({self.mode.status})"
            )
        try:
            self._n = int(d["n"])
            self._seq = int(d["seq"])
            self.totp_steps = {str(k): int(v) for k, v in d.get("totp_steps", {}).items()}
            if isinstance(d.get("instance"), str):
                self.instance = d["instance"]
            self.pending = {
                p["id"]: Pending(
                    **{**p, "areas": tuple(p["areas"]), "texts": tuple(tuple(x) for x in p.get("texts", ()))}
                )
                for p in d["pending"]
            }
            self.issued = {i["id"]: Issued(**{**i, "areas": tuple(i["areas"])}) for i in d["issued"]}
            self.audit = [AuditRecord(**r) for r in d["audit"]]
            self.alerts = [decode_json(json.dumps(a)) for a in d["alerts"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"manual-alert book is damaged: {exc}") from None
        self.verify()


class ManualAlertStore:
    """A :class:`ManualAlertBook` kept in a directory (``book.json``)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    @property
    def path(self) -> Path:
        return self.dir / "book.json"

    @contextmanager
    def open(self, book: ManualAlertBook) -> Iterator[ManualAlertBook]:
        """Load the book under an exclusive lock, yield it, save it (also when a
        step was refused: refusals are audited)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise ConfigError(f"{self.path}: cannot read: {exc}") from None
                book.load_dict(data)
            else:
                # a new book: its own identity, so no two books' alert ids collide
                import secrets

                book.instance = f"m{secrets.token_hex(4)}"
            try:
                yield book
            finally:
                self._save(book)

    def _save(self, book: ManualAlertBook) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".book.", suffix=".tmp", dir=self.dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(book.to_dict(), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


__all__ = [
    "TEMPLATES",
    "AuditRecord",
    "Issued",
    "ManualAlertBook",
    "ManualAlertError",
    "ManualAlertStore",
    "Pending",
    "Template",
]
