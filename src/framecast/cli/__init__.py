"""The `framecast` command line.

One module per subcommand, each thin: parse, call the library, render. Modules import only typer and the
standard library at the top so that `framecast --help` answers at once and never imports torch.
"""

from __future__ import annotations

import sys

import typer

from framecast._version import __version__

app = typer.Typer(
    name="framecast",
    help="Predict the next frames of a video: download data, explore it, train, evaluate, predict, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"framecast {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Predict the next frames of a video: download data, explore it, train, evaluate, predict, compare.

    Results go to stdout (tables, or one JSON document with --json); progress and errors go to stderr.
    Set FRAMECAST_HOME to keep everything in one folder, FRAMECAST_OFFLINE=1 to forbid the network,
    FRAMECAST_DEBUG=1 to see tracebacks.
    """


def _register() -> None:
    from framecast.cli import (
        compare,
        download,
        eda,
        evaluate,
        import_,
        info,
        models,
        predict,
        render,
        runs,
        train,
    )

    for module in (download, eda, train, evaluate, predict, compare, render, import_, models, runs, info):
        module.register(app)


_register()


def _optional_value(args: list[str], option: str, implied: str) -> list[str]:
    """Let `option` stand alone (`--resume`) or take a value (`--resume RUN`): typer options need a value."""
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == option and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(implied)
    return out


def run(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` and return the exit code, applying the error contract.

    Known errors print `Error:` and `Hint:` lines on stderr; bad usage exits 2, failures 1, Ctrl-C 130.
    FRAMECAST_DEBUG=1 re-raises unknown errors with their traceback.
    """
    from framecast import paths
    from framecast.cli import _output
    from framecast.errors import FramecastError

    args = _optional_value(sys.argv[1:] if argv is None else list(argv), "--resume", "latest")
    _output.install_log_handler()
    try:
        result = app(args=args, prog_name="framecast", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except FramecastError as exc:
        if paths.debug():
            import traceback

            traceback.print_exc()
        _output.err().print(f"[bold red]Error:[/] {exc.message}", highlight=False)
        if exc.hint:
            _output.err().print(f"[bold]Hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _output.err().print("[bold red]Error:[/] interrupted", highlight=False)
        return 130
    except BrokenPipeError:  # `framecast ... | head`
        return 0
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # typer's usage errors: bad option, missing arg
            exc.show(file=sys.stderr)
            return exc.exit_code
        if paths.debug():
            raise
        _output.err().print(f"[bold red]Error:[/] {type(exc).__name__}: {exc}", highlight=False)
        _output.err().print(
            "[bold]Hint:[/] this is a bug in framecast; run again with FRAMECAST_DEBUG=1 for the traceback "
            "and report it",
            highlight=False,
        )
        return 1


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `framecast` script."""
    sys.exit(run(argv))
