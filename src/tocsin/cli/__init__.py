"""The ``tocsin`` command.

Each subcommand lives in its own module of this package, which defines
``register(app)``; the modules listed in :data:`COMMAND_MODULES` that exist are
registered in that order. Heavy imports happen inside the commands, so
``tocsin --help`` stays fast.

Errors: an :class:`~tocsin.errors.InputError` (bad file, line or field) and a
usage error (a missing argument or option, an unknown option, a value of the
wrong type) are printed as one line on stderr, ``tocsin: error: ...``, with exit
status 2; no traceback, no box.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys

import typer

# typer (pinned >= 0.29 in pyproject) carries its own copy of click; its usage
# errors are caught here to print them in tocsin's one-line style
# (tests/cli/test_usage_errors.py fails if an upgrade moves them)
from typer._click import Context
from typer._click import exceptions as click_exc
from typer.core import TyperOption

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
    "health",
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

_display_type_rich = TyperOption.display_type_rich


def _flag_display_type(self: TyperOption, ctx: Context) -> str | None:
    """A flag takes no value, so its help row shows no ``<bool>`` type."""
    if self.is_flag:
        return None
    return _display_type_rich(self, ctx)


# Typer shows every option's Python type in the help; for flags that reads as if
# they took a value (``--restamp <bool>``). Applied once, here, for every command.
TyperOption.display_type_rich = _flag_display_type  # type: ignore[method-assign]


def error_line(exc: BaseException) -> str:
    """The one line printed for a user-facing error."""
    return f"tocsin: error: {exc}"


def usage_error_line(exc: click_exc.UsageError) -> str:
    """One line for a usage error, with where to look for help."""
    msg = " ".join(exc.format_message().split())
    where = exc.ctx.command_path if exc.ctx is not None else "tocsin"
    return f"tocsin: error: {msg} (see '{where} --help')"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rv = app(args=args, prog_name="tocsin", standalone_mode=False)
    except (InputError, ConfigError) as exc:
        print(error_line(exc), file=sys.stderr)
        sys.exit(2)
    except click_exc.NoArgsIsHelpError as exc:
        # `tocsin` or `tocsin drill` alone: the help, as asked for by no_args_is_help
        if exc.ctx is not None:
            print(exc.ctx.get_help())
        sys.exit(2 if exc.ctx is not None and exc.ctx.parent is not None else 0)
    except click_exc.UsageError as exc:
        print(usage_error_line(exc), file=sys.stderr)
        sys.exit(2)
    except click_exc.ClickException as exc:
        print(f"tocsin: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("tocsin: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
