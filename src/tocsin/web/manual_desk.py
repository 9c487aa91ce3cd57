"""The dashboard's desk for manual alerts, over the warning package's
:class:`~tocsin.warning.manual.ManualAlertBook` (the two-person rule lives there).

* **Alert**: ``propose`` puts a proposal in the book; ``confirm`` by a different
  operator issues it (:meth:`ManualAlertBook.confirm`).
* **Cancel** of an issued manual alert and **Update** (replace its areas or text)
  are proposals held here until a different operator confirms: then the book
  cancels it (Cancel), or issues the replacement and cancels the old one
  (Update — the book has no Update message, so an update goes out as the new
  Alert followed by the Cancel of the one it replaces). The book itself lets one
  operator cancel (a retraction must be quick); the dashboard asks for two here
  because a wrong Cancel of a real warning is as dangerous as a wrong Alert.
* ``withdraw``: the proposer, or a supervisor, drops a proposal (nothing issued).

The book's status comes from its mode: in an exercise (the default
:class:`~tocsin.warning.mode.DrillMode`) every manual alert is ``Exercise``.
The book is kept in ``DIR/book.json`` (:class:`ManualAlertStore`, locked), so its
own hash-chained audit trail survives restarts; the Cancel/Update proposals of
this desk are in memory.

Not thread-safe: the dashboard runs every call on the exchange's worker
(:meth:`~tocsin.web.hub.Exchange.run_exclusive`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin.wire import Envelope

if TYPE_CHECKING:
    from tocsin.warning.manual import ManualAlertBook
    from tocsin.warning.mode import Mode

MSG_TYPES = ("Alert", "Update", "Cancel")


class DeskRefusal(Exception):
    """A refused step: HTTP status, a short reason, the field at fault."""

    def __init__(self, status: int, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.field = field


@dataclass(frozen=True, slots=True)
class Change:
    """A proposed Cancel or Update of an issued manual alert."""

    id: str
    msg_type: str
    target: str
    areas: tuple[str, ...]
    text: str  # the public's own language's text (or the template's name): for display
    proposed_by: str
    t: float
    #: the new text per language (an Update), or a template's name
    texts: tuple[tuple[str, str], ...] = ()
    template: str = ""


class ManualDesk:
    """Manual Alert / Update / Cancel under the two-person rule (module doc)."""

    def __init__(self, directory: Path, mode: Mode | None = None) -> None:
        from tocsin.warning.manual import ManualAlertStore

        self.directory = Path(directory)
        self.mode = mode
        self.store = ManualAlertStore(self.directory)
        self.changes: dict[str, Change] = {}
        self._n = 0

    # ------------------------------------------------------------ the book

    def _book(self, operators: Iterable[str]) -> ManualAlertBook:
        from tocsin.warning.manual import ManualAlertBook

        return ManualAlertBook(operators, self.mode)

    @staticmethod
    def _refusal(exc: Exception) -> DeskRefusal:
        msg = str(exc)
        if "two-person" in msg:
            return DeskRefusal(403, "two_person", msg)
        if "not authorised" in msg:
            return DeskRefusal(403, "not_authorised", msg)
        if "no pending" in msg or "nothing to cancel" in msg:
            return DeskRefusal(404, "not_found", msg, "id")
        if "area" in msg:
            return DeskRefusal(422, "refused", msg, "areas")
        if "text" in msg:
            return DeskRefusal(422, "refused", msg, "text")
        return DeskRefusal(422, "refused", msg)

    def view(self, operators: Iterable[str]) -> dict[str, Any]:
        """Pending proposals (book and desk) and issued manual alerts."""
        book = self._book(operators)
        if self.store.path.exists():
            # read only: the store's writer replaces the file atomically, and
            # opening it through the store would rewrite (and fsync) it on every poll
            book.load_dict(json.loads(self.store.path.read_text(encoding="utf-8")))
        pending: list[dict[str, Any]] = [
            {
                "id": p.id,
                "msg_type": "Alert",
                "areas": list(p.areas),
                "text": p.text,
                "references": [],
                "proposed_by": p.proposed_by,
                "proposed_at": p.t,
            }
            for p in book.pending.values()
        ]
        pending.extend(
            {
                "id": c.id,
                "msg_type": c.msg_type,
                "areas": list(c.areas),
                "text": c.text,
                "references": [c.target],
                "proposed_by": c.proposed_by,
                "proposed_at": c.t,
            }
            for c in self.changes.values()
        )
        issued = [asdict(i) | {"areas": list(i.areas)} for i in book.issued.values()]
        return {"status": book.mode.status, "pending": pending, "issued": issued}

    # ------------------------------------------------------------ steps

    def propose(
        self,
        operators: Iterable[str],
        operator: str,
        msg_type: str,
        areas: Sequence[str],
        text: str | Mapping[str, str],
        references: Sequence[str],
        t: float,
        *,
        template: str | None = None,
    ) -> dict[str, Any]:
        from tocsin.warning.manual import ManualAlertError

        if msg_type not in MSG_TYPES:
            raise DeskRefusal(422, "schema", f"must be one of {', '.join(MSG_TYPES)}", "msg_type")
        book = self._book(operators)
        with self.store.open(book):
            if msg_type == "Alert":
                if references:
                    raise DeskRefusal(422, "schema", "a new Alert refers to nothing", "references")
                try:
                    p, _ = book.propose(operator, list(areas), text, t, template=template)
                except ManualAlertError as exc:
                    raise self._refusal(exc) from None
                return {"id": p.id, "msg_type": "Alert", "areas": list(p.areas), "proposed_by": operator}
            if len(references) != 1:
                raise DeskRefusal(
                    422, "schema", f"a {msg_type} refers to exactly one issued alert", "references"
                )
            target = references[0]
            iss = book.issued.get(target)
            if iss is None or iss.cancelled:
                raise DeskRefusal(
                    404, "not_found", f"no active manual alert {target!r} (only manual alerts)", "references"
                )
            if operator not in book.operators:
                raise DeskRefusal(403, "not_authorised", f"operator {operator!r} is not authorised")
            new_areas = tuple(sorted(set(areas))) if areas else iss.areas
            if msg_type == "Update":
                for c in new_areas:
                    try:
                        book.area(c)
                    except KeyError:
                        raise DeskRefusal(422, "refused", f"unknown area {c!r}", "areas") from None
                given = [text] if isinstance(text, str) else list(text.values())
                if not template and not any(" ".join(x.split()) for x in given):
                    raise DeskRefusal(422, "refused", "an Update needs its new text", "text")
        self._n += 1
        texts = {str(book.home): text} if isinstance(text, str) else dict(text)
        shown = f"template {template}" if template else " ".join(texts.get(str(book.home), "").split())
        ch = Change(
            f"C{self._n}",
            msg_type,
            target,
            new_areas,
            shown,
            operator,
            t,
            texts=tuple(sorted((k, " ".join(v.split())) for k, v in texts.items() if v.strip())),
            template=template or "",
        )
        self.changes[ch.id] = ch
        return {"id": ch.id, "msg_type": msg_type, "areas": list(ch.areas), "proposed_by": operator}

    def confirm(self, operators: Iterable[str], pending_id: str, operator: str, t: float) -> list[Envelope]:
        """Issue what ``pending_id`` proposes; the alerts to send, in order."""
        from tocsin.warning.manual import ManualAlertError

        book = self._book(operators)
        with self.store.open(book):
            try:
                if pending_id in self.changes:
                    ch = self.changes[pending_id]
                    if operator not in book.operators:
                        raise DeskRefusal(403, "not_authorised", f"operator {operator!r} is not authorised")
                    if ch.proposed_by == operator:
                        raise DeskRefusal(403, "two_person", "two-person rule: the proposer cannot confirm")
                    out: list[Envelope] = []
                    if ch.msg_type == "Update":
                        p, _ = book.propose(
                            ch.proposed_by, list(ch.areas), dict(ch.texts), t, template=ch.template or None
                        )
                        env, _ = book.confirm(p.id, operator, t)
                        out.append(env)
                    cancel, _ = book.cancel(ch.target, operator, t)
                    if cancel is not None:
                        out.append(cancel)
                    del self.changes[pending_id]
                    return out
                env, _ = book.confirm(pending_id, operator, t)
                return [env]
            except ManualAlertError as exc:
                raise self._refusal(exc) from None

    def withdraw(
        self, operators: Iterable[str], pending_id: str, operator: str, supervisor: bool, t: float
    ) -> None:
        from tocsin.warning.manual import ManualAlertError

        if pending_id in self.changes:
            ch = self.changes[pending_id]
            if ch.proposed_by != operator and not supervisor:
                raise DeskRefusal(403, "role", "only the proposer or a supervisor may withdraw it")
            del self.changes[pending_id]
            return
        book = self._book(operators)
        with self.store.open(book):
            p = book.pending.get(pending_id)
            if p is None:
                raise DeskRefusal(404, "not_found", f"no pending alert {pending_id!r}", "id")
            if p.proposed_by != operator and not supervisor:
                raise DeskRefusal(403, "role", "only the proposer or a supervisor may withdraw it")
            try:
                book.cancel(pending_id, operator, t)
            except ManualAlertError as exc:
                raise self._refusal(exc) from None


__all__ = ["MSG_TYPES", "Change", "DeskRefusal", "ManualDesk"]
