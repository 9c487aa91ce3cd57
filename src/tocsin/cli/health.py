"""``tocsin health``: is a running exchange healthy? (for service managers).

Asks ``GET /healthz`` of a ``tocsin serve`` and prints one line. Exit status 0
when it answers ``status: ok`` (its worker runs) within the timeout and, if
given, its queue is no deeper than ``--max-queue``; 1 otherwise (down, stuck,
unreachable, or not a tocsin server). systemd (``deploy/systemd``) and the
container recipe (``deploy/container``) run it; so does ``benchmarks/soak.py``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import typer

from tocsin.errors import InputError


def check(url: str, timeout: float = 5.0, max_queue: int | None = None) -> tuple[bool, str]:
    """``(healthy, one line)`` for the exchange at ``url`` (its base URL)."""
    target = url.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # http(s) only: checked by the caller
            body = resp.read(1 << 20)
    except urllib.error.HTTPError as exc:
        body = exc.read(1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"unreachable: {target}: {reason}"
    try:
        doc = json.loads(body)
        status = str(doc["status"])
    except (ValueError, KeyError, TypeError):
        return False, f"not a tocsin health answer: {target}"
    queue = doc.get("queue")
    journal = doc.get("journal") or {}
    facts = (
        f"status {status}, mode {doc.get('mode')}, queue {queue}, journal entries {journal.get('entries')}"
    )
    if status != "ok":
        return False, f"unhealthy: {target}: {facts}"
    if max_queue is not None and isinstance(queue, int) and queue > max_queue:
        return False, f"unhealthy: {target}: queue {queue} > {max_queue} ({facts})"
    return True, f"ok: {target}: {facts}"


def register(app: typer.Typer) -> None:
    @app.command("health")
    def health(
        url: str = typer.Option("http://127.0.0.1:8080", "--url", help="Base URL of the tocsin serve."),
        timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to wait for the answer."),
        max_queue: int | None = typer.Option(
            None, "--max-queue", min=0, help="Also unhealthy when more batches than this wait in its queue."
        ),
    ) -> None:
        """Check a running exchange's /healthz: exit 0 healthy, 1 not (for systemd and containers).

        Examples:

            tocsin health --url http://127.0.0.1:8080

            tocsin health --url http://127.0.0.1:8080 --max-queue 200 --timeout 3
        """
        if not url.startswith(("http://", "https://")):
            raise InputError("must start with http:// or https://", field="--url")
        ok, line = check(url, timeout, max_queue)
        typer.echo(line, err=not ok)
        if not ok:
            raise typer.Exit(1)
