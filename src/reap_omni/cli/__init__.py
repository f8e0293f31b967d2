"""The ``reap-omni`` command line: thin commands over the library.

Each command module defines ``register(subparsers)``, adding its parsers with
``set_defaults(func=...)``; ``func(args) -> int`` returns the exit code. A ``ReapOmniError`` is printed
as one line (``reap-omni: error: ...``) with its exit code; no traceback for user mistakes. Library
warnings (retry notes of the HTTP client, ...) are printed as ``reap-omni: ...`` lines on stderr while a
command runs; a command's ``--quiet`` hides them, leaving errors only.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from reap_omni import __version__, interrupts
from reap_omni.errors import ReapOmniError
from reap_omni.fileio import storage_error

#: Command modules in help order. Each registers one or more subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "reap_omni.cli.catalog_cmds",
    "reap_omni.cli.download_cmds",
    "reap_omni.cli.report_cmds",
    "reap_omni.cli.convert_cmds",
    "reap_omni.cli.training_cmds",
    "reap_omni.cli.prune_cmds",
    "reap_omni.cli.eval_cmds",
    "reap_omni.cli.heal_cmds",
    "reap_omni.cli.docs_cmds",
)

#: Subcommand groups exposed by the seed-compatible root scripts.
CONVERT_COMMANDS = (
    "csv", "json", "folder", "merge", "split", "validate",
    "msswift", "qa-msswift", "validate-msswift", "llamafactory", "validate-llamafactory",
)


def build_parser(prog: str = "reap-omni", only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build calibration sets, convert data to training formats, and prune omni-modal MoE "
        "models with REAP-OMNI.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    if only is not None:
        _restrict(sub, set(only))
    return parser


def _restrict(sub: argparse._SubParsersAction, keep: set[str]) -> None:
    """Hide subcommands not in ``keep`` (used by the root shim scripts)."""
    for name in list(sub.choices):
        if name not in keep:
            del sub.choices[name]
    sub._choices_actions[:] = [a for a in sub._choices_actions if a.dest in keep]
    sub.metavar = "{" + ",".join(n for n in sub.choices) + "}"


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never break a command
            self.handleError(record)


def _log_handler(prog: str, quiet: bool) -> logging.Handler:
    """Show ``reap_omni`` warnings as one ``prog: ...`` line each; with ``--quiet`` only errors."""
    handler = _StderrHandler(logging.ERROR if quiet else logging.WARNING)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    logging.getLogger("reap_omni").addHandler(handler)
    return handler


def command_parser(prog: str, command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand under the name ``prog``, for a root shim that runs that command only:
    its usage line and errors read ``prog [options]``, which works as typed (not ``prog command [options]``)."""
    parser = build_parser(prog, [command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cmd = sub.choices[command]
    cmd.prog = prog
    return cmd


def run(argv: Sequence[str] | None = None, prog: str = "reap-omni", only: Sequence[str] | None = None,
        command: str | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code instead of exiting.

    ``command``: the one subcommand a root shim runs; ``argv`` then holds its options only.
    """
    parser = build_parser(prog, only) if command is None else command_parser(prog, command)
    args = parser.parse_args(argv)
    handler = _log_handler(prog, bool(getattr(args, "quiet", False)))
    try:
        with interrupts.stop_signals_interrupt():  # SIGTERM and SIGHUP end a run the way Ctrl-C does
            return int(args.func(args) or 0)
    except ReapOmniError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # before OSError, its base class
        return 141
    except OSError as exc:  # disk full, read-only, busy, no such path where no command wrapped it: still one line
        failed = storage_error(exc)
        print(f"{prog}: error: {failed if failed is not None else _os_error_line(exc)}", file=sys.stderr)
        return failed.exit_code if failed is not None else ReapOmniError.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished rows and files are kept, partial ones discarded; rerun to resume",
              file=sys.stderr)
        return interrupts.exit_code()
    finally:
        logging.getLogger("reap_omni").removeHandler(handler)


def _os_error_line(exc: OSError) -> str:
    """What the OS refused and on which path(s), e.g. ``Device or resource busy: /mnt/out -> /mnt/.out.old-1``."""
    where = " -> ".join(os.fspath(f) for f in (exc.filename, exc.filename2) if f is not None)
    return f"{exc.strerror or exc}: {where}" if where else str(exc.strerror or exc)


def main(argv: Sequence[str] | None = None, prog: str = "reap-omni", only: Sequence[str] | None = None,
         command: str | None = None) -> None:
    sys.exit(run(argv, prog, only, command))
