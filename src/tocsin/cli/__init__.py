"""The ``tocsin`` command.

Each subcommand lives in its own module of this package, which defines
``register(app)``; the modules listed in :data:`COMMAND_MODULES` that exist are
registered in that order. Heavy imports happen inside the commands, so
``tocsin --help`` stays fast.

Errors: an :class:`~tocsin.errors.InputError` (bad file, line or field) is printed
as one line on stderr with exit status 2; usage errors also exit 2 (click's rule).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys

import typer

from tocsin import __version__
from tocsin.errors import ConfigError, InputError

COMMAND_MODULES = (
    "simulate",
    "track",
    "score",
    "warn",
    "cap",
    "drill",
    "serve",
    "feed",
    "node",
    "journal",
    "replay",
    "keys",
    "alert",
    "operator",
    "deploy",
)

app = typer.Typer(
    name="tocsin",
    help=(
        "tocsin: integrated early-warning exchange for allied missile warning.\n\n"
        "Typical drill: `tocsin simulate SCENARIO -o plots.jsonl --truth truth.jsonl`, "
        "then `tocsin track`, `tocsin warn`, `tocsin score` - or all at once with "
        "`tocsin drill SCENARIO --out run/`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tocsin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """tocsin command line."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        modname = f"{__name__}.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(app)
    # the command list of `tocsin --help` shows each command's first paragraph
    # on one line (its docstring's line breaks would cut it mid-sentence)
    for info in app.registered_commands:
        doc = info.callback.__doc__ if info.callback is not None else None
        if info.short_help is None and doc:
            info.short_help = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


_register_all()


def error_line(exc: BaseException) -> str:
    """The one line printed for a user-facing error."""
    return f"tocsin: error: {exc}"


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except (InputError, ConfigError) as exc:
        print(error_line(exc), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("tocsin: interrupted", file=sys.stderr)
        sys.exit(130)
