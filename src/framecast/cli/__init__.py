"""The `framecast` command line.

One module per subcommand, each thin: parse, call the library, render. Modules import only typer and the
standard library at the top so that `framecast --help` answers at once and never imports torch.
"""

from __future__ import annotations

import contextlib
import signal
import sys

_running = False


def _terminate(signum, frame):
    """SIGTERM (what schedulers, `kill` and service managers send) ends a command as Ctrl-C does: exit 130 and
    one line, after what can be saved is saved. Installed before anything heavy is imported, so a command
    terminated while starting up ends the same way (there is nothing to save yet: it ends at once).

    An import is never interrupted by an exception: some libraries swallow it there (the command would then run
    on as if never told to stop) and others are left half-initialised (numpy refuses to load twice). Nothing of
    the user's is open inside an import, so the process ends at once then too."""
    if not _running or _inside_import(frame):
        _exit_interrupted()
    raise KeyboardInterrupt


def _inside_import(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _exit_interrupted(*, reported: bool = False) -> None:
    """End with 130 now (printing the one line unless the command `reported` it), skipping the interpreter's
    shutdown: once a command has been interrupted, a second signal during shutdown must not turn the outcome into
    a traceback or another code."""
    import os

    with contextlib.suppress(OSError, ValueError):  # a closed stream must not stop the exit
        if not reported:
            sys.stderr.write("Error: interrupted\n")
        sys.stderr.flush()
    os._exit(130)


if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _terminate)

import typer  # noqa: E402  (after the handler: importing takes a noticeable part of a second)

from framecast._version import __version__  # noqa: E402

COMMANDS = (
    "download",
    "eda",
    "train",
    "eval",
    "predict",
    "compare",
    "render-gif",
    "models",
    "runs",
    "info",
    "import",
    "ui",
)

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
        ui,
    )

    for module in (download, eda, train, evaluate, predict, compare, render, import_, models, runs, info, ui):
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

    global _running
    args = _optional_value(sys.argv[1:] if argv is None else list(argv), "--resume", "latest")
    _output.install_log_handler()
    _running = True
    try:
        result = app(args=args, prog_name="framecast", standalone_mode=False)
        if result == 130:  # typer turns a Ctrl-C (or our SIGTERM) inside a command into a return of 130
            return _report("interrupted", None, 130)
        return int(result) if isinstance(result, int) else 0
    except FramecastError as exc:
        if paths.debug():
            import traceback

            traceback.print_exc()
        return _report(exc.message, exc.hint or _help_hint(args), exc.exit_code)
    except typer.Exit as exc:
        if exc.exit_code == 130:  # typer turns a Ctrl-C (or our SIGTERM) inside a command into Exit(130)
            return _report("interrupted", None, 130)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _report("interrupted", None, 130)
    except BrokenPipeError:  # `framecast ... | head`
        return 0
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click's usage errors
            return _usage_error(exc, args)
        if isinstance(exc, OSError) and exc.errno is not None and not paths.debug():
            return _os_error(exc)
        if paths.debug():
            raise
        return _report(
            f"{type(exc).__name__}: {exc}",
            "this is a bug in framecast; run again with FRAMECAST_DEBUG=1 for the traceback and report it",
            1,
        )
    finally:
        _running = False  # from here a signal ends the process at once: nothing is left to save


def _report(message: str, hint: str | None, code: int) -> int:
    """The error contract: `Error: ...` and `Hint: ...`, the message printed literally (a path holding `[/]` is a
    path, not markup), and the exit code."""
    from framecast.cli import _output

    _output.err().print(f"[bold red]Error:[/] {_output.escape(message)}", highlight=False)
    if hint:
        _output.err().print(f"[bold]Hint:[/] {_output.escape(hint)}", highlight=False)
    return code


def _help_hint(args: list[str]) -> str:
    command = next((a for a in args if not a.startswith("-")), None)
    where = f"framecast {command} --help" if command in COMMANDS else "framecast --help"
    return f"see `{where}` for the options and their ranges"


def _usage_error(exc, args: list[str]) -> int:
    """A bad option or argument (out of range, missing, unknown) in the same two lines as every other error."""
    return _report(exc.format_message(), _help_hint(args), exc.exit_code)


def _os_error(exc: OSError) -> int:
    """A file the user named (or the data folder) that cannot be read or written: name it, say what to do."""
    import errno
    import re

    # a write goes through a temporary name beside its target (.out.gif.k3j2.tmp.gif): name the target
    what = re.sub(r"/\.([^/]+)\.[^./]+\.tmp[^/]*$", r"/\1", str(exc.filename)) if exc.filename else "a file"
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "not permitted (is it read-only or immutable?)",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.ENOENT: "no such file or folder",
    }
    reason = reasons.get(exc.errno, exc.strerror or str(exc))
    return _report(
        f"cannot use {what}: {reason}",
        "check the path and its permissions, or set FRAMECAST_HOME to a folder you can write",
        1,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `framecast` script."""
    try:
        code = run(argv)
    except KeyboardInterrupt:  # one that arrived while the outcome was being reported
        _exit_interrupted()
    if code == 130:  # reported already: end with 130, skipping a shutdown that another signal could disturb
        import logging

        logging.shutdown()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        _exit_interrupted(reported=True)
    sys.exit(code)
